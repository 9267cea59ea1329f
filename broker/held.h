/* What a target holds of its current generation (no secret bytes): one block per
 * generation, its entries and their strings in one allocation, interned so that the static
 * targets of a binding, which hold the same names, versions, sources and modes, share one
 * (issue 19: per-target memory). */
#ifndef LB_HELD_H
#define LB_HELD_H

#include <stddef.h>
#include <stdint.h>

#include "generation.h"

/* One secret of the current generation, as its manifest says (no secret bytes). A target's
 * held entries and their strings are one allocation: a few hundred bytes per target, where
 * jansson trees took kilobytes (issue 19). */
typedef struct lb_held {
	const char *name, *version, *source;
	int64_t not_after; /* 0 = no expiry */
	unsigned mode;
} lb_held;

/* The held block of a generation's items (shared with equal ones; NULL when out of memory),
 * given back with lb_held_release. */
lb_held *lb_held_new(const lb_publish_item *items, size_t n);
void lb_held_release(lb_held *h);
/* The items' batches as a target's held_batch (*out NULL when all are 0); -1: no memory. */
int lb_held_batches(const lb_publish_item *items, size_t n, uint64_t **out);

#endif
