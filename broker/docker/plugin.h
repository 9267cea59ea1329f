/* Docker's legacy volume-plugin protocol (VolumeDriver) served with libmicrohttpd on a unix
 * socket, driven by the broker's loop (MHD's epoll fd nests in ours). */
#ifndef LB_PLUGIN_H
#define LB_PLUGIN_H

#include <jansson.h>
#include <stdbool.h>
#include "err.h"
#include "loop.h"

#define LB_PLUGIN_REQ_MAX  (64 * 1024)
#define LB_PLUGIN_CONN_MAX 64 /* simultaneous connections (dockerd's; root only) */

typedef struct lb_plugin lb_plugin;
/* endpoint: "Create", "Remove", "Mount", "Unmount", "Path", "Get", "List", "Capabilities".
 * req is the decoded body (an object, possibly empty). Returns the reply object (stolen);
 * {"Err":"..."} for errors, which docker shows to the user. */
typedef json_t *(*lb_plugin_handler)(void *ctx, const char *endpoint, json_t *req);

/* What needs no daemon in one request: method, URL and body (too_big: over
 * LB_PLUGIN_REQ_MAX). Returns the reply when it is answered here (*status its HTTP status),
 * else NULL with *endpoint (one of the names above, static) and *req (an object, the
 * caller's) for the handler. */
json_t *lb_plugin_decode(const char *method, const char *url, const char *body, size_t len,
			 bool too_big, unsigned int *status, const char **endpoint, json_t **req);

lb_plugin *lb_plugin_listen(lb_loop *loop, const char *socket_path, lb_plugin_handler h, void *ctx,
			    lb_err *e);
void lb_plugin_free(lb_plugin *p);

#endif
