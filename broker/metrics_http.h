/* /metrics over HTTP (libmicrohttpd on the broker's loop, core/mhdloop.h, as the plugin):
 * always on RUN_DIR/metrics.sock (0600, root), and on TCP when the configuration says
 * "metrics": {"listen": "ADDRESS:PORT"}. GET /metrics answers the Prometheus text
 * exposition of lb_metrics_render_proc(); nothing else is served. */
#ifndef LB_METRICS_HTTP_H
#define LB_METRICS_HTTP_H

#include "err.h"
#include "loop.h"

#define LB_METRICS_SOCK	    "metrics.sock"
#define LB_METRICS_CONN_MAX 16 /* simultaneous connections per listener */

typedef struct lb_metrics_http lb_metrics_http;

/* listen: NULL for the unix socket only. */
lb_metrics_http *lb_metrics_http_new(lb_loop *loop, int run_dirfd, const char *run_dir,
				     const char *listen, lb_err *e);
void lb_metrics_http_free(lb_metrics_http *h);

#endif
