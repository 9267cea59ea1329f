/* Rendered secrets (templates, issue 17) in the refresh pipeline: the results of a
 * template's sources, fetched in the same batch as every other secret of the target, make
 * one result. refresh.c says how to find a source's result (its batch's slot). */
#ifndef LB_RENDER_H
#define LB_RENDER_H

#include "config.h"
#include "store.h"

/* The result that fetched src for this target in this batch; NULL if none. */
typedef const lb_fetch_result *(*lb_render_lookup)(void *ctx, const lb_source *src);

/* The rendered secret's result, without its bytes: the first failed source's error;
 * keep when a source vouches for a file it cannot give again (a lease restored after a
 * restart); version "tpl-" + a digest of the template and of its sources' versions;
 * not_after the earliest of theirs. */
void lb_render_result(const lb_secret_spec *sp, lb_render_lookup fn, void *ctx,
		      lb_fetch_result *out);
/* Its bytes, in a new sodium buffer. */
int lb_render_value(const lb_secret_spec *sp, lb_render_lookup fn, void *ctx, lb_secbuf **out,
		    lb_err *e);

#endif
