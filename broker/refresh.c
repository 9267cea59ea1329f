#include "refresh.h"
#include "metrics.h"
#include "cleanup.h"
#include "jsonw.h"
#include "log.h"
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct batch *next; /* in-flight batches of the pipeline */
};

static lb_target *target_by_name(lb_refresh *r, const char *name)
{
	return r->o.target(r->o.owner, name);
}

static const lb_binding *binding_of(lb_refresh *r, const lb_target *t)
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
static struct slot *slot_for(struct batch *bt, const lb_source *src, const char *target)
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
static struct slot *slot_of_want(struct batch *bt, const struct want *w, size_t j,
				 const lb_source *src, const char *target)
{
	size_t ref = j < w->nref ? bt->refs[w->ref0 + j] : 0;
	struct slot *s = ref ? &bt->slots[ref - 1] : NULL;

	if (s && strcmp(s->src.store, src->store) == 0 && strcmp(s->src.path, src->path) == 0 &&
	    strcmp(s->src.version, src->version) == 0)
		return s;
	return slot_for(bt, src, target);
}

/* The batch whose answer a target's file of that secret holds (0 = none, or from before
 * this broker started). */
static uint64_t held_from(const lb_target *t, const char *secret)
{
	const lb_held *h = lb_target_held(t, secret);

	return h ? h->batch : 0;
}

/* The item keeps the target's current file of its name; false if there is none. */
static bool keep_current(const lb_target *t, lb_publish_item *it)
{
	const lb_held *cur = lb_target_held(t, it->name);

	if (!cur)
		return false;
	it->value = NULL;
	it->version = cur->version;
	it->source = cur->source;
	it->not_after = cur->not_after;
	it->mode = cur->mode;
	it->batch = cur->batch;
	return true;
}

static void audit_failure(const char *event, const char *target, const char *secret,
			  const char *source, const char *reason)
{
	lb_audit(event, json_pack("{s:s,s:s?,s:s?,s:s}", "target", target, "secret", secret,
				  "source", source, "reason", reason));
}

/* A rendered secret's sources: the slots that fetched them for this target, in this batch
 * (so a template never mixes two leases or two versions). */
struct tpl_ctx {
	struct batch *bt;
	const char *target;
};

static const lb_fetch_result *tpl_source(void *ctx, const lb_source *src)
{
	struct tpl_ctx *tc = ctx;
	struct slot *s = slot_for(tc->bt, src, tc->target);

	return s && s->done ? &s->res : NULL;
}

/* Secret i's own result (render.h), without bytes, in (*tpl)[i]: made for the first template
 * of the target (the items published point into it). NULL when out of memory. */
static struct slot *tpl_slot(struct slot **tpl, size_t n, size_t i, struct tpl_ctx *tc,
			     const lb_secret_spec *sp)
{
	if (!*tpl && !(*tpl = calloc(n, sizeof(**tpl))))
		return NULL;
	lb_render_result(sp, tpl_source, tc, &(*tpl)[i].res);
	lb_source_key(&sp->src, (*tpl)[i].source, sizeof((*tpl)[i].source));
	return &(*tpl)[i];
}

/* The bytes a secret of a target gets from a fetched value: the value itself (shared by
 * every target, no copy) unless a field must be picked or a template rendered, which makes
 * a new buffer (*owned). */
static int select_value(const struct slot *s, const lb_secret_spec *sp, struct tpl_ctx *tc,
			const lb_secbuf **value, lb_secbuf **owned, lb_err *e)
{
	const lb_source *src = &sp->src;

	if (sp->tmpl) {
		if (lb_render_value(sp, tpl_source, tc, owned, e))
			return -1;
		*value = *owned;
		return 0;
	}
	if (!s->res.structured && !src->field[0]) {
		*value = s->res.value;
		return 0;
	}
	if (lb_store_select_field(&s->res, src, owned, e))
		return -1;
	*value = *owned;
	return 0;
}

/* The fetched value goes into the secret hashes (no secret byte in any log) once per slot,
 * not once per target; a field picked for one target is its own value. */
static void hash_value(lb_refresh *r, struct slot *s, const lb_secbuf *v)
{
	lb_err e = {0};

	if (v == s->res.value) {
		if (s->hashed)
			return;
		s->hashed = true;
	}
	if (!lb_secret_hashes_contains(r->hashes, v->data, v->len))
		lb_secret_hashes_add(r->hashes, v->data, v->len, &e);
}

/* Builds and publishes the next generation of one target from the batch's results.
 * Returns false when something failed and the target should be retried. */
/* The deliver audit line, written as text (core/jsonw): it is one per target per rotation. */
static void audit_deliver(const lb_target *t, const lb_binding *bd, const char *reason,
			  uint32_t huid, uint32_t hgid, const lb_jsonw *changed)
{
	lb_jsonw w = {0};

	lb_jsonw_raw(&w, "\"target\":");
	lb_jsonw_str(&w, t->name);
	lb_jsonw_raw(&w, ",\"binding\":");
	lb_jsonw_str(&w, bd->name);
	lb_jsonw_raw(&w, ",\"generation\":");
	lb_jsonw_int(&w, (int64_t)t->generation);
	lb_jsonw_raw(&w, ",\"uid\":");
	lb_jsonw_int(&w, huid);
	lb_jsonw_raw(&w, ",\"gid\":");
	lb_jsonw_int(&w, hgid);
	lb_jsonw_raw(&w, ",\"reason\":");
	lb_jsonw_str(&w, reason);
	lb_jsonw_raw(&w, ",\"changed\":[");
	lb_jsonw_raw(&w, changed->buf ? changed->buf : "");
	lb_jsonw_raw(&w, "]");
	if (!w.oom && !changed->oom)
		lb_audit_text("deliver", w.buf);
	lb_jsonw_free(&w);
}

static bool apply_to_target(lb_refresh *r, struct batch *bt, const struct want *w, lb_target *t)
{
	const lb_binding *bd = binding_of(r, t);
	lb_publish_item *items = NULL;
	lb_secbuf **values = NULL;
	struct slot *tpl = NULL; /* rendered secrets' results (tpl_slot) */
	lb_jsonw changed = {0};	 /* the deliver line's "changed" entries */
	/* Docker targets: secret -> why it failed, for their status file. */
	_cleanup_json_ json_t *errors = t->dynamic ? json_object() : NULL;
	size_t n = 0, nchanged = 0, nwritten = 0; /* written: new bytes, not just a new expiry */
	uint32_t huid, hgid;
	lb_err e = {0};
	bool ok = false;
	double published = 0; /* lb_metrics_now() when the publish began; 0 = none */

	if (t->dynamic && !t->ready)
		return true; /* populated once its container runs */
	if (!bd)
		return true;
	if (lb_target_host_ids(t, &huid, &hgid, &e)) {
		audit_failure("refresh_failed", t->name, NULL, NULL, e.msg);
		return false;
	}
	items = calloc(bd->nsecrets + 1, sizeof(*items));
	values = calloc(bd->nsecrets + 1, sizeof(lb_secbuf *));
	if (!items || !values)
		goto out;
	ok = true;
	for (size_t i = 0; i < bd->nsecrets; i++) {
		const lb_secret_spec *sp = &bd->secrets[i];
		char key[1024];
		struct tpl_ctx tc = {.bt = bt, .target = t->name};
		struct slot *s = sp->tmpl ? tpl_slot(&tpl, bd->nsecrets, i, &tc, sp)
					  : slot_of_want(bt, w, i, &sp->src, t->name);
		lb_publish_item *it = &items[n];

		it->name = sp->name;
		it->mode = sp->mode;
		it->source = s ? s->source : NULL;
		if (held_from(t, sp->name) > bt->seq) {
			/* A newer batch already published this secret: an older answer never
			 * replaces it (it may be the version a rotation just replaced), and an
			 * older failure (e.g. its store closed by a reload) is moot. */
			if (keep_current(t, it))
				n++;
			continue;
		}
		if (s && s->res.status == 0 && s->res.keep) {
			/* The store vouches for the file the target already has. */
			const lb_held *cur = lb_target_held(t, sp->name);

			if (cur && strcmp(cur->source, s->source) == 0) {
				it->version = cur->version;
				it->not_after = s->res.not_after;
				if (cur->not_after != s->res.not_after)
					nchanged++; /* same file, new expiry: a new manifest */
				it->batch = bt->seq;
				n++;
				continue;
			}
			snprintf(e.msg, sizeof(e.msg), "store kept no file for %s", sp->name);
		} else if (s && s->res.status == 0 &&
			   (lb_target_unchanged(t, sp->name, s->res.version, s->source,
						s->res.not_after, sp->mode, huid, hgid) ||
			    select_value(s, sp, &tc, &it->value, &values[n], &e) == 0)) {
			it->version = s->res.version;
			it->not_after = s->res.not_after;
			it->batch = bt->seq;
			if (it->value) {
				nchanged++;
				nwritten++;
				hash_value(r, s, it->value);
				lb_jsonw_raw(&changed, changed.len ? ",{\"name\":" : "{\"name\":");
				lb_jsonw_str(&changed, sp->name);
				lb_jsonw_raw(&changed, ",\"version\":");
				lb_jsonw_str(&changed, it->version);
				lb_jsonw_raw(&changed, ",\"source\":");
				lb_jsonw_str(&changed, it->source);
				lb_jsonw_raw(&changed, "}");
			}
			n++;
			continue;
		}
		ok = false;
		lb_source_key(&sp->src, key, sizeof(key));
		if (!s || s->res.status == 0)
			audit_failure("fetch_failed", t->name, sp->name, key,
				      s ? e.msg : "not fetched in this pass");
		else
			audit_failure("fetch_failed", t->name, sp->name, key, s->res.error);
		if (errors)
			json_object_set_new(errors, sp->name,
					    json_string(s && s->res.status ? s->res.error
							: s		   ? e.msg
							    : "not fetched in this pass"));
		/* Keep the last good file of this name, if there is one. */
		if (keep_current(t, it))
			n++;
	}
	/* The gate holds before the first byte, at every rotation and at every refresh (a
	 * reload may have tightened the policy). */
	if (t->dynamic && r->o.admit && !r->o.admit(r->o.owner, t))
		goto out;
	if (nchanged == 0 && t->generation && n == t->nheld) {
		/* Nothing changed: no write; the files now hold this batch's answers. */
		for (size_t i = 0; i < n; i++)
			if (items[i].batch == bt->seq)
				lb_target_note_batch(t, items[i].name, bt->seq);
		goto out;
	}
	if (n == 0)
		goto out;
	published = lb_metrics_now();
	if (lb_target_publish_as(t, items, n, huid, hgid, &e)) {
		audit_failure("publish_failed", t->name, NULL, NULL, e.msg);
		ok = false;
		goto out;
	}
	lb_metric_observe(LB_M_PUBLISH_SECONDS, lb_metrics_now() - published, bd->name);
	if (t->dynamic && r->o.published)
		r->o.published(r->o.owner, t, nwritten > 0);
	audit_deliver(t, bd, bt->reason, huid, hgid, &changed);
out:
	lb_metric_inc(LB_M_ROTATIONS, bd->name,
		      !ok	      ? "failed"
		      : published > 0 ? "published"
				      : "unchanged");
	/* Docker targets: why a secret is missing, where the container's client looks. */
	if (t->dynamic && lb_target_status(t, bd, errors, &e))
		lb_log(LB_WARN, "%s", e.msg);
	for (size_t i = 0; values && i < bd->nsecrets; i++)
		lb_secbuf_free(values[i]);
	free(values);
	free(items);
	free(tpl);
	lb_jsonw_free(&changed);
	return ok;
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
	const lb_binding *bd = binding_of(r, t);
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

static void apply_want(lb_refresh *r, struct batch *bt, struct want *w)
{
	lb_target *t = target_by_name(r, w->name);
	bool ok;

	if (!t)
		return;
	ok = apply_to_target(r, bt, w, t);
	/* When a newer batch asked for this target too, its outcome decides the retries. */
	if (t->asked_batch > bt->seq)
		return;
	if (ok)
		lb_backoff_reset(&t->retry);
	else
		schedule_retry(r, t);
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
	while (bt->nready && !r->stopping)
		for (size_t i = 0; i < bt->nwants && bt->nready; i++) {
			struct want *w = &bt->wants[i];
			if (w->done || w->pending)
				continue;
			w->done = true;
			bt->nready--;
			apply_want(r, bt, w);
			applied = true;
		}
	lb_audit_release();
	bt->busy = false;
	if (applied)
		r->unsettled = true;
	if (bt->pending == 0 && !r->stopping)
		settle(r); /* as every batch did before targets published on their own */
	else if (r->unsettled && !r->stopping && !lb_timer_armed(r->settle_timer))
		lb_timer_arm(r->settle_timer, SETTLE_MS);
	if (bt->pending == 0)
		batch_free(bt);
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

/* The batch's slot for the source (made if new), with want wi waiting on it. NULL when out
 * of memory: that secret is then "not fetched in this pass". */
static struct slot *slot_add(struct batch *bt, size_t *cap, const lb_source *src, size_t wi)
{
	char key[1024];
	struct want *w = &bt->wants[wi];
	struct slot *s;
	size_t *grown;

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
	if (s->nwaiting && s->waiting[s->nwaiting - 1] == wi)
		return s;			      /* two fields of one source */
	if ((s->nwaiting & (s->nwaiting - 1)) == 0) { /* 0, 1, 2, 4, ...: full */
		grown = realloc(s->waiting, (s->nwaiting ? 2 * s->nwaiting : 1) * sizeof(*grown));
		if (!grown)
			return NULL;
		s->waiting = grown;
	}
	s->waiting[s->nwaiting++] = wi;
	w->pending++;
	return s;
}

/* Refresh the named targets (all when names is NULL). */
void lb_refresh_run(lb_refresh *r, const char *const *names, size_t nnames, const char *reason)
{
	struct batch *bt = calloc(1, sizeof(*bt));
	size_t cap_slots = 8, nt = 0, nrefs = 0;
	lb_target *const *ts = r->o.targets(r->o.owner, &nt);

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
		const lb_binding *bd = binding_of(r, target_by_name(r, bt->wants[i].name));

		bt->wants[i].ref0 = nrefs;
		bt->wants[i].nref = bd ? bd->nsecrets : 0;
		nrefs += bt->wants[i].nref;
	}
	bt->refs = calloc(nrefs + 1, sizeof(*bt->refs));
	for (size_t i = 0; i < bt->nwants; i++) {
		lb_target *t = target_by_name(r, bt->wants[i].name);
		const lb_binding *bd = binding_of(r, t);

		if (t)
			t->asked_batch = bt->seq;
		for (size_t j = 0; bd && j < bd->nsecrets; j++) {
			const lb_secret_spec *sp = &bd->secrets[j];
			for (size_t k = 0; k < lb_secret_nsources(sp); k++) {
				struct slot *s =
				    slot_add(bt, &cap_slots, lb_secret_source(sp, k), i);
				/* A template's sources are found through tpl_slot. */
				if (s && !sp->tmpl && bt->refs && j < bt->wants[i].nref)
					bt->refs[bt->wants[i].ref0 + j] =
					    (size_t)(s - bt->slots) + 1;
			}
		}
		if (bt->wants[i].pending == 0)
			bt->nready++;
	}
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
	if (r)
		r->stopping = true;
}

void lb_refresh_free(lb_refresh *r)
{
	struct batch *bt;

	if (!r)
		return;
	while ((bt = r->batches)) {
		r->batches = bt->next; /* off the list before batch_free frees it */
		batch_free(bt);
	}
	lb_timer_free(r->retry_timer);
	lb_timer_free(r->settle_timer);
	free(r);
}
