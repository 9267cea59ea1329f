/* HTTP(S) client on the broker's loop: libcurl's multi socket API, no threads, no blocking.
 * Used by the network stores (Vault, cloud) and the Docker Engine API client. */
#ifndef LB_HTTP_H
#define LB_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"
#include "loop.h"
#include "secmem.h"

typedef struct lb_http lb_http;
typedef struct lb_http_req lb_http_req;

typedef struct lb_http_resp {
	int curl_code;	       /* CURLE_OK (0) when a response arrived */
	long status;	       /* HTTP status, 0 without a response */
	const lb_secbuf *body; /* whole body (NUL-terminated), NULL when empty; may hold secrets */
	long retry_after_s;    /* Retry-After in seconds, -1 when absent */
	const char *error;     /* transport error text ("" when curl_code == 0) */
} lb_http_resp;

/* Called once per request, from the loop; the response is valid only during the call. */
typedef void (*lb_http_cb)(void *ctx, const lb_http_resp *resp);
/* Streaming (e.g. Docker /events): called for each chunk; return false to stop. */
typedef bool (*lb_http_data_cb)(void *ctx, const char *data, size_t len);

typedef struct lb_http_opts {
	const char *method; /* default GET */
	const char *url;
	const char *unix_socket;    /* HTTP over a unix socket (Docker) */
	const char *const *headers; /* "Name: value", may carry tokens */
	size_t nheaders;
	const void *body;
	size_t body_len;
	const char *ca_file, *ca_dir;
	const char *client_cert, *client_key;
	long timeout_ms;	 /* 0 = 30 s; streams have none */
	size_t max_body;	 /* 0 = 1 MiB; larger replies fail */
	lb_http_data_cb on_data; /* set for a stream: body is not collected */
} lb_http_opts;

lb_http *lb_http_new(lb_loop *loop, lb_err *e);
/* Cancels every request still in flight (their callbacks do not run). */
void lb_http_free(lb_http *h);
lb_http_req *lb_http_start(lb_http *h, const lb_http_opts *o, lb_http_cb cb, void *ctx, lb_err *e);
/* The callback will not run. Safe from inside any callback but the request's own. */
void lb_http_cancel(lb_http_req *r);

#endif
