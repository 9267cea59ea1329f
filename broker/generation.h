/* The files of one generation of a target: written beside the current generation, then
 * swapped in (..data). No broker state: the forked publisher (pubfork.c) runs it too. */
#ifndef LB_GENERATION_H
#define LB_GENERATION_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "secmem.h"

/* One secret of a generation to publish. value NULL = unchanged: hard-link it from the
 * current generation (same version, source, mode and owner). */
typedef struct lb_publish_item {
	const char *name;
	const lb_secbuf *value;
	const char *version;
	const char *source;
	int64_t not_after; /* 0 = no expiry */
	unsigned mode;
	uint64_t batch; /* recorded in lb_target.held_batch */
} lb_publish_item;

/* LB_GEN_PREFIX + gen into buf (at least 64 bytes). */
void lb_gen_name(uint64_t gen, char *buf, size_t cap);
bool lb_gen_parse(const char *s, uint64_t *gen);
/* Generation gen of the tmpfs whose writable root is dirfd (target tname, for messages),
 * from items; unchanged items are linked from generation prev. Then ..data swaps to it and,
 * when names_changed, the top-level NAME links follow. On failure the half-built directory
 * is removed and ..data still names prev. */
int lb_gen_write(int dirfd, const char *tname, uint64_t gen, uint64_t prev,
		 const lb_publish_item *items, size_t n, uint32_t huid, uint32_t hgid,
		 bool names_changed, lb_err *e);
/* Top-level links of names no longer in items are removed. */
int lb_gen_prune_links(int dirfd, const char *tname, const lb_publish_item *items, size_t n,
		       lb_err *e);
/* The generation ..data names now; false when none (or not a generation). */
bool lb_gen_current(int dirfd, uint64_t *gen);
/* Remove generation gen's directory (its files wiped). */
void lb_gen_remove(int dirfd, uint64_t gen);
/* A tmpfs refused a manifest's ACL in this process (manifests readable by group only). */
bool lb_gen_acl_unsupported(void);

#endif
