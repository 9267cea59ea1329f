/* The one network-store engine. Vault, AWS, GCP and Azure are providers of it: they say how
 * to get credentials, how to turn a request into HTTP, what a reply means and how to read
 * a value out of it; the engine does the rest, once:
 * - coalesced reads: every fetch of one (path, version) that arrives while a read is under
 *   way joins it (the key includes the target when the provider asks for it);
 * - the credential lifecycle: fresh / refreshing, requests queued while authenticating,
 *   "refused -> refresh -> replay once" with a generation so that replies of one old
 *   credential drop it only once;
 * - the request pipeline: backoff gate (core/backoff: one probe after a run of faults,
 *   replies of one batch count once) -> credential gate -> provider prepares the HTTP
 *   request -> core/http -> provider classifies the reply (ok / refresh-and-replay / fault /
 *   final) -> provider parses;
 * - faults logged and audited (store_error) once, with the wait they start;
 * - close completes every waiter; base health JSON;
 * - no synchronous re-entry: fetch() and lb_nst_call_start() never call back before they
 *   return; their work runs from the loop (a zero-delay timer).
 * Everything a provider and the engine say to each other is in this header: the one
 * interface a privilege-separated worker (issue 15) carries. */
#ifndef LB_NETSTORE_H
#define LB_NETSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"
#include "http.h"
#include "secmem.h"
#include "store.h"

typedef struct lb_nst lb_nst;
typedef struct lb_nst_waiter lb_nst_waiter;

/* How a request uses the store's credential. */
enum lb_nst_cred {
	LB_NST_CRED,	/* needs a fresh one (waits while authenticating); refused: replay once */
	LB_NST_NOCRED,	/* none (logins, metadata) */
	LB_NST_RAWCRED, /* the current one even while authenticating; never replayed */
};

/* What a reply means (the provider's classify decides). */
enum lb_nst_verdict {
	LB_NST_OK,	/* success: ends a run of faults */
	LB_NST_FINAL,	/* a definite answer (not found, denied): no backoff, no retry */
	LB_NST_FAULT,	/* throttled, server or transport fault: the store backs off */
	LB_NST_REFRESH, /* the credential was refused: get a new one and send once more */
};

/* One request. The provider fills it for lb_nst_call_start (or read_request); the engine
 * owns it from then on. */
typedef struct lb_nst_req {
	char method[8];
	char path[1024];      /* provider-defined: what prepare() turns into a URL */
	char what[600];	      /* for logs and last_error: "GET secret/data/web" */
	char audit_path[600]; /* the audit's "path" ("" = what) */
	enum lb_nst_cred cred;
	/* A credential request (login, token): its success ends only a run of credential
	 * faults (not one of the secrets API), its fault is a credential fault. */
	bool auth;
	lb_secbuf *body;  /* owned; NULL = none */
	lb_secbuf *xcred; /* owned; a credential other than the store's (Vault unwrap) */
	unsigned flags;	  /* provider-defined */
} lb_nst_req;

/* The HTTP form of a request, filled by the provider's prepare(). Header lines are secure
 * buffers (they carry credentials); the engine frees them. opts starts with the store's TLS
 * files, a 10 s timeout and a 1 MiB reply cap; url and headers are set by the engine from
 * the fields below. */
#define LB_NST_MAX_HEADERS 12
typedef struct lb_nst_http {
	lb_http_opts opts;
	char url[2048];
	lb_secbuf *hdr[LB_NST_MAX_HEADERS];
	size_t nhdr;
	lb_secbuf *body; /* a body prepare() built (e.g. signed); freed by the engine */
} lb_nst_http;

/* Add "Name: value" (value may be a secret). -1 when out of room or memory. */
int lb_nst_http_header(lb_nst_http *h, const char *name, const void *value, size_t len);
/* Add a whole "Name: value" line. */
int lb_nst_http_header_line(lb_nst_http *h, const char *line);

/* A classified reply, handed to the call's callback (valid during the call only). */
typedef struct lb_nst_reply {
	enum lb_nst_verdict verdict;
	long status;	       /* 0 without a response */
	long retry_after_s;    /* -1 when absent */
	json_t *json;	       /* the body as a JSON object, or NULL (owned by the engine) */
	const lb_secbuf *body; /* raw body, or NULL */
	bool drop_cred;	       /* the credential was refused: get a new one next time */
	bool replayed;	       /* this was the replay after a refused credential */
	unsigned cred_gen;     /* the credential generation it was sent with (0: not sent) */
	lb_err err;	       /* why, when not OK; no secret bytes */
} lb_nst_reply;

typedef void (*lb_nst_call_cb)(lb_nst *ns, void *ctx, const lb_nst_reply *r);

typedef struct lb_nst_provider {
	/* "vault": names the store in every message; NULL: the store's type (one provider
	 * for aws-sm and aws-ssm). */
	const char *kind;
	/* Health while there is no credential yet ("authenticating"). */
	const char *unauth_health;
	/* Reads are per (path, version, target) instead of (path, version). */
	bool read_per_target;
	/* Start getting a credential; end with lb_nst_cred_ok or lb_nst_cred_fail (may be
	 * called before this returns). */
	void (*authenticate)(lb_nst *ns);
	/* The credential was refused (optional): forget it. */
	void (*cred_drop)(lb_nst *ns);
	/* The HTTP request for req. -1 with e: the call fails (final). */
	int (*prepare)(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e);
	/* What a reply means; fills r (verdict, json, err, drop_cred). resp->curl_code != 0
	 * (no reply) is classified by the engine as a fault and never reaches this. */
	void (*classify)(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			 lb_nst_reply *r);
	/* Route a fetch (optional; default: lb_nst_read_join). */
	void (*fetch)(lb_nst *ns, lb_nst_waiter *w);
	/* The request that reads src (for coalesced reads). -1 with e: the waiters fail. */
	int (*read_request)(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			    lb_err *e);
	/* A read's reply (any verdict) to a result; -1 with e: the waiters fail with it. */
	int (*read_parse)(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			  lb_fetch_result *res, lb_err *e);
	void (*release)(lb_nst *ns, const char *target); /* optional */
	json_t *(*health)(lb_nst *ns);			 /* fields added to the base; optional */
	/* Closing (optional): fail every waiter the provider holds (lb_nst_waitq_fail), stop
	 * timers. No engine callback of this store runs afterwards. */
	void (*close)(lb_nst *ns);
	void (*free)(void *data); /* the provider's data */
} lb_nst_provider;

typedef struct lb_nst_tls {
	const char *ca_file, *ca_dir, *client_cert, *client_key;
} lb_nst_tls;

/* Sets s->priv. On failure free(data) has run. */
int lb_nst_open(lb_store *s, const lb_nst_provider *p, void *data, const lb_nst_tls *tls,
		lb_err *e);
void *lb_nst_data(lb_nst *ns);
lb_store *lb_nst_store(lb_nst *ns);
const char *lb_nst_name(lb_nst *ns);
const char *lb_nst_kind(lb_nst *ns);

/* lb_store_ops entry points of every network store. */
void lb_nst_store_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
			void *ctx);
void lb_nst_store_release(lb_store *s, const char *target);
json_t *lb_nst_store_health(lb_store *s);
void lb_nst_store_close(lb_store *s);

/* --- requests --- */

/* Send req through the pipeline; cb runs once, from the loop, never before this returns.
 * A closing store, or lb_nst_call_cancel, drops calls without calling back. */
void lb_nst_call_start(lb_nst *ns, const lb_nst_req *req, lb_nst_call_cb cb, void *ctx);
/* Drop every call whose ctx is ctx, without callbacks. */
void lb_nst_call_cancel(lb_nst *ns, void *ctx);
/* ms until requests may go again (0 = now): for timers that retry after a fault. */
uint64_t lb_nst_backoff_wait_ms(lb_nst *ns);
bool lb_nst_closing(lb_nst *ns);

/* --- credentials --- */

/* A credential is ready; it is fresh until refresh_at (Unix s, 0 = no end). new_cred:
 * a different credential than before (generation moves). Sends the queued requests. */
void lb_nst_cred_ok(lb_nst *ns, int64_t refresh_at, bool new_cred);
/* Getting a credential failed: the queued requests fail with "<for_waiters>". count: a
 * fault (logged, audited, backed off) as "<what>: <reason>". */
void lb_nst_cred_fail(lb_nst *ns, bool count, long retry_after_s, const char *what,
		      const char *reason, const char *for_waiters);
/* Get a new credential now (e.g. a token that can no longer be renewed). */
void lb_nst_cred_refresh(lb_nst *ns);
bool lb_nst_cred_have(lb_nst *ns);  /* a credential, fresh or not */
bool lb_nst_cred_fresh(lb_nst *ns); /* usable now */
bool lb_nst_cred_busy(lb_nst *ns);  /* authenticating */
/* Moves at each lb_nst_cred_ok(new_cred): which credential a reply was sent with. */
unsigned lb_nst_cred_gen(lb_nst *ns);

/* --- waiters: one fetch the broker waits for --- */

const lb_source *lb_nst_waiter_src(const lb_nst_waiter *w);
const char *lb_nst_waiter_target(const lb_nst_waiter *w);
/* Answer and free w. The result is valid during the callback only. */
void lb_nst_waiter_reply(lb_nst_waiter *w, lb_fetch_result *res);
void lb_nst_waiter_fail(lb_nst *ns, lb_nst_waiter *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A FIFO of waiters a provider holds (a lookup they wait for). Zero-initialised. */
typedef struct lb_nst_waitq {
	lb_nst_waiter *head, *tail;
} lb_nst_waitq;
void lb_nst_waitq_push(lb_nst_waitq *q, lb_nst_waiter *w);
lb_nst_waiter *lb_nst_waitq_pop(lb_nst_waitq *q);
void lb_nst_waitq_fail(lb_nst *ns, lb_nst_waitq *q, const char *msg);

/* Join (or start) the coalesced read of w's source (provider's read_request/read_parse). */
void lb_nst_read_join(lb_nst *ns, lb_nst_waiter *w);

/* --- the broker --- */

/* Ask the broker to refresh target, from the loop, gathered with the others asked within
 * 250 ms (never from inside a fetch: the broker would re-enter the store). */
void lb_nst_request_refresh(lb_nst *ns, const char *target);
void lb_nst_refresh_forget(lb_nst *ns, const char *target);

/* --- helpers the providers share --- */

/* Replace bytes a log line must not carry with spaces. */
void lb_nst_printable(char *s);
/* A file holding a secret (at most cap bytes), trailing whitespace cut when trim; an empty
 * file is an error. */
int lb_nst_read_secret_file(const char *path, size_t cap, bool trim, lb_secbuf **out, lb_err *e);
/* Does a value parse as a JSON object? (for #field selection) */
bool lb_nst_is_json_object(const lb_secbuf *v);

#endif
