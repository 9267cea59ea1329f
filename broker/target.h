/* A target: one tmpfs that one consumer reads, its owner ids and its generations. */
#ifndef LB_TARGET_H
#define LB_TARGET_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "backoff.h"
#include "config.h"
#include "err.h"
#include "generation.h"
#include "held.h"
#include "secmem.h"

#define LB_RETIRED_MAX 16

/* A replaced generation, kept for the binding's grace. */
typedef struct lb_retired {
	uint64_t gen;
	uint64_t at_ms; /* when it was replaced */
} lb_retired;

/* What a target holds is sized for a static target (issue 19: 1.1 KiB before, 2 KiB per
 * target all told is the goal): id maps and retired generations are allocated only when a
 * target has them, the name is allocated with the struct. */
typedef struct lb_target {
	int dirfd;	      /* the tmpfs root, RUN_DIR/t/NAME */
	uint64_t generation;  /* current published generation, 0 = none */
	struct lb_held *held; /* the current generation's secrets (a shared block, lb_held_new) */
	/* Per held entry, the refresh batch whose answer the file holds (refresh.c); 0 = none,
	 * or from before this broker started. NULL = all 0. */
	uint64_t *held_batch;
	size_t nheld;
	uint32_t uid, gid; /* consumer ids inside its user namespace */
	/* idmap.h specs (literal maps, subuid:USER, pid:N); NULL = identity. gid_map NULL =
	 * derived from uid_map. Set with lb_target_set_maps. */
	char *uid_map, *gid_map;
	lb_retired *retired; /* oldest first, at most LB_RETIRED_MAX; NULL when none */
	size_t nretired;
	bool owner_known; /* owner of the current generation's files, set by publish */
	uint32_t owner_uid, owner_gid;
	/* Retries after a failed refresh (core/backoff; set by refresh.c); the retry itself
	 * is the probe, so it is not due again while its fetch is out. */
	lb_backoff retry;
	/* Dynamic targets (Docker volumes) are not in the config: they name their binding,
	 * and are only populated once their consumer is known (ready). */
	bool dynamic;
	bool ready;
	char binding[LB_NAME_MAX + 1];
	char container[72]; /* Docker container id */
	int pid;	    /* consumer's pid, 0 unknown */
	uint64_t first_gen; /* first generation this consumer got; later ones are rotations */
	/* The refresh pipeline's (refresh.c): the newest batch that asked for this target (per
	 * secret, the batch its file came from is in held_batch). */
	uint64_t asked_batch;
	bool publishing; /* a publisher child writes its next generation (refresh_split.c) */
	json_t *status;	 /* what LB_STATUS_FILE says (target.c writes it) */
	char name[];	 /* allocated with the struct */
} lb_target;

/* Mount (or reuse the live tmpfs of) RUN_DIR/t/NAME and load its current generation. */
lb_target *lb_target_open(int tdirfd, const char *name, uint64_t size, lb_err *e);
void lb_target_free(lb_target *t);
/* The consumer's id maps (idmap.h specs; NULL or "" = identity; gid_map NULL or "" = derived
 * from uid_map). Copied; on failure (out of memory) the old maps stay. */
int lb_target_set_maps(lb_target *t, const char *uid_map, const char *gid_map, lb_err *e);
/* Write LB_STATUS_FILE into the tmpfs (no secret bytes): per secret of bd "ok" (in the
 * current generation), "failed" with errors[name] (the store's error), else "pending". */
int lb_target_status(lb_target *t, const lb_binding *bd, json_t *errors, lb_err *e);
/* The current generation's entry for that secret, NULL if it has none. */
const lb_held *lb_target_held(const lb_target *t, const char *name);
/* The current generation's secrets as the manifest's "secrets" object (new reference). */
json_t *lb_target_secrets_json(const lb_target *t);
/* The target's file of that secret now holds batch's answer (no new generation). */
void lb_target_note_batch(lb_target *t, const char *name, uint64_t batch);
/* Host uid/gid that must own the files, through the target's maps. */
int lb_target_host_ids(const lb_target *t, uint32_t *uid, uint32_t *gid, lb_err *e);
/* Write generation+1 with items, swap ..data, fix the top-level links. */
int lb_target_publish(lb_target *t, const lb_publish_item *items, size_t n, lb_err *e);
/* Same, for a caller that has the host ids already (lb_target_host_ids). */
int lb_target_publish_as(lb_target *t, const lb_publish_item *items, size_t n, uint32_t huid,
			 uint32_t hgid, lb_err *e);
/* Do the current generation's files belong to huid:hgid? From memory once this broker has
 * published the target, else (after a restart) from its first file on the tmpfs. */
bool lb_target_owned_by(const lb_target *t, uint32_t huid, uint32_t hgid);
/* Is item i identical to what the current generation holds (so it can be linked)? */
bool lb_target_unchanged(const lb_target *t, const char *name, const char *version,
			 const char *source, int64_t not_after, unsigned mode, uint32_t huid,
			 uint32_t hgid);
/* The batch of the target's held entry h (lb_target_held). */
uint64_t lb_target_held_batch(const lb_target *t, const lb_held *h);
/* Would items change the set of names (so the top-level links change)? */
bool lb_target_names_changed(const lb_target *t, const lb_publish_item *items, size_t n);
/* Generation gen, written and swapped in (lb_gen_write), is now the current one; held and
 * batches (lb_held_new, lb_held_batches) are taken. The replaced one is retired. */
void lb_target_commit(lb_target *t, uint64_t gen, lb_held *held, uint64_t *batches, size_t n,
		      uint32_t huid, uint32_t hgid);
/* Remove retired generations older than grace_ms; returns ms until the next is due or 0. */
uint64_t lb_target_gc(lb_target *t, uint64_t grace_ms);
/* Wipe every file, unmount the tmpfs and remove its directory. */
int lb_target_destroy(lb_target *t, int tdirfd, const char *run_dir, lb_err *e);
/* Same for a directory left under RUN_DIR/t by an earlier run. */
int lb_target_remove_stale(int tdirfd, const char *run_dir, const char *name, lb_err *e);

#endif
