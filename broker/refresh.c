#include "refresh_priv.h"
#include "metrics.h"
#include "cleanup.h"
#include "jsonw.h"
#include "log.h"
#include "render.h"

#include <stdio.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static lb_target *target_by_name(lb_refresh *r, const char *name)
{
	return r->o.target(r->o.owner, name);
}

const lb_binding *rf_binding_of(lb_refresh *r, const lb_target *t)
{
	return t ? r->o.binding(r->o.owner, t) : NULL;
}

/* A slot is one fetch: per source, or per (source, target) for leased stores. */
static void slot_key(lb_refresh *r, const lb_source *src, const char *target, char *buf, size_t cap)
{
	lb_store *st = r->o.store(r->o.owner, src->store);

	lb_source_key(src, buf, cap);
	if (st && st->ops->per_target)
		snprintf(buf + strlen(buf), cap - strlen(buf), "\n%s", target);
}
static struct slot *slot_by_key(struct batch *bt, const char *key)
{
	json_t *i = json_object_get(bt->index, key);

	return i ? &bt->slots[json_integer_value(i)] : NULL;
}

/* The slot that fetched src for target t. Stores are not asked again: by now they may be
 * closed and replaced (a reload), and the keys were made when the batch started. */
struct slot *rf_slot_for(struct batch *bt, const lb_source *src, const char *target)
{
	char key[1024];
	struct slot *s;

	lb_source_key(src, key, sizeof(key));
	if ((s = slot_by_key(bt, key)))
		return s;
	snprintf(key + strlen(key), sizeof(key) - strlen(key), "\n%s", target);
	return slot_by_key(bt, key);
}

/* The slot the want's secret j got when the batch started, if the secret still names that
 * source (a reload may have changed the binding since): no key to format and look up per
 * secret per target. */
struct slot *rf_slot_of_want(struct batch *bt, const struct want *w, size_t j, const lb_source *src,
			     const char *target)
{
	size_t ref = j < w->nref ? bt->refs[w->ref0 + j] : 0;
	struct slot *s = ref ? &bt->slots[ref - 1] : NULL;

	if (s && strcmp(s->src.store, src->store) == 0 && strcmp(s->src.path, src->path) == 0 &&
	    strcmp(s->src.version, src->version) == 0)
		return s;
	return rf_slot_for(bt, src, target);
}

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS   60000

static void arm_retry(lb_refresh *r)
{
	uint64_t next = 0, now = lb_now_ms();
	size_t nt = 0;
	lb_target *const *ts = r->o.targets(r->o.owner, &nt);

	for (size_t i = 0; i < nt; i++) {
		const lb_target *t = ts[i];
		if (lb_backoff_failing(&t->retry) && !t->retry.probing &&
		    (!next || t->retry.until_ms < next))
			next = t->retry.until_ms;
	}
	if (next)
		lb_timer_arm(r->retry_timer, next > now ? next - now : 1);
}

/* Capped exponential backoff per target (core/backoff), never beyond the binding's own
 * refresh. */
static void schedule_retry(lb_refresh *r, lb_target *t)
{
	const lb_binding *bd = rf_binding_of(r, t);
	uint64_t cap = bd && bd->refresh_ms < RETRY_MAX_MS ? bd->refresh_ms : RETRY_MAX_MS;

	if (!lb_backoff_failing(&t->retry))
		lb_backoff_init(&t->retry, cap < RETRY_FIRST_MS ? cap : RETRY_FIRST_MS, cap, true);
	t->retry.max_ms = cap > t->retry.first_ms ? cap : t->retry.first_ms;
	lb_backoff_fault_now(&t->retry, -1, lb_now_ms());
}

static void batch_free(struct batch *bt)
{
	for (struct batch **p = &bt->r->batches; *p; p = &(*p)->next)
		if (*p == bt) {
			*p = bt->next;
			break;
		}
	json_decref(bt->index);
	for (size_t i = 0; i < bt->nslots; i++) {
		lb_fetch_result_clear(&bt->slots[i].res);
		free(bt->slots[i].waiting);
	}
	free(bt->slots);
	free(bt->refs);
	free(bt->wants);
	free(bt);
}

void rf_after_apply(lb_refresh *r, struct batch *bt, lb_target *t, bool ok)
{
	/* When a newer batch asked for this target too, its outcome decides the retries. */
	if (t->asked_batch > bt->seq)
		return;
	if (ok)
		lb_backoff_reset(&t->retry);
	else
		schedule_retry(r, t);
}

static void apply_want(lb_refresh *r, struct batch *bt, struct want *w)
{
	lb_target *t = target_by_name(r, w->name);
	struct pub p;
	bool ok;

	if (!t)
		return;
	if (rf_prepare(r, bt, w, t, &p) == RF_PUBLISH) {
		lb_err e = {0};
		int rc = lb_target_publish_as(t, p.items, p.n, p.huid, p.hgid, &e);
		ok = rf_finish(r, bt, &p, rc, &e);
	} else {
		ok = p.ok;
	}
	rf_after_apply(r, bt, t, ok);
}

/* A want that can be applied now: its slots are in and its target is not being published
 * by the publisher child (the end of the child's pass picks it up). */
static bool applicable(lb_refresh *r, const struct want *w)
{
	const lb_target *t;

	if (w->done || w->pending)
		return false;
	t = target_by_name(r, w->name);
	return !t || !t->publishing;
}

/* A big round: every applicable want prepared, then the publishes split between lockboxd
 * and a publisher child (refresh_split.c), or all written here. */
static void apply_big(lb_refresh *r, struct batch *bt, size_t n)
{
	struct pub *pubs = calloc(n, sizeof(*pubs));
	size_t np = 0;

	for (size_t i = 0; i < bt->nwants && np < n; i++) {
		struct want *w = &bt->wants[i];
		lb_target *t;

		if (!applicable(r, w))
			continue;
		w->done = true;
		bt->nready--;
		t = target_by_name(r, w->name);
		if (!t)
			continue;
		if (!pubs) {
			apply_want(r, bt, w); /* out of memory: one at a time */
			continue;
		}
		if (rf_prepare(r, bt, w, t, &pubs[np]) == RF_PUBLISH)
			np++;
		else
			rf_after_apply(r, bt, t, pubs[np].ok);
	}
	if (np >= LB_PUBFORK_MIN && rf_split_pass(r, bt, pubs, np)) {
		free(pubs);
		return;
	}
	rf_publish_here(r, bt, pubs, np);
	free(pubs);
}

void rf_trim(void)
{
	/* A big pass holds every target's items at once and frees them between the targets'
	 * new held blocks, and its state save and audit lines take buffers of 100s of KiB:
	 * without this the heap keeps their free holes resident (measured: RSS 2.6 -> 3.8 KiB
	 * per target at 1,000 after a split pass). */
	malloc_trim(0);
}

/* One round over the batch's ready wants; false when none could be applied. */
static bool apply_round(lb_refresh *r, struct batch *bt)
{
	size_t n = 0;
	bool any = false;

	for (size_t i = 0; i < bt->nwants; i++)
		n += applicable(r, &bt->wants[i]);
	if (n >= LB_PUBFORK_MIN && !r->split) {
		apply_big(r, bt, n);
		return true;
	}
	for (size_t i = 0; i < bt->nwants && bt->nready; i++) {
		struct want *w = &bt->wants[i];
		if (!applicable(r, w))
			continue;
		w->done = true;
		bt->nready--;
		apply_want(r, bt, w);
		any = true;
	}
	return any;
}

/* Targets that publish before their batch is over (their sources answered, others are still
 * out) are saved together after this long: answers that trickle in from a network store do
 * not each rewrite the whole state. A batch that completes saves at once. */
#define SETTLE_MS 100

static void settle(lb_refresh *r)
{
	r->unsettled = false;
	lb_timer_disarm(r->settle_timer);
	if (r->o.settled)
		r->o.settled(r->o.owner);
	arm_retry(r);
}

static void on_settle(lb_loop *loop, lb_timer *timer, void *ctx)
{
	lb_refresh *r = ctx;

	(void)loop;
	(void)timer;
	if (r->unsettled && !r->stopping)
		settle(r);
	if (r->trim) {
		r->trim = false;
		rf_trim();
	}
}

/* Publishes every target of the batch whose slots have all answered, and frees the batch
 * once its last slot is in. Completions that arrive meanwhile (a store answering from inside
 * a publish) only record: the loop below picks their targets up. */
static void batch_progress(struct batch *bt)
{
	lb_refresh *r = bt->r;
	bool applied = false;

	if (bt->busy)
		return;
	bt->busy = true;
	lb_audit_hold(); /* one write for the deliver lines of the whole pass */
	while (bt->nready && !r->stopping && apply_round(r, bt))
		applied = true;
	lb_audit_release();
	bt->busy = false;
	if (applied)
		r->unsettled = true;
	/* With a publisher child out, the state is saved once, when its share is committed: then
	 * right after the pass is answered (rf_resume), not before. */
	if (!r->stopping && !bt->splits) {
		if (bt->pending == 0 && r->resuming)
			lb_timer_arm(r->settle_timer, 1);
		else if (bt->pending == 0)
			settle(r); /* as every batch did before targets published on their own */
		else if (r->unsettled && !lb_timer_armed(r->settle_timer))
			lb_timer_arm(r->settle_timer, SETTLE_MS);
	}
	/* Wants still ready are targets a publisher child holds: the batch stays for
	 * rf_resume (freed here, a rotate within a child's write window was lost for the
	 * child's targets until their next periodic refresh — found in review, session 5). */
	if (bt->pending == 0 && !bt->splits && bt->nready == 0) {
		bool big = bt->nwants >= LB_PUBFORK_MIN;
		batch_free(bt);
		if (big && r->resuming)
			r->trim = true; /* after the state save (on_settle) */
		else if (big)
			rf_trim(); /* after its state save too (settled) */
	}
}

void rf_resume(lb_refresh *r, struct batch *done)
{
	size_t n = 0, k = 0;
	struct batch **all;

	r->unsettled = true;
	for (struct batch *b = r->batches; b; b = b->next)
		n++;
	all = calloc(n + 1, sizeof(struct batch *));
	for (struct batch *b = r->batches; all && b; b = b->next)
		if (b != done)
			all[k++] = b;
	/* Wants of other batches whose targets the child had: applied now. Each batch is
	 * looked up again: progressing one may free it (and only it). */
	r->resuming = true;
	for (size_t i = 0; i < k; i++)
		for (struct batch *b = r->batches; b; b = b->next)
			if (b == all[i]) {
				if (b->nready)
					batch_progress(b);
				break;
			}
	free(all);
	/* The state save and the generation GC (the settled hook: 20 ms and up to 480 ms of
	 * lockboxd's CPU with 10,000 targets) come at the next turn of the loop, after the
	 * waiters' answers (secret put, rotate) are out. */
	r->resuming = true;
	batch_progress(done); /* frees it when its slots are all in */
	r->resuming = false;
	if (!r->split)
		rf_run_waiters(r);
}

static void on_fetched(void *ctx, lb_fetch_result *res)
{
	struct slot *s = ctx;
	struct batch *bt = s->batch;

	s->done = true;
	s->res.status = res->status;
	s->res.structured = res->structured;
	s->res.not_after = res->not_after;
	s->res.keep = res->keep;
	memcpy(s->res.version, res->version, sizeof(res->version));
	memcpy(s->res.error, res->error, sizeof(res->error));
	if (res->status == 0 && !res->keep) {
		s->res.value = lb_secbuf_dup(res->value->data, res->value->len);
		if (!s->res.value) {
			s->res.status = -1;
			snprintf(s->res.error, sizeof(s->res.error), "out of secure memory");
		}
	}
	for (size_t i = 0; i < s->nwaiting; i++)
		if (--bt->wants[s->waiting[i]].pending == 0)
			bt->nready++;
	bt->pending--;
	batch_progress(bt);
}

/* Want wi waits on slot s too. NULL when out of memory. */
static struct slot *slot_join(struct batch *bt, struct slot *s, size_t wi)
{
	size_t *grown;

	if (s->nwaiting && s->waiting[s->nwaiting - 1] == wi)
		return s;			      /* two fields of one source */
	if ((s->nwaiting & (s->nwaiting - 1)) == 0) { /* 0, 1, 2, 4, ...: full */
		grown = realloc(s->waiting, (s->nwaiting ? 2 * s->nwaiting : 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		s->waiting = grown;
	}
	s->waiting[s->nwaiting++] = wi;
	bt->wants[wi].pending++;
	return s;
}

/* The batch's slot for the source (made if new), with want wi waiting on it. NULL when out
 * of memory: that secret is then "not fetched in this pass". */
static struct slot *slot_add(struct batch *bt, size_t *cap, const lb_source *src, size_t wi)
{
	char key[1024];
	struct want *w = &bt->wants[wi];
	struct slot *s;

	slot_key(bt->r, src, w->name, key, sizeof(key));
	s = slot_by_key(bt, key);
	if (!s) {
		if (bt->nslots == *cap) {
			/* No fetch is launched yet, so no slot pointer is out. */
			struct slot *more = realloc(bt->slots, 2 * *cap * sizeof(*more));
			if (!more)
				return NULL;
			memset(more + *cap, 0, *cap * sizeof(*more));
			bt->slots = more;
			*cap *= 2;
		}
		s = &bt->slots[bt->nslots];
		json_object_set_new(bt->index, key, json_integer((json_int_t)bt->nslots));
		lb_source_key(src, s->source, sizeof(s->source));
		if (strchr(key, '\n'))
			snprintf(s->target, sizeof(s->target), "%s", w->name);
		// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): lb_refresh_run checked slots
		s->src = *src;
		s->src.field[0] = '\0';
		s->batch = bt;
		bt->nslots++;
	}
	return slot_join(bt, s, wi);
}

/* The slots of one binding's secrets, as the previous want of the same binding got them:
 * targets of a binding come one after the other, and a slot keyed by its source alone (not
 * a leased store's, not a template's) is the same for all of them. No key formatted and
 * looked up per secret per target (27 ms of 10,000 targets' pass). */
struct slot_memo {
	const lb_binding *bd;
	size_t *slot; /* per secret: slot number + 1, 0 = look it up */
	size_t cap;
};

static void memo_for(struct slot_memo *m, const lb_binding *bd)
{
	if (bd == m->bd)
		return;
	m->bd = NULL;
	if (!bd || !bd->nsecrets)
		return;
	if (bd->nsecrets > m->cap) {
		size_t *grown = realloc(m->slot, bd->nsecrets * sizeof(size_t));
		if (!grown)
			return; /* no memo: every secret is looked up */
		m->slot = grown;
		m->cap = bd->nsecrets;
	}
	memset(m->slot, 0, bd->nsecrets * sizeof(size_t));
	m->bd = bd;
}

/* Secret j of want wi's binding (memo_for'd) waits on its slot k. */
static struct slot *slot_of_secret(struct batch *bt, size_t *cap, struct slot_memo *m,
				   const lb_secret_spec *sp, size_t j, size_t k, size_t wi)
{
	bool memo = m->bd && !sp->tmpl && lb_secret_nsources(sp) == 1;
	struct slot *s;

	if (memo && m->slot[j])
		return slot_join(bt, &bt->slots[m->slot[j] - 1], wi);
	s = slot_add(bt, cap, lb_secret_source(sp, k), wi);
	if (memo && s && !s->target[0])
		m->slot[j] = (size_t)(s - bt->slots) + 1;
	return s;
}

/* Refresh the named targets (all when names is NULL). */
void lb_refresh_run(lb_refresh *r, const char *const *names, size_t nnames, const char *reason)
{
	struct batch *bt = calloc(1, sizeof(*bt));
	size_t cap_slots = 8, nt = 0, nrefs = 0;
	lb_target *const *ts = r->o.targets(r->o.owner, &nt);
	struct slot_memo memo = {0};

	if (!bt)
		return;
	bt->r = r;
	bt->seq = ++r->last_seq;
	bt->index = json_object();
	bt->next = r->batches;
	r->batches = bt;
	snprintf(bt->reason, sizeof(bt->reason), "%s", reason);
	if (!names)
		nnames = nt;
	bt->wants = calloc(nnames + 1, sizeof(*bt->wants));
	for (size_t i = 0; bt->wants && i < nnames; i++) {
		const char *nm = names ? names[i] : ts[i]->name;
		snprintf(bt->wants[bt->nwants++].name, LB_NAME_MAX + 1, "%s", nm);
	}
	/* Slots grow with the distinct sources: sized for every secret of every target, a
	 * pass over 1,000 targets would take megabytes for the few it really fetches. */
	bt->slots = calloc(cap_slots, sizeof(*bt->slots));
	if (!bt->wants || !bt->slots || !bt->index) {
		batch_free(bt);
		return;
	}
	for (size_t i = 0; i < bt->nwants; i++) {
		const lb_binding *bd = rf_binding_of(r, target_by_name(r, bt->wants[i].name));

		bt->wants[i].ref0 = nrefs;
		bt->wants[i].nref = bd ? bd->nsecrets : 0;
		nrefs += bt->wants[i].nref;
	}
	bt->refs = calloc(nrefs + 1, sizeof(*bt->refs));
	for (size_t i = 0; i < bt->nwants; i++) {
		lb_target *t = target_by_name(r, bt->wants[i].name);
		const lb_binding *bd = rf_binding_of(r, t);

		if (t)
			t->asked_batch = bt->seq;
		memo_for(&memo, bd);
		for (size_t j = 0; bd && j < bd->nsecrets; j++) {
			const lb_secret_spec *sp = &bd->secrets[j];
			for (size_t k = 0; k < lb_secret_nsources(sp); k++) {
				struct slot *s = slot_of_secret(bt, &cap_slots, &memo, sp, j, k, i);
				/* A template's sources are found through tpl_slot. */
				if (s && !sp->tmpl && bt->refs && j < bt->wants[i].nref)
					bt->refs[bt->wants[i].ref0 + j] =
					    (size_t)(s - bt->slots) + 1;
			}
		}
		if (bt->wants[i].pending == 0)
			bt->nready++;
	}
	free(memo.slot);
	bt->pending = bt->nslots;
	bt->busy = true;
	for (size_t i = 0; i < bt->nslots; i++) {
		struct slot *s = &bt->slots[i];
		lb_store *st = r->o.store(r->o.owner, s->src.store);
		if (st) {
			lb_store_fetch(st, &s->src, s->target, on_fetched, s);
		} else {
			lb_fetch_result res = {.status = -1};
			snprintf(res.error, sizeof(res.error), "store %s is not open",
				 s->src.store);
			on_fetched(s, &res);
		}
	}
	bt->busy = false;
	batch_progress(bt);
}

void lb_refresh_list(lb_refresh *r, json_t *names, const char *reason)
{
	size_t n = json_array_size(names), i;
	const char **v = calloc(n + 1, sizeof(*v));
	json_t *x;

	if (!v)
		return;
	json_array_foreach (names, i, x)
		v[i] = json_string_value(x);
	if (n)
		lb_refresh_run(r, v, n, reason);
	free(v);
}

static void on_retry(lb_loop *loop, lb_timer *timer, void *ctx)
{
	lb_refresh *r = ctx;
	_cleanup_json_ json_t *names = json_array();
	uint64_t now = lb_now_ms();
	size_t nt = 0;
	lb_target *const *ts = r->o.targets(r->o.owner, &nt);

	(void)loop;
	(void)timer;
	for (size_t i = 0; i < nt; i++) {
		lb_target *t = ts[i];
		/* The retry is the probe: not due again while its fetch is out (a network
		 * store answers later); its outcome sets the next one. */
		if (lb_backoff_gate(&t->retry, now) != LB_BACKOFF_PROBE)
			continue;
		json_array_append_new(names, json_string(t->name));
	}
	lb_refresh_list(r, names, "retry");
	arm_retry(r);
}

lb_refresh *lb_refresh_new(lb_loop *loop, const lb_refresh_owner *owner, lb_secret_hashes *hashes)
{
	lb_refresh *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->loop = loop;
	r->o = *owner;
	r->hashes = hashes;
	r->retry_timer = lb_timer_new(loop, on_retry, r);
	r->settle_timer = lb_timer_new(loop, on_settle, r);
	if (!r->retry_timer || !r->settle_timer) {
		lb_timer_free(r->retry_timer);
		lb_timer_free(r->settle_timer);
		free(r);
		return NULL;
	}
	return r;
}

void lb_refresh_stop(lb_refresh *r)
{
	if (!r)
		return;
	r->stopping = true;
	rf_split_finish(r); /* its targets' state committed, its audit lines written */
	rf_run_waiters(r);
}

void lb_refresh_free(lb_refresh *r)
{
	struct batch *bt;

	if (!r)
		return;
	lb_refresh_stop(r);
	while ((bt = r->batches)) {
		r->batches = bt->next; /* off the list before batch_free frees it */
		batch_free(bt);
	}
	lb_timer_free(r->retry_timer);
	lb_timer_free(r->settle_timer);
	free(r);
}
