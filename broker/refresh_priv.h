/* Inside the refresh pipeline: refresh.c (batches, slots, retries, the split of a big pass)
 * and refresh_apply.c (one target's next generation from a batch's results) share these. */
#ifndef LB_REFRESH_PRIV_H
#define LB_REFRESH_PRIV_H

#include "jsonw.h"
#include "pubfork.h"
#include "refresh.h"

struct lb_refresh {
	lb_loop *loop;
	lb_refresh_owner o;
	lb_secret_hashes *hashes;
	lb_timer *retry_timer;
	lb_timer *settle_timer;
	bool unsettled;	       /* targets published since the owner last saved state */
	struct batch *batches; /* in flight */
	uint64_t last_seq;     /* of the newest batch */
	bool stopping;
	bool resuming;	     /* rf_resume: a completed batch settles at the next turn of the loop */
	bool trim;	     /* and the heap is trimmed after that (rf_trim) */
	struct split *split; /* the publisher child's share of a pass, while it runs */
	struct idle_waiter *waiters; /* lb_refresh_when_idle */
};

/* One refresh pass: every distinct source of the targets is fetched once; each target gets
 * a new generation (if anything it holds changed) as soon as its own sources have answered,
 * not when the slowest store of the batch does. */
struct slot {
	char source[700];	      /* STORE:PATH[?version=N], as the manifest names it */
	char target[LB_NAME_MAX + 1]; /* for per-target (leased) stores, else "" */
	lb_source src;
	bool done;
	bool hashed; /* its value is in the secret hashes */
	lb_fetch_result res;
	struct batch *batch;
	size_t *waiting; /* wants (indexes) that need this slot */
	size_t nwaiting;
};

struct want {
	char name[LB_NAME_MAX + 1];
	size_t pending; /* its slots still out */
	bool done;
	size_t ref0, nref; /* its slot per secret: batch.refs[ref0 .. ref0 + nref) */
};

struct batch {
	lb_refresh *r;
	uint64_t seq; /* batches are numbered as they start */
	char reason[32];
	struct want *wants; /* the targets of the batch */
	size_t nwants;
	size_t nready; /* wants whose slots are all in, not applied yet */
	struct slot *slots;
	size_t nslots;
	json_t *index;	    /* slot key -> slot number */
	size_t *refs;	    /* slot number + 1 per (want, secret) as launched; 0 = none */
	size_t pending;	    /* slots still out */
	bool busy;	    /* launching or applying: completions only record */
	unsigned splits;    /* its publisher child runs: its results stay until then */
	struct batch *next; /* in-flight batches of the pipeline */
};

/* One target's publish in a pass, from its preparation to its audit line. */
struct pub {
	lb_target *t;
	const lb_binding *bd;
	lb_publish_item *items;
	size_t n;
	lb_secbuf **values; /* bd->nsecrets; picked fields and rendered templates (owned) */
	struct slot *tpl;   /* rendered secrets' results (their items point into it) */
	lb_jsonw changed;   /* the deliver line's "changed" entries */
	json_t *errors;	    /* Docker targets: secret -> why it failed, for the status file */
	size_t nwritten;    /* secrets with new bytes, not just a new expiry */
	uint32_t huid, hgid;
	bool ok; /* false: a secret failed (its last good file stays) */
	double started;
};

/* The publisher child's share of a pass (pubfork.h): its jobs and what publishes them. */
struct split {
	lb_refresh *r;
	struct batch *bt;
	struct pub *pubs; /* the child's */
	lb_pubjob *jobs;
	lb_held **held;	    /* per job, made before the fork: a commit cannot fail */
	uint64_t **batches; /* per job, the same */
	size_t n;
	lb_pubfork *pf;
};

enum rf_prep { RF_DONE, RF_PUBLISH };

/* refresh.c */
struct slot *rf_slot_for(struct batch *bt, const lb_source *src, const char *target);
struct slot *rf_slot_of_want(struct batch *bt, const struct want *w, size_t j, const lb_source *src,
			     const char *target);
const lb_binding *rf_binding_of(lb_refresh *r, const lb_target *t);

void rf_after_apply(lb_refresh *r, struct batch *bt, lb_target *t, bool ok);
/* After a big round: free heap pages go back to the kernel. */
void rf_trim(void);
/* The child's share of a pass is over: other batches' wants that waited for its targets are
 * applied, done settles (and is freed when complete), idle waiters run. */
void rf_resume(lb_refresh *r, struct batch *done);

/* refresh_split.c */
/* n prepared publishes (n >= LB_PUBFORK_MIN): the tail goes to a publisher child, the head
 * is written here now. false when no child could start (nothing done: write them all). */
bool rf_split_pass(lb_refresh *r, struct batch *bt, struct pub *pubs, size_t n);
/* Wait for a running child (bounded) and apply its outcome (shutdown). */
void rf_split_finish(lb_refresh *r);
void rf_run_waiters(lb_refresh *r);

/* refresh_apply.c */
/* The target's next generation from the batch: RF_PUBLISH with p filled (publish it, then
 * rf_finish), or RF_DONE (nothing to write, or it failed before any byte; p->ok says). */
enum rf_prep rf_prepare(lb_refresh *r, struct batch *bt, const struct want *w, lb_target *t,
			struct pub *p);
/* After the publish (rc 0) or its failure (e): the audit line, metrics, hooks; p's
 * resources are freed. Returns whether the target is good (no retry). */
bool rf_finish(lb_refresh *r, struct batch *bt, struct pub *p, int rc, const lb_err *e);
/* Publish pubs[0..n) in this process, each then finished (rf_finish) and applied. */
void rf_publish_here(lb_refresh *r, struct batch *bt, struct pub *pubs, size_t n);
/* p's resources, when rf_prepare said RF_DONE (or the publish never happens). */
void rf_pub_free(struct pub *p);

#endif
