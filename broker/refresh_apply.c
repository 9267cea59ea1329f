/* One target's next generation from a batch's results (refresh.c runs the batches): which
 * secrets changed, the bytes each gets, the publish and its audit line. */
#include "refresh_priv.h"
#include "cleanup.h"
#include "log.h"
#include "metrics.h"
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The batch whose answer a target's file of that secret holds (0 = none, or from before
 * this broker started). */
static uint64_t held_from(const lb_target *t, const char *secret)
{
	const lb_held *h = lb_target_held(t, secret);

	return lb_target_held_batch(t, h);
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
	it->batch = lb_target_held_batch(t, cur);
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
	struct slot *s = rf_slot_for(tc->bt, src, tc->target);

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

enum rf_prep rf_prepare(lb_refresh *r, struct batch *bt, const struct want *w, lb_target *t,
			struct pub *p)
{
	const lb_binding *bd = rf_binding_of(r, t);
	size_t n = 0, nchanged = 0;
	lb_err e = {0};

	memset(p, 0, sizeof(*p));
	p->t = t;
	p->bd = bd;
	p->ok = true;
	if ((t->dynamic && !t->ready) || !bd)
		return RF_DONE; /* populated once its container runs */
	if (lb_target_host_ids(t, &p->huid, &p->hgid, &e)) {
		audit_failure("refresh_failed", t->name, NULL, NULL, e.msg);
		p->ok = false;
		return RF_DONE;
	}
	p->errors = t->dynamic ? json_object() : NULL;
	p->items = calloc(bd->nsecrets + 1, sizeof(*p->items));
	p->values = calloc(bd->nsecrets + 1, sizeof(lb_secbuf *));
	if (!p->items || !p->values) {
		p->ok = false;
		goto done;
	}
	for (size_t i = 0; i < bd->nsecrets; i++) {
		const lb_secret_spec *sp = &bd->secrets[i];
		char key[1024];
		struct tpl_ctx tc = {.bt = bt, .target = t->name};
		struct slot *s = sp->tmpl ? tpl_slot(&p->tpl, bd->nsecrets, i, &tc, sp)
					  : rf_slot_of_want(bt, w, i, &sp->src, t->name);
		lb_publish_item *it = &p->items[n];

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
						s->res.not_after, sp->mode, p->huid, p->hgid) ||
			    select_value(s, sp, &tc, &it->value, &p->values[n], &e) == 0)) {
			it->version = s->res.version;
			it->not_after = s->res.not_after;
			it->batch = bt->seq;
			if (it->value) {
				nchanged++;
				p->nwritten++;
				hash_value(r, s, it->value);
				lb_jsonw_raw(&p->changed,
					     p->changed.len ? ",{\"name\":" : "{\"name\":");
				lb_jsonw_str(&p->changed, sp->name);
				lb_jsonw_raw(&p->changed, ",\"version\":");
				lb_jsonw_str(&p->changed, it->version);
				lb_jsonw_raw(&p->changed, ",\"source\":");
				lb_jsonw_str(&p->changed, it->source);
				lb_jsonw_raw(&p->changed, "}");
			}
			n++;
			continue;
		}
		p->ok = false;
		lb_source_key(&sp->src, key, sizeof(key));
		if (!s || s->res.status == 0)
			audit_failure("fetch_failed", t->name, sp->name, key,
				      s ? e.msg : "not fetched in this pass");
		else
			audit_failure("fetch_failed", t->name, sp->name, key, s->res.error);
		if (p->errors)
			json_object_set_new(p->errors, sp->name,
					    json_string(s && s->res.status ? s->res.error
							: s		   ? e.msg
							    : "not fetched in this pass"));
		/* Keep the last good file of this name, if there is one. */
		if (keep_current(t, it))
			n++;
	}
	p->n = n;
	/* The gate holds before the first byte, at every rotation and at every refresh (a
	 * reload may have tightened the policy). */
	if (t->dynamic && r->o.admit && !r->o.admit(r->o.owner, t)) {
		p->ok = false;
		goto done;
	}
	if (nchanged == 0 && t->generation && n == t->nheld) {
		/* Nothing changed: no write; the files now hold this batch's answers. */
		for (size_t i = 0; i < n; i++)
			if (p->items[i].batch == bt->seq)
				lb_target_note_batch(t, p->items[i].name, bt->seq);
		goto done;
	}
	if (n == 0)
		goto done;
	p->started = lb_metrics_now();
	return RF_PUBLISH;
done:
	rf_finish(r, bt, p, 1, NULL);
	return RF_DONE;
}

void rf_pub_free(struct pub *p)
{
	for (size_t i = 0; p->values && p->bd && i < p->bd->nsecrets; i++)
		lb_secbuf_free(p->values[i]);
	free(p->values);
	free(p->items);
	free(p->tpl);
	lb_jsonw_free(&p->changed);
	json_decref(p->errors);
	p->values = NULL;
	p->items = NULL;
	p->tpl = NULL;
	p->errors = NULL;
}

bool rf_finish(lb_refresh *r, struct batch *bt, struct pub *p, int rc, const lb_err *e)
{
	lb_target *t = p->t;
	const lb_binding *bd = p->bd;
	lb_err se = {0};

	if (!bd)
		return p->ok;
	if (rc < 0) {
		audit_failure("publish_failed", t->name, NULL, NULL, e->msg);
		p->ok = false;
		p->started = 0;
	} else if (rc == 0) {
		lb_metric_observe(LB_M_PUBLISH_SECONDS, lb_metrics_now() - p->started, bd->name);
		if (t->dynamic && r->o.published)
			r->o.published(r->o.owner, t, p->nwritten > 0);
		audit_deliver(t, bd, bt->reason, p->huid, p->hgid, &p->changed);
	}
	/* rc > 0: nothing was published (prepared only). */
	lb_metric_inc(LB_M_ROTATIONS, bd->name,
		      !p->ok			  ? "failed"
		      : rc == 0 && p->started > 0 ? "published"
						  : "unchanged");
	/* Docker targets: why a secret is missing, where the container's client looks. */
	if (t->dynamic && lb_target_status(t, bd, p->errors, &se))
		lb_log(LB_WARN, "%s", se.msg);
	rf_pub_free(p);
	return p->ok;
}

void rf_publish_here(lb_refresh *r, struct batch *bt, struct pub *pubs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		lb_err e = {0};
		lb_target *t = pubs[i].t;
		int rc = lb_target_publish_as(t, pubs[i].items, pubs[i].n, pubs[i].huid,
					      pubs[i].hgid, &e);
		rf_after_apply(r, bt, t, rf_finish(r, bt, &pubs[i], rc, &e));
	}
}
