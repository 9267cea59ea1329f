/* Docker's legacy plugin protocol (VolumeDriver, and SecretProvider for Swarm secrets) served
 * with libmicrohttpd on a unix socket, driven by the broker's loop (core/mhdloop.h). A handler
 * answers at once, or later (a store fetch) through lb_plugin_answer: the connection is
 * suspended meanwhile and the loop goes on. */
#ifndef LB_PLUGIN_H
#define LB_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include "err.h"
#include "loop.h"
#include "secmem.h"

#define LB_PLUGIN_REQ_MAX  (64 * 1024)
#define LB_PLUGIN_CONN_MAX 64 /* simultaneous connections (dockerd's; root only) */

typedef struct lb_plugin lb_plugin;
typedef struct lb_plugin_req lb_plugin_req;
/* endpoint: "Create", "Remove", "Mount", "Unmount", "Path", "Get", "List", "Capabilities"
 * (/VolumeDriver.*) or "GetSecret" (/SecretProvider.GetSecret). req is the decoded body (an
 * object, possibly empty; borrowed). Returns the reply object (stolen); {"Err":"..."} for
 * errors, which docker shows to the user. NULL: answered later with lb_plugin_answer(r). */
typedef json_t *(*lb_plugin_handler)(void *ctx, const char *endpoint, json_t *req,
				     lb_plugin_req *r);

/* The later answer of a request its handler returned NULL for (reply stolen; NULL answers an
 * error). Exactly once, before lb_plugin_free; r is gone after it. */
void lb_plugin_answer(lb_plugin_req *r, json_t *reply);
/* The same with a reply that holds secret bytes: its JSON text in a sodium buffer (stolen),
 * sent from there and zeroed when sent. */
void lb_plugin_answer_secret(lb_plugin_req *r, lb_secbuf *body);

/* What needs no daemon in one request: method, URL and body (too_big: over
 * LB_PLUGIN_REQ_MAX). Returns the reply when it is answered here (*status its HTTP status),
 * else NULL with *endpoint (one of the names above, static) and *req (an object, the
 * caller's) for the handler. */
json_t *lb_plugin_decode(const char *method, const char *url, const char *body, size_t len,
			 bool too_big, unsigned int *status, const char **endpoint, json_t **req);

lb_plugin *lb_plugin_listen(lb_loop *loop, const char *socket_path, lb_plugin_handler h, void *ctx,
			    lb_err *e);
/* Requests not answered yet are answered with an error first: their holders must have let
 * go of them (answered) before. */
void lb_plugin_free(lb_plugin *p);

#endif
