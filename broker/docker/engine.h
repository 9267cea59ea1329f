/* Docker Engine API client over dockerd's unix socket, on the broker's loop. */
#ifndef LB_ENGINE_H
#define LB_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include "err.h"
#include "http.h"
#include "loop.h"

#define LB_ENGINE_API "v1.41" /* dockerd 20.10; newer daemons still serve it */

typedef struct lb_engine lb_engine;

typedef struct lb_engine_handlers {
	/* One decoded event of the /events stream (borrowed). */
	void (*on_event)(void *ctx, json_t *ev);
	/* The stream is (re)connected: events may have been missed, reconcile now. */
	void (*on_connected)(void *ctx);
} lb_engine_handlers;

/* status 0 = no HTTP answer (err says why); body borrowed, NULL when not JSON. */
typedef void (*lb_engine_cb)(void *ctx, long status, json_t *body, const char *err);

/* One line of the /events stream as an object, or NULL. truncated: only the line's first
 * bytes arrived (it was over the cap); decoded up to Actor.ID, without Actor.Attributes. */
json_t *lb_engine_event_decode(const char *line, size_t len, bool truncated);

lb_engine *lb_engine_new(lb_loop *loop, lb_http *http, const char *socket,
			 const lb_engine_handlers *h, void *ctx, lb_err *e);
void lb_engine_free(lb_engine *en);
/* The event stream is connected (lockboxctl status). */
bool lb_engine_connected(const lb_engine *en);
/* GET or POST /v1.41/PATH (PATH already URL-encoded). */
int lb_engine_call(lb_engine *en, const char *method, const char *path, lb_engine_cb cb, void *ctx);

#endif
