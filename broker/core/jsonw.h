/* A JSON text written straight into a growing buffer, for files written on every rotation
 * (manifests, targets.json): no jansson tree per target. */
#ifndef LB_JSONW_H
#define LB_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lb_jsonw {
	char *buf; /* NUL-terminated text; NULL until the first append */
	size_t len, cap;
	bool oom; /* an append failed: the text is incomplete */
} lb_jsonw;

/* Appends text as is (punctuation, keys known to need no escaping). */
void lb_jsonw_raw(lb_jsonw *w, const char *text);
/* Appends s as a JSON string: quoted, with '"', '\\' and control bytes escaped. */
void lb_jsonw_str(lb_jsonw *w, const char *s);
void lb_jsonw_int(lb_jsonw *w, int64_t v);
void lb_jsonw_free(lb_jsonw *w);

#endif
