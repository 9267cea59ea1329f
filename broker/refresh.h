/* The refresh pipeline: batches of fetches through the store vtable, published as new
 * generations of targets, and per-target retries. It sees its owner (the broker, or a unit
 * test with fake stores) only through lb_refresh_owner. */
#ifndef LB_REFRESH_H
#define LB_REFRESH_H

#include <stdbool.h>
#include <jansson.h>

#include "config.h"
#include "loop.h"
#include "secret_hash.h"
#include "store.h"
#include "target.h"

typedef struct lb_refresh lb_refresh;

typedef struct lb_refresh_owner {
	/* The open store of that name, NULL if there is none. */
	lb_store *(*store)(void *owner, const char *name);
	/* The live target of that name, NULL if there is none. */
	lb_target *(*target)(void *owner, const char *name);
	/* Every live target (refresh of all, retries). */
	lb_target *const *(*targets)(void *owner, size_t *n);
	/* The binding a target publishes now, NULL if none. */
	const lb_binding *(*binding)(void *owner, const lb_target *t);
	/* Dynamic targets: the posture gate before any byte is written, and the notice after a
	 * new generation. Optional. */
	bool (*admit)(void *owner, lb_target *t);
	void (*published)(void *owner, lb_target *t, bool new_bytes);
	/* Targets got new generations: persist the state, arm the GC. Optional. */
	void (*settled)(void *owner);
	void *owner;
} lb_refresh_owner;

/* hashes (borrowed) gets every value published. */
lb_refresh *lb_refresh_new(lb_loop *loop, const lb_refresh_owner *owner, lb_secret_hashes *hashes);
/* Batches still in flight are dropped: close the stores first (lb_refresh_stop), so that
 * none of them still holds a fetch of ours. */
void lb_refresh_free(lb_refresh *r);
/* From now on, fetches that complete only free their batch (the broker is going away). */
void lb_refresh_stop(lb_refresh *r);
/* Refresh the named targets (every target when names is NULL). */
void lb_refresh_run(lb_refresh *r, const char *const *names, size_t n, const char *reason);
/* Same with a JSON array of names. */
void lb_refresh_list(lb_refresh *r, json_t *names, const char *reason);
/* A publisher child still writes part of a pass (its targets are not yet published). */
bool lb_refresh_busy(const lb_refresh *r);
/* Wait (bounded by its deadline) for a running publisher child and apply its outcome. The
 * child's share of a pass points into the config's bindings: a config swap settles first. */
void lb_refresh_settle(lb_refresh *r);
/* fn(ctx) once no publisher child runs (in order of calls). false, with nothing kept: the
 * pipeline is idle now (or out of memory), the caller goes on at once. */
bool lb_refresh_when_idle(lb_refresh *r, void (*fn)(void *ctx), void *ctx);
/* t is about to be destroyed: a publisher child that may still write into it is told. */
void lb_refresh_forget(lb_refresh *r, const lb_target *t);

#endif
