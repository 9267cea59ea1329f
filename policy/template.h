/* Templates (issue 17): a secret rendered from several sources, "{{ SOURCE | filter }}".
 * Pure functions: parsed once at config load (an error carries the byte offset where it
 * is, for FILE:LINE:COL), rendered into a sodium buffer with the values of its sources.
 * Nothing here logs; messages name sources and filters, never values. */
#ifndef LB_TEMPLATE_H
#define LB_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "secmem.h"
#include "uri.h"

#define LB_TEMPLATE_MAX		(64 * 1024) /* bytes of template text */
#define LB_TEMPLATE_MAX_PARTS	1024	    /* literal runs and placeholders */
#define LB_TEMPLATE_MAX_SOURCES 32	    /* distinct sources of one template */
#define LB_TEMPLATE_MAX_FILTERS 4	    /* filters of one placeholder */

typedef struct lb_template lb_template;

/* Parse len bytes of text. NULL on error, with e (the message) and *off (the byte offset
 * in text the message is about). */
lb_template *lb_template_parse(const char *text, size_t len, size_t *off, lb_err *e);
void lb_template_free(lb_template *t);

/* The distinct sources (STORE:PATH[#FIELD][?version=N]) the template names, in order of
 * first appearance, with the byte offset of that appearance. */
size_t lb_template_nsources(const lb_template *t);
const lb_source *lb_template_source(const lb_template *t, size_t i);
size_t lb_template_source_offset(const lb_template *t, size_t i);
/* 16 hex digits of a digest of the text: a changed template is rendered anew. */
const char *lb_template_digest(const lb_template *t);

/* The bytes of source i (its #field already applied); NULL with e when there are none. */
typedef const lb_secbuf *(*lb_template_value_fn)(void *ctx, size_t i, lb_err *e);
/* Render into a new sodium buffer (*out). -1 with e (names the source and filter). */
int lb_template_render(const lb_template *t, lb_template_value_fn value, void *ctx, lb_secbuf **out,
		       lb_err *e);

/* 1-based line and column of byte offset off in text (for template files). */
void lb_template_position(const char *text, size_t len, size_t off, int *line, int *col);

#endif
