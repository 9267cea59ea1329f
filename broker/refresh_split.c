/* The publisher child's share of a big pass (pubfork.h): the tail of the pass's publishes is
 * written by a forked child while lockboxd writes the head, and committed when the child is
 * gone. Its targets are not published again meanwhile (their wants wait, see refresh.c). The
 * pass's deliver lines keep the order of its targets: the head's now, the tail's after. */
#include "refresh_priv.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>

struct idle_waiter {
	void (*fn)(void *ctx);
	void *ctx;
	struct idle_waiter *next;
};

static void split_free(struct split *sp)
{
	free(sp->pubs);
	free(sp->jobs);
	free(sp->held);
	free(sp->batches);
	free(sp);
}

static void on_child_done(void *ctx, lb_pubjob *jobs, size_t n)
{
	struct split *sp = ctx;
	lb_refresh *r = sp->r;
	struct batch *bt = sp->bt;

	lb_audit_hold();
	for (size_t i = 0; i < n; i++) {
		lb_pubjob *j = &jobs[i];
		struct pub *p = &sp->pubs[i];
		int rc = 0;

		if (!j->t) { /* destroyed meanwhile (a reload) */
			lb_held_release(sp->held[i]);
			free(sp->batches[i]);
			rf_pub_free(p);
			continue;
		}
		j->t->publishing = false;
		if (j->ok) {
			lb_target_commit(j->t, j->gen, sp->held[i], sp->batches[i], j->n, j->huid,
					 j->hgid);
		} else {
			lb_held_release(sp->held[i]);
			free(sp->batches[i]);
			rc = -1;
			if (j->err.sys == ENOSPC && j->t->nretired) {
				/* As lockboxd does itself: the new generation matters more than
				 * readers still inside replaced ones; the retry writes it. */
				lb_log(LB_WARN,
				       "target %s: tmpfs full, dropping %zu replaced "
				       "generation(s) early",
				       j->t->name, j->t->nretired);
				lb_target_gc(j->t, 0);
			}
		}
		rf_after_apply(r, bt, j->t, rf_finish(r, bt, p, rc, &j->err));
	}
	lb_audit_release();
	bt->splits--;
	r->split = NULL;
	split_free(sp);
	rf_resume(r, bt); /* frees bt (and trims) when its slots are all in */
}

bool rf_split_pass(lb_refresh *r, struct batch *bt, struct pub *pubs, size_t n)
{
	struct split *sp = calloc(1, sizeof(*sp));
	/* The head is lockboxd's: it also writes every audit line and commits, so the child gets
	 * a little more than half. */
	size_t head = n * 9 / 20, tail = n - head;
	lb_err e = {0};

	if (!sp)
		return false;
	sp->r = r;
	sp->bt = bt;
	sp->n = tail;
	sp->pubs = calloc(tail, sizeof(*sp->pubs));
	sp->jobs = calloc(tail, sizeof(*sp->jobs));
	sp->held = calloc(tail, sizeof(lb_held *));
	sp->batches = calloc(tail, sizeof(uint64_t *));
	if (!sp->pubs || !sp->jobs || !sp->held || !sp->batches)
		goto fail;
	for (size_t i = 0; i < tail; i++) {
		const struct pub *p = &pubs[head + i];
		lb_pubjob *j = &sp->jobs[i];

		sp->held[i] = lb_held_new(p->items, p->n);
		if (!sp->held[i] || lb_held_batches(p->items, p->n, &sp->batches[i]))
			goto fail;
		j->t = p->t;
		j->gen = p->t->generation + 1;
		j->items = p->items;
		j->n = p->n;
		j->huid = p->huid;
		j->hgid = p->hgid;
		j->names_changed = lb_target_names_changed(p->t, p->items, p->n);
	}
	sp->pf = lb_pubfork_start(r->loop, sp->jobs, tail, on_child_done, sp, &e);
	if (!sp->pf) {
		lb_log(LB_WARN, "%s: lockboxd writes the whole pass itself", e.msg);
		goto fail;
	}
	for (size_t i = 0; i < tail; i++) {
		sp->pubs[i] = pubs[head + i]; /* the child's now (resources move) */
		sp->jobs[i].t->publishing = true;
	}
	bt->splits++;
	r->split = sp;
	rf_publish_here(r, bt, pubs, head);
	return true;
fail:
	for (size_t i = 0; sp->held && i < tail; i++)
		lb_held_release(sp->held[i]);
	for (size_t i = 0; sp->batches && i < tail; i++)
		free(sp->batches[i]);
	split_free(sp);
	return false;
}

void rf_split_finish(lb_refresh *r)
{
	if (r->split)
		lb_pubfork_finish(r->split->pf, LB_PUBFORK_WAIT_MS);
}

void rf_run_waiters(lb_refresh *r)
{
	while (r->waiters && !r->split) {
		struct idle_waiter *w = r->waiters;
		r->waiters = w->next;
		w->fn(w->ctx);
		free(w);
	}
}

void lb_refresh_settle(lb_refresh *r)
{
	if (!r || !r->split)
		return;
	while (r->split) /* finishing one may start the next (rf_resume) */
		rf_split_finish(r);
	rf_run_waiters(r);
}

bool lb_refresh_busy(const lb_refresh *r)
{
	return r && r->split;
}

bool lb_refresh_when_idle(lb_refresh *r, void (*fn)(void *ctx), void *ctx)
{
	struct idle_waiter *w, **tail;

	if (!lb_refresh_busy(r) || !(w = calloc(1, sizeof(*w))))
		return false;
	w->fn = fn;
	w->ctx = ctx;
	for (tail = &r->waiters; *tail; tail = &(*tail)->next)
		;
	*tail = w;
	return true;
}

void lb_refresh_forget(lb_refresh *r, const lb_target *t)
{
	if (r && r->split)
		lb_pubfork_forget(r->split->pf, t);
}
