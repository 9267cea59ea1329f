/* AWS Signature Version 4 (AWS4-HMAC-SHA256, Authorization header form) for the AWS stores.
 * Pure computation: no I/O, no clock. The caller builds the request, signs it, then adds the
 * headers in lb_sigv4_signed.add to what it hands to lb_http. */
#ifndef LB_SIGV4_H
#define LB_SIGV4_H

#include <stddef.h>
#include <time.h>
#include "err.h"
#include "secmem.h"

/* Bounds on every input; anything beyond is refused with a message naming the field. */
#define LB_SIGV4_MAX_METHOD	  16
#define LB_SIGV4_MAX_PATH	  4096
#define LB_SIGV4_MAX_QUERY	  8192
#define LB_SIGV4_MAX_QUERY_PARAMS 128
#define LB_SIGV4_MAX_HEADERS	  64
#define LB_SIGV4_MAX_HEADER_NAME  128
#define LB_SIGV4_MAX_HEADER_VALUE 8192
#define LB_SIGV4_MAX_SCOPE_PART	  64 /* region, service */
#define LB_SIGV4_MAX_KEY_ID	  128
#define LB_SIGV4_MAX_SECRET_KEY	  256
#define LB_SIGV4_MAX_TOKEN	  8192
#define LB_SIGV4_MAX_CANONICAL	  65536 /* the whole canonical request */

#define LB_SIGV4_HEX_SIZE  65 /* 64 lowercase hex digits + NUL */
#define LB_SIGV4_DATE_SIZE 17 /* YYYYMMDDTHHMMSSZ + NUL */

enum lb_sigv4_flags {
	/* Keep "." / ".." / empty path segments as they are (the suite's "normalize": false). */
	LB_SIGV4_NO_PATH_NORMALIZE = 1u << 0,
	/* Use the (already encoded) path as it is instead of encoding it a second time. */
	LB_SIGV4_NO_PATH_ENCODE = 1u << 1,
	/* S3 signs the path exactly as sent; every other service normalises and double-encodes. */
	LB_SIGV4_S3 = LB_SIGV4_NO_PATH_NORMALIZE | LB_SIGV4_NO_PATH_ENCODE,
	/* Add and sign x-amz-content-sha256 (S3 wants it; the suite's "sign_body"). */
	LB_SIGV4_CONTENT_SHA256 = 1u << 2,
	/* Send X-Amz-Security-Token without signing it (a few services; "omit_session_token"). */
	LB_SIGV4_UNSIGNED_TOKEN = 1u << 3,
};

typedef struct lb_sigv4_header {
	const char *name;
	const char *value;
} lb_sigv4_header;

typedef struct lb_sigv4_creds {
	const char *access_key_id;	    /* [A-Za-z0-9]+ */
	const lb_secbuf *secret_access_key; /* never copied out of secure memory */
	const char *session_token;	    /* NULL or "" without one */
} lb_sigv4_creds;

typedef struct lb_sigv4_request {
	const char *method; /* "GET", "POST" */
	/* The path as it goes on the wire (percent-encoded once, starting with '/'). Unless
	 * LB_SIGV4_NO_PATH_ENCODE it is encoded again for the canonical request, so a raw path
	 * ("/a b") yields "/a%20b" and an encoded one ("/a%20b") yields "/a%2520b". */
	const char *path;
	/* Without the '?'; NULL or "" for none. Raw or percent-encoded: each key and value is
	 * decoded and re-encoded (RFC 3986 unreserved kept, '+' is a literal plus). */
	const char *query;
	/* The headers to sign, Host included (required); names are HTTP tokens, values have no
	 * control characters but HTAB. Repeated names are joined with ',' in the given order.
	 * Authorization, X-Amz-Date, X-Amz-Security-Token, x-amz-content-sha256: the signer's. */
	const lb_sigv4_header *headers;
	size_t nheaders;
	const void *payload; /* may be NULL when payload_len is 0 */
	size_t payload_len;
	/* NULL: SHA-256 of payload. Else 64 lowercase hex digits or "UNSIGNED-PAYLOAD". */
	const char *payload_hash;
	const char *region;    /* [a-z0-9-]+, e.g. "eu-west-1" */
	const char *service;   /* [a-z0-9-]+, the signing name, e.g. "secretsmanager" */
	const char *timestamp; /* YYYYMMDDTHHMMSSZ (UTC), see lb_sigv4_timestamp */
	const lb_sigv4_creds *creds;
	unsigned flags; /* enum lb_sigv4_flags */
} lb_sigv4_request;

typedef struct lb_sigv4_signed {
	char *canonical_request; /* may hold the session token: freed zeroed */
	char *string_to_sign;
	char *signed_headers; /* "host;x-amz-date" */
	char *authorization;  /* the Authorization header value */
	char signature[LB_SIGV4_HEX_SIZE];
	/* Headers to add to the request, in this order: X-Amz-Security-Token (with a token),
	 * X-Amz-Date, x-amz-content-sha256 (LB_SIGV4_CONTENT_SHA256), Authorization. The
	 * strings are owned by this struct. */
	lb_sigv4_header add[4];
	size_t nadd;
} lb_sigv4_signed;

/* Each step on its own (for tests and diagnostics); *out strings are malloc'd. */
int lb_sigv4_canonical_request(const lb_sigv4_request *req, char **out, char **signed_headers,
			       lb_err *e);
int lb_sigv4_string_to_sign(const lb_sigv4_request *req, const char *canonical_request, char **out,
			    lb_err *e);
int lb_sigv4_signature(const lb_sigv4_request *req, const char *string_to_sign,
		       char sig[LB_SIGV4_HEX_SIZE], lb_err *e);
int lb_sigv4_authorization(const lb_sigv4_request *req, const char *signed_headers,
			   const char *signature, char **out, lb_err *e);

/* All steps; on failure *out is left empty. Release with lb_sigv4_signed_clear. */
int lb_sigv4_sign(const lb_sigv4_request *req, lb_sigv4_signed *out, lb_err *e);
void lb_sigv4_signed_clear(lb_sigv4_signed *s);

/* Format t (seconds since the epoch) as YYYYMMDDTHHMMSSZ. */
int lb_sigv4_timestamp(time_t t, char out[LB_SIGV4_DATE_SIZE], lb_err *e);

#endif
