/* The control socket RUN_DIR/control.sock: length-prefixed JSON (4-byte big-endian length,
 * then one JSON object) each way, one request per connection, root peers only. */
#ifndef LB_CONTROL_H
#define LB_CONTROL_H

#include <stdint.h>
#include <jansson.h>
#include "err.h"
#include "loop.h"

#define LB_CONTROL_SOCK	     "control.sock"
#define LB_CONTROL_REQ_MAX   (2 * 1024 * 1024)
#define LB_CONTROL_REPLY_MAX (16 * 1024 * 1024)
#define LB_CONTROL_NO_BROKER (-2)
/* Simultaneous connections, and request bytes buffered over all of them (issue 13 defect
 * 10: 2,000 connections announcing 2 MiB each pinned 2.7 GB of locked memory). */
#define LB_CONTROL_CONN_MAX    64
#define LB_CONTROL_PENDING_MAX (8 * 1024 * 1024)

typedef struct lb_control lb_control;
/* Returns the reply object (stolen), or NULL to answer later with lb_control_reply(id). */
typedef json_t *(*lb_control_handler)(void *ctx, json_t *req, uint64_t id);

/* One request body (the bytes after the length): decoded and handed to h, or the
 * "malformed request" reply. What every connection does once its request is complete; the
 * fuzz harness (tests/fuzz/fuzz_control.c) calls it with the broker's handler. */
json_t *lb_control_request(const unsigned char *body, size_t len, lb_control_handler h, void *ctx,
			   uint64_t id);

lb_control *lb_control_listen(lb_loop *loop, int run_dirfd, const char *run_dir,
			      lb_control_handler h, void *ctx, lb_err *e);
void lb_control_close(lb_control *c);
/* The deferred answer to request id (stolen); dropped when the client is gone. */
void lb_control_reply(lb_control *c, uint64_t id, json_t *reply);

/* Client side. Returns LB_CONTROL_NO_BROKER when nothing listens on the socket. */
int lb_control_call(const char *run_dir, json_t *req, json_t **reply, lb_err *e);

#endif
