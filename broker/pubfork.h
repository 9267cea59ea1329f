/* The second core for a big pass: a short-lived forked child writes the generations of part
 * of the targets (generation.c: build beside, then swap ..data) while lockboxd writes the
 * rest; lockboxd waits for it through a pidfd on its loop and never blocks. What the child
 * did is then read back from the disk, not trusted from the child: a child that crashed,
 * hung (killed at its deadline) or failed leaves each of its targets either with the new
 * generation swapped in or with its previous one and no half-built directory. */
#ifndef LB_PUBFORK_H
#define LB_PUBFORK_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "target.h"

/* Fewer publishes than this in one pass are written by lockboxd alone: a fork and its reap
 * cost about what 20-40 targets' file work does (docs/design.md, "Static-target cost"). */
#define LB_PUBFORK_MIN 64

typedef struct lb_pubjob {
	lb_target *t; /* NULL once the target is gone (lb_pubfork_forget) */
	uint64_t gen; /* the generation the child writes (t->generation + 1) */
	const lb_publish_item *items;
	size_t n;
	uint32_t huid, hgid;
	bool names_changed;
	/* Outcome, when done runs: ok = generation gen is swapped in (commit it). */
	bool ok;
	lb_err err;
	int wipe_fd; /* a gone target's tmpfs: wiped once the child is gone (-1: none) */
} lb_pubjob;

typedef struct lb_pubfork lb_pubfork;
/* The child is gone and every job has its outcome; the lb_pubfork is freed already. */
typedef void (*lb_pubfork_done)(void *ctx, lb_pubjob *jobs, size_t n);

/* Start the child on jobs (borrowed until done runs). NULL with e set when no child could
 * be started: nothing was written, the caller publishes the jobs itself. */
lb_pubfork *lb_pubfork_start(lb_loop *loop, lb_pubjob *jobs, size_t n, lb_pubfork_done done,
			     void *ctx, lb_err *e);
/* The longest lockboxd blocks for a child at shutdown or before a reload: the deadline on
 * the loop (10 s + 10 ms per target, 110 s with 10,000) is more than systemd's default
 * TimeoutStopSec (90 s). A child killed here leaves its targets as one that crashed. */
#define LB_PUBFORK_WAIT_MS 10000

/* Wait for the child here, at most max_ms and never past its deadline (then it is killed),
 * then run done (shutdown, reload). */
void lb_pubfork_finish(lb_pubfork *p, uint64_t max_ms);
/* t goes away (reload, container gone) while the child may still write into it: its job
 * is dropped, and what the child wrote is wiped once it is gone. */
void lb_pubfork_forget(lb_pubfork *p, const lb_target *t);

#endif
