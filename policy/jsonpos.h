/* jansson parses the config but keeps no positions; this index maps each key path
 * ("bindings.web.require[2]") to the line and column where it appears, for error messages.
 * It runs only on text jansson has already accepted. */
#ifndef LB_JSONPOS_H
#define LB_JSONPOS_H

#include <jansson.h>

/* Returns {"path": [line, column], ...} or NULL. */
json_t *lb_jsonpos_index(const char *text);
/* Position of path, or of its nearest ancestor; 1:1 when nothing matches. */
void lb_jsonpos_lookup(json_t *index, const char *path, int *line, int *col);

#endif
