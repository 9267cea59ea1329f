/* One vtable for every backend (sealed, and later vault and cloud stores).
 * fetch() is asynchronous: the callback runs once, possibly before fetch() returns
 * (local stores) or later from the event loop (network stores). */
#ifndef LB_STORE_H
#define LB_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "loop.h"
#include "secmem.h"
#include "uri.h"

typedef struct lb_store lb_store;

typedef struct lb_fetch_result {
	int status;	   /* 0 ok, else the fetch failed and error says why */
	lb_secbuf *value;  /* the secret; owned by the result */
	bool structured;   /* value is a JSON object of fields */
	char version[64];  /* store's version id of what was read */
	int64_t not_after; /* Unix seconds, 0 = no lease */
	/* status 0 without a value: the target's current file of this source is still good
	 * (e.g. a lease renewed after a broker restart, whose value Vault cannot give back);
	 * the broker keeps it, with this not_after. */
	bool keep;
	char error[512]; /* no secret bytes */
} lb_fetch_result;

typedef void (*lb_fetch_cb)(void *ctx, lb_fetch_result *res);

typedef struct lb_store_env {
	lb_loop *loop;
	int state_dirfd;
	struct lb_http *http; /* shared HTTP client on the loop */
	/* Ask the broker to refresh one target now (a lease is due to rotate, or was
	 * renewed and its not_after moved). */
	void (*request_refresh)(void *owner, const char *target);
	void *owner;
} lb_store_env;

typedef struct lb_store_ops {
	const char *type;
	/* Leased stores hand each target its own lease: the broker then fetches a source once
	 * per (source, target) and the store coalesces what it can share (e.g. KV reads). */
	bool per_target;
	int (*open)(lb_store *s, lb_err *e);
	/* target: the target the value is for (leases are per target). */
	void (*fetch)(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		      void *ctx);
	/* The target is gone: revoke its leases. Optional. */
	void (*release)(lb_store *s, const char *target);
	/* {"health":"ok"|"degraded"|..., ...}; optional. */
	json_t *(*health)(lb_store *s);
	void (*close)(lb_store *s);
} lb_store_ops;

/* Contract for store implementations:
 * - open() copies what it needs from cfg->opts: on reload an unchanged store is kept and
 *   its cfg pointer moves to the new config; the old one is freed.
 * - the fetch callback gets a result valid only during the call (the broker copies it).
 * - close() completes every outstanding fetch (callback with status -1, "store closed")
 *   before it returns, and never revokes leases: targets outlive a broker restart.
 * - nothing a store logs, audits or persists may contain secret bytes. */
struct lb_store {
	const lb_store_ops *ops;
	char name[64];
	const lb_store_cfg *cfg;
	lb_store_env env;
	void *priv;
};

lb_store *lb_store_open(const lb_store_cfg *cfg, const lb_store_env *env, lb_err *e);
/* The vtable of a store type (NULL: no such type). */
const lb_store_ops *lb_store_ops_of(const char *type);
void lb_store_close(lb_store *s);
void lb_store_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		    void *ctx);
void lb_store_release(lb_store *s, const char *target);
json_t *lb_store_health(lb_store *s);
void lb_fetch_result_clear(lb_fetch_result *r);

/* Apply #field (or the one-field rule) to a fetched value; out is a new buffer. */
int lb_store_select_field(const lb_fetch_result *r, const lb_source *src, lb_secbuf **out,
			  lb_err *e);

extern const lb_store_ops lb_sealed_ops;
extern const lb_store_ops lb_vault_ops;
extern const lb_store_ops lb_aws_sm_ops, lb_aws_ssm_ops, lb_gcp_sm_ops, lb_azure_kv_ops;

#endif
