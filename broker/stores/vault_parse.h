/* Vault reply parsing: everything the vault store reads out of a server's reply, separate
 * from the requests and timers so that a fuzz harness (tests/fuzz/fuzz_vault_json.c) can
 * reach it. Internal to the vault store. Nothing here logs; error texts name no secret. */
#ifndef LB_VAULT_PARSE_H
#define LB_VAULT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"
#include "secmem.h"

enum lb_vault_kind { LB_VAULT_OK, LB_VAULT_ERR, LB_VAULT_FAULT };

typedef struct lb_vault_reply {
	enum lb_vault_kind kind;
	long status;
	json_t *json; /* the body if it is a JSON object, else NULL; owned */
	char err[400];
} lb_vault_reply;

/* Classify a complete HTTP reply: 2xx with a JSON object (or no body) is OK; 429 and 5xx,
 * and a 2xx body that is not JSON, are faults (the store backs off); anything else is an
 * error with Vault's "errors" as text. */
void lb_vault_reply_parse(lb_vault_reply *r, long status, const unsigned char *body, size_t len);

/* Vault's {"errors":[...]} as one printable line. go-multierror text ("2 errors
 * occurred:\n\t* permission denied\n\t* invalid token\n\n") becomes "permission denied,
 * invalid token". */
void lb_vault_errors(json_t *j, char *buf, size_t cap);

/* sys/internal/ui/mounts/ASKED: the mount's path relative to ASKED (a namespace prefix is
 * dropped), whether it is KV and its version. -1 when the reply has no data object. */
int lb_vault_mount_parse(json_t *reply, const char *asked, char *mpath, size_t cap, bool *kv,
			 int *version);

/* A KV read (kv_version 1 or 2) of VPATH, pinned to version PINNED ("" = latest). On
 * success *value is the data object as compact JSON and version the v2 version number
 * ("" for v1, which has none). On failure err says why (deleted, destroyed, not found,
 * refused). */
int lb_vault_kv_parse(const lb_vault_reply *r, int kv_version, const char *pinned,
		      const char *vpath, lb_secbuf **value, char *version, size_t vcap, lb_err *e);

/* A leased read (database/creds/ROLE...): the data object, lease id, duration, renewable. */
int lb_vault_lease_parse(const lb_vault_reply *r, const char *path, lb_secbuf **value, char *id,
			 size_t idcap, int64_t *duration, bool *renewable, lb_err *e);

/* A login: auth.client_token (into *token), lease_duration, renewable. */
int lb_vault_login_parse(json_t *reply, lb_secbuf **token, int64_t *ttl, bool *renewable);

/* pki/issue/ROLE (vault_pki_parse.c): one JSON object of fields (certificate,
 * private_key, private_key_type, issuing_ca, ca_chain, bundle = certificate + chain + key,
 * serial_number, expiration), the serial (hex and ':' only) and the expiry (Unix s). */
int lb_vault_pki_parse(const lb_vault_reply *r, lb_secbuf **value, char *serial, size_t scap,
		       int64_t *not_after, lb_err *e);

/* Compact JSON of j in a secure buffer (NULL when j cannot be encoded or out of memory). */
lb_secbuf *lb_vault_secbuf_from_json(json_t *j);

#endif
