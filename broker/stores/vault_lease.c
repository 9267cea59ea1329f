/* The vault provider's leases (see vault.h): any mount that is not KV is leased, one lease
 * per (target, path), renewed at 2/3 of its duration, rotated at its rotate point when it
 * cannot grow, revoked on release, and its id (never its value) persisted in
 * state_dir/vault-STORE.json so that a restarted broker renews or revokes it. A lease lives
 * no longer than the token it was taken with (Vault revokes it with the token): after a
 * login brings a new token, the old token's leases are orphaned and their targets rotated
 * at once, so that no target keeps a lease its token no longer backs. */
#include "vault.h"
#include "metrics.h"
#include "backoff.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STATE_CAP    (8 * 1024 * 1024)
#define MIN_TIMER_MS 1000

struct lease {
	char target[LB_NAME_MAX + 1];
	char path[512];
	char id[600];
	char version[64];
	int64_t expire, ttl, rotate_at; /* Unix seconds, seconds, Unix seconds */
	bool renewable, capped, retiring, reading, released;
	bool rotate_due;  /* its rotate point passed: the next fetch reads new credentials */
	bool orphaned;	  /* taken with a token the store replaced: the next fetch replaces it */
	unsigned gen;	  /* the credential generation (lb_nst_cred_gen) it was taken with */
	lb_secbuf *value; /* NULL for a lease restored from state_dir */
	lb_timer *timer;
	lb_nst_waitq waiters;
	lb_nst *ns;
	struct lease *next;
};

struct revoke {
	char id[600];
	char path[512];
	char target[LB_NAME_MAX + 1];
	int64_t expire;
	bool busy;
	struct revoke *next;
};

struct vault_leases {
	struct lease *leases;
	struct revoke *revokes;
	lb_timer *revoke_timer, *persist_timer;
	bool dirty;
	int64_t orphan_end; /* the end of the last token replaced (0: unknown) */
	char state_name[128];
};

static void lease_schedule(struct lease *l);
static void revoke_start(lb_nst *ns, struct revoke *rv);

static int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

/* --- state file: lease ids, never values --- */

static void persist_now(lb_nst *ns)
{
	struct vault_leases *ls = vault_leases_of(ns);
	_cleanup_json_ json_t *root = json_object(), *la = json_array(), *rs = json_array();
	char *dump;
	lb_err e = {0};

	ls->dirty = false;
	if (!root || !la || !rs)
		return;
	for (struct lease *l = ls->leases; l; l = l->next) {
		if (!l->id[0])
			continue;
		json_array_append_new(
		    la, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:b,s:b}", "target", l->target,
				  "path", l->path, "lease_id", l->id, "version", l->version,
				  "expire", (json_int_t)l->expire, "ttl", (json_int_t)l->ttl,
				  "rotate_at", (json_int_t)l->rotate_at, "renewable", l->renewable,
				  "capped", l->capped, "retiring", l->retiring));
		if (l->orphaned)
			json_object_set_new(json_array_get(la, json_array_size(la) - 1), "orphaned",
					    json_true());
	}
	for (struct revoke *r = ls->revokes; r; r = r->next)
		json_array_append_new(rs, json_pack("{s:s,s:s,s:s,s:I}", "lease_id", r->id, "path",
						    r->path, "target", r->target, "expire",
						    (json_int_t)r->expire));
	json_object_set(root, "leases", la);
	json_object_set(root, "revoke", rs);
	dump = json_dumps(root, JSON_INDENT(1));
	if (!dump)
		return;
	if (lb_write_replace_at(lb_nst_store(ns)->env.state_dirfd, ls->state_name, dump,
				strlen(dump), 0600, &e))
		lb_log(LB_ERROR, "vault store %s: saving lease ids: %s", lb_nst_name(ns), e.msg);
	lb_json_free(dump);
}

static void on_persist_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	persist_now(ctx);
}

/* Changes of one loop iteration are written together (1,000 new leases: one write). */
static void persist_soon(lb_nst *ns)
{
	struct vault_leases *ls = vault_leases_of(ns);

	ls->dirty = true;
	if (!lb_timer_armed(ls->persist_timer))
		lb_timer_arm(ls->persist_timer, 1);
}

/* --- leases --- */

static void lease_free(struct lease *l)
{
	lb_nst_call_cancel(l->ns, l);
	lb_timer_free(l->timer);
	lb_secbuf_free(l->value);
	free(l);
}

static void lease_unlink(lb_nst *ns, struct lease *l)
{
	for (struct lease **p = &vault_leases_of(ns)->leases; *p; p = &(*p)->next)
		if (*p == l) {
			*p = l->next;
			return;
		}
}

static void lease_result(struct lease *l, lb_fetch_result *res)
{
	res->status = 0;
	res->structured = true;
	res->value = l->value;
	res->not_after = l->expire;
	snprintf(res->version, sizeof(res->version), "%s", l->version);
}

static void revoke_add(lb_nst *ns, const struct lease *l)
{
	struct vault_leases *ls = vault_leases_of(ns);
	struct revoke *rv = calloc(1, sizeof(*rv));

	if (!rv)
		return;
	snprintf(rv->id, sizeof(rv->id), "%s", l->id);
	snprintf(rv->path, sizeof(rv->path), "%s", l->path);
	snprintf(rv->target, sizeof(rv->target), "%s", l->target);
	rv->expire = l->expire;
	rv->next = ls->revokes;
	ls->revokes = rv;
	persist_soon(ns);
	revoke_start(ns, rv);
}

/* Taken with a token the store has replaced since: Vault revokes it with that token (by
 * end), so its target gets a new lease from the new token now. */
static void lease_orphan(lb_nst *ns, struct lease *l, int64_t end)
{
	l->orphaned = true;
	if (end && (!l->expire || end < l->expire))
		l->expire = end;
	if (!l->retiring) {
		lb_log(LB_INFO,
		       "vault store %s: target %s: lease of %s was taken with the token the store "
		       "replaced; new credentials now",
		       lb_nst_name(ns), l->target, l->path);
		lb_nst_request_refresh(ns, l->target);
	}
	persist_soon(ns);
}

static void on_lease_read(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	lb_vault_reply rv_ = vault_reply(nr);
	const lb_vault_reply *r = &rv_;
	struct lease *l = ctx;
	lb_nst_waitq list = l->waiters;
	lb_nst_waiter *w;
	int64_t dur = 0;
	lb_fetch_result res = {0};
	char err[400] = "";
	lb_err pe = {0};

	l->reading = false;
	l->waiters = (lb_nst_waitq){0};
	if (lb_vault_lease_parse(r, l->path, &l->value, l->id, sizeof(l->id), &dur, &l->renewable,
				 &pe) != 0)
		snprintf(err, sizeof(err), "%s", pe.msg[0] ? pe.msg : "read failed");
	if (!err[0]) {
		size_t n = strlen(l->id);
		const char *tail = n > 24 ? l->id + n - 24 : l->id;

		l->ttl = dur;
		l->gen = nr->cred_gen;
		l->expire = dur > 0 ? now_s() + dur : 0;
		l->rotate_at = dur > 0 ? now_s() + dur * 2 / 3 : 0;
		if (l->id[0])
			snprintf(l->version, sizeof(l->version), "lease-%s", tail);
		else
			vault_kv_version_hash(vault_kv_of(ns), l->value, l->version,
					      sizeof(l->version));
		if (l->id[0]) {
			lb_audit("lease_issued",
				 json_pack("{s:s,s:s,s:s,s:s,s:I}", "store", lb_nst_name(ns),
					   "target", l->target, "path", l->path, "lease_id", l->id,
					   "lease_duration", (json_int_t)dur));
			persist_soon(ns);
		}
	}
	while ((w = lb_nst_waitq_pop(&list))) {
		if (err[0]) {
			lb_nst_waiter_fail(ns, w, "%s", err);
		} else {
			lease_result(l, &res);
			lb_nst_waiter_reply(w, &res);
		}
	}
	if (err[0] || !l->id[0] || l->released) {
		/* Nothing to keep: a failed read, a secret without a lease (read again next
		 * time), or a target released while the read was in flight. */
		lease_unlink(ns, l);
		if (l->id[0] && l->released)
			revoke_add(ns, l);
		lease_free(l);
		return;
	}
	if (l->gen != lb_nst_cred_gen(ns))
		lease_orphan(ns, l, vault_leases_of(ns)->orphan_end); /* a login meanwhile */
	lease_schedule(l);
}

static void on_lease_renew(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	lb_vault_reply rv_ = vault_reply(nr);
	const lb_vault_reply *r = &rv_;
	struct lease *l = ctx;
	int64_t d = json_integer_value(json_object_get(r->json, "lease_duration"));
	int64_t expire = now_s() + d, end = vault_leases_of(ns)->orphan_end;

	lb_metric_inc(LB_M_LEASE_RENEWALS, lb_nst_name(ns),
		      r->kind == LB_VAULT_OK && d > 0 ? "ok" : "failed");
	if (r->kind == LB_VAULT_FAULT) {
		lease_schedule(l);
		return;
	}
	if (r->kind == LB_VAULT_ERR || d <= 0) {
		lb_log(LB_WARN, "vault store %s: target %s: renewing lease of %s refused: %s",
		       lb_nst_name(ns), l->target, l->path,
		       r->err[0] ? r->err : "no lease_duration");
		lb_metric_inc(LB_M_LEASES_LOST, lb_nst_name(ns));
		lb_audit("lease_lost", json_pack("{s:s,s:s,s:s,s:s,s:s}", "store", lb_nst_name(ns),
						 "target", l->target, "path", l->path, "lease_id",
						 l->id, "reason", r->err));
		/* Gone at Vault: the target gets new credentials now. */
		lb_nst_request_refresh(ns, l->target);
		lease_unlink(ns, l);
		persist_soon(ns);
		lease_free(l);
		return;
	}
	if (l->orphaned && end && expire > end)
		expire = end; /* a renewal sent before the login: it still ends with its token */
	if (d < l->ttl) {
		l->capped = true;
		lb_log(LB_INFO,
		       "vault store %s: target %s: lease of %s reaches its max TTL in %llds; new "
		       "credentials are read at 2/3 of that",
		       lb_nst_name(ns), l->target, l->path, (long long)d);
	}
	l->rotate_at = now_s() + d * 2 / 3;
	lb_audit("lease_renewed",
		 json_pack("{s:s,s:s,s:s,s:s,s:I}", "store", lb_nst_name(ns), "target", l->target,
			   "path", l->path, "lease_id", l->id, "lease_duration", (json_int_t)d));
	/* The target's manifest says when its credentials end: a moved expiry is published. */
	if (l->expire != expire) {
		l->expire = expire;
		lb_nst_request_refresh(ns, l->target);
	}
	persist_soon(ns);
	lease_schedule(l);
}

/* A lease that cannot be renewed (any more) and whose rotate point is still ahead. */
static bool lease_rotates(const struct lease *l)
{
	return !l->retiring && !l->released && !l->rotate_due && !l->orphaned &&
	       (l->capped || !l->renewable) && l->rotate_at && l->rotate_at < l->expire;
}

static void on_lease_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct lease *l = ctx;
	lb_nst *ns = l->ns;
	_cleanup_json_ json_t *body = NULL;

	(void)loop;
	(void)t;
	if (l->expire && now_s() >= l->expire) {
		/* Expired: Vault has revoked it; forget it. A target still on it (its rotation
		 * could not be fetched in time) asks again. */
		if (!l->retiring) {
			lb_metric_inc(LB_M_LEASES_LOST, lb_nst_name(ns));
			lb_nst_request_refresh(ns, l->target);
		}
		lease_unlink(ns, l);
		persist_soon(ns);
		lease_free(l);
		return;
	}
	if (lease_rotates(l) && now_s() >= l->rotate_at) {
		/* It cannot be extended: the target gets new credentials now, not at its
		 * binding's next refresh, which may come after the expiry. */
		l->rotate_due = true;
		lb_log(LB_INFO, "vault store %s: target %s: lease of %s expires in %llds; rotating",
		       lb_nst_name(ns), l->target, l->path, (long long)(l->expire - now_s()));
		lb_nst_request_refresh(ns, l->target);
		lease_schedule(l);
		return;
	}
	if (l->retiring || l->capped || !l->renewable || l->orphaned) {
		lease_schedule(l);
		return;
	}
	body = json_pack("{s:s,s:I}", "lease_id", l->id, "increment", (json_int_t)l->ttl);
	vault_call(ns, "PUT", "sys/leases/renew", body, LB_NST_CRED, on_lease_renew, l);
}

/* Renew at 2/3 of the lease, up to 10% early (jitter); a lease that cannot grow asks for
 * its target's rotation at its rotate point, then waits for its expiry, when it is
 * forgotten. */
static void lease_schedule(struct lease *l)
{
	lb_nst *ns = l->ns;
	uint64_t wait = lb_nst_backoff_wait_ms(ns);
	int64_t now = now_s();
	bool renew = !l->retiring && !l->capped && l->renewable && !l->orphaned;
	uint64_t ms;

	if (!l->timer)
		l->timer = lb_timer_new(lb_nst_store(ns)->env.loop, on_lease_timer, l);
	if (!l->timer || !l->expire)
		return;
	if (lease_rotates(l)) {
		ms = l->rotate_at > now ? (uint64_t)(l->rotate_at - now) * 1000 : 0;
	} else if (renew) {
		int64_t at = l->expire - (l->ttl > 0 ? l->ttl / 3 : 0);
		uint64_t early = l->ttl > 0 ? randombytes_uniform((uint32_t)(l->ttl * 100 + 1)) : 0;

		ms = at > now ? (uint64_t)(at - now) * 1000 : 0;
		ms = ms > early ? ms - early : 0;
	} else {
		ms = l->expire > now ? (uint64_t)(l->expire - now) * 1000 + 500 : 0;
	}
	if (wait > ms)
		ms = wait;
	if (ms < 100)
		ms = 100;
	lb_timer_arm(l->timer, ms);
}

static struct lease *lease_current(lb_nst *ns, const char *target, const char *path)
{
	for (struct lease *l = vault_leases_of(ns)->leases; l; l = l->next)
		if (!l->retiring && !l->released && strcmp(l->target, target) == 0 &&
		    strcmp(l->path, path) == 0)
			return l;
	return NULL;
}

void vault_lease_fetch(lb_nst *ns, lb_nst_waiter *w)
{
	struct vault_leases *ls = vault_leases_of(ns);
	const lb_source *src = lb_nst_waiter_src(w);
	struct lease *l = lease_current(ns, lb_nst_waiter_target(w), src->path);
	int64_t now = now_s();
	lb_fetch_result res = {0};

	if (src->version[0]) {
		lb_nst_waiter_fail(ns, w,
				   "?version= applies to KV secrets only; this is a leased secret");
		return;
	}
	if (l && l->reading) {
		lb_nst_waitq_push(&l->waiters, w);
		return;
	}
	if (l && (l->orphaned || ((l->capped || !l->renewable) &&
				  (l->rotate_due || (l->rotate_at && now >= l->rotate_at))))) {
		/* It cannot be extended (or its token is gone or going): this target gets new
		 * credentials now; the old lease stays until it expires (or is revoked with the
		 * target or its token). */
		l->retiring = true;
		lease_schedule(l);
		persist_soon(ns);
		l = NULL;
	}
	if (l && l->value) {
		lease_result(l, &res);
		lb_nst_waiter_reply(w, &res);
		return;
	}
	if (l) {
		/* Restored after a restart: Vault cannot give its value back, and the target's
		 * file from it is still good until the lease's (renewed) expiry. */
		res.keep = true;
		res.not_after = l->expire;
		snprintf(res.version, sizeof(res.version), "%s", l->version);
		lb_nst_waiter_reply(w, &res);
		return;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		lb_nst_waiter_fail(ns, w, "out of memory");
		return;
	}
	l->ns = ns;
	snprintf(l->target, sizeof(l->target), "%s", lb_nst_waiter_target(w));
	snprintf(l->path, sizeof(l->path), "%s", src->path);
	l->reading = true;
	lb_nst_waitq_push(&l->waiters, w);
	l->next = ls->leases;
	ls->leases = l;
	vault_call(ns, "GET", src->path, NULL, LB_NST_CRED, on_lease_read, l);
}

/* --- revocation --- */

static void revoke_schedule(lb_nst *ns)
{
	uint64_t ms = lb_nst_backoff_wait_ms(ns);

	if (ms < MIN_TIMER_MS)
		ms = lb_jitter_ms(MIN_TIMER_MS);
	lb_timer_arm(vault_leases_of(ns)->revoke_timer, ms);
}

static void on_revoke(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	lb_vault_reply rv_ = vault_reply(nr);
	const lb_vault_reply *r = &rv_;
	struct revoke *rv = ctx;

	rv->busy = false;
	if (r->kind == LB_VAULT_FAULT && rv->expire > now_s()) {
		revoke_schedule(ns);
		return;
	}
	lb_metric_inc(LB_M_LEASE_REVOCATIONS, lb_nst_name(ns),
		      r->kind == LB_VAULT_OK ? "ok" : "failed");
	if (r->kind == LB_VAULT_OK)
		lb_audit("lease_revoked",
			 json_pack("{s:s,s:s,s:s,s:s}", "store", lb_nst_name(ns), "target",
				   rv->target, "path", rv->path, "lease_id", rv->id));
	else
		lb_log(LB_ERROR,
		       "vault store %s: target %s: revoking lease of %s failed: %s (it expires by "
		       "itself; sys/leases/revoke needs a policy rule)",
		       lb_nst_name(ns), rv->target, rv->path, r->err);
	for (struct revoke **p = &vault_leases_of(ns)->revokes; *p; p = &(*p)->next)
		if (*p == rv) {
			*p = rv->next;
			break;
		}
	free(rv);
	persist_soon(ns);
}

static void revoke_start(lb_nst *ns, struct revoke *rv)
{
	_cleanup_json_ json_t *body = json_pack("{s:s}", "lease_id", rv->id);

	if (rv->busy)
		return;
	rv->busy = true;
	vault_call(ns, "PUT", "sys/leases/revoke", body, LB_NST_CRED, on_revoke, rv);
}

static void on_revoke_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_nst *ns = ctx;
	struct vault_leases *ls = vault_leases_of(ns);
	struct revoke *rv;

	(void)loop;
	(void)t;
	/* One at a time: each start may complete (and unlink) synchronously. */
	for (rv = ls->revokes; rv && rv->busy; rv = rv->next)
		;
	if (!rv)
		return;
	revoke_start(ns, rv);
	for (rv = ls->revokes; rv && rv->busy; rv = rv->next)
		;
	if (rv && !lb_timer_armed(ls->revoke_timer))
		lb_timer_arm(ls->revoke_timer, 1);
}

void vault_lease_release(lb_nst *ns, const char *target)
{
	for (struct lease **p = &vault_leases_of(ns)->leases; *p;) {
		struct lease *l = *p;
		if (strcmp(l->target, target) != 0) {
			p = &l->next;
			continue;
		}
		if (l->reading) {
			l->released = true; /* revoked once the read is in */
			p = &l->next;
			continue;
		}
		*p = l->next;
		if (l->id[0] && (!l->expire || l->expire > now_s()))
			revoke_add(ns, l);
		lease_free(l);
		persist_soon(ns);
	}
}

void vault_leases_orphan(lb_nst *ns, int64_t old_token_end)
{
	struct vault_leases *ls = vault_leases_of(ns);
	unsigned gen = lb_nst_cred_gen(ns);

	ls->orphan_end = old_token_end;
	for (struct lease *l = ls->leases; l; l = l->next) {
		/* A read in flight is judged when it is in (it may carry the new token). */
		if (!l->id[0] || l->reading || l->released || l->gen == gen ||
		    (l->orphaned && !old_token_end))
			continue;
		lease_orphan(ns, l, old_token_end);
		lease_schedule(l);
	}
}

void vault_leases_load(lb_nst *ns, bool same_token)
{
	struct vault_leases *ls = vault_leases_of(ns);
	_cleanup_free_ char *buf = NULL;
	_cleanup_json_ json_t *root = NULL;
	json_t *x;
	size_t i, len = 0;
	lb_err e = {0};
	int64_t now = now_s();

	if (lb_read_at(lb_nst_store(ns)->env.state_dirfd, ls->state_name, STATE_CAP, &buf, &len,
		       &e))
		return; /* first start */
	root = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(root)) {
		lb_log(LB_ERROR, "vault store %s: %s is not valid JSON; lease ids in it are lost",
		       lb_nst_name(ns), ls->state_name);
		return;
	}
	json_array_foreach (json_object_get(root, "leases"), i, x) {
		struct lease *l;
		const char *id = json_string_value(json_object_get(x, "lease_id"));
		int64_t exp = json_integer_value(json_object_get(x, "expire"));

		if (!id || !*id || (exp && exp <= now))
			continue;
		l = calloc(1, sizeof(*l));
		if (!l)
			break;
		l->ns = ns;
		snprintf(l->id, sizeof(l->id), "%s", id);
		snprintf(l->target, sizeof(l->target), "%s",
			 json_string_value(json_object_get(x, "target")) ?: "");
		snprintf(l->path, sizeof(l->path), "%s",
			 json_string_value(json_object_get(x, "path")) ?: "");
		snprintf(l->version, sizeof(l->version), "%s",
			 json_string_value(json_object_get(x, "version")) ?: "");
		l->expire = exp;
		l->ttl = json_integer_value(json_object_get(x, "ttl"));
		l->rotate_at = json_integer_value(json_object_get(x, "rotate_at"));
		l->renewable = json_is_true(json_object_get(x, "renewable"));
		l->capped = json_is_true(json_object_get(x, "capped"));
		l->retiring = json_is_true(json_object_get(x, "retiring"));
		l->orphaned = json_is_true(json_object_get(x, "orphaned"));
		/* Generation 1 is the store's first token; 0: one of the last run. */
		l->gen = same_token ? 1 : 0;
		l->next = ls->leases;
		ls->leases = l;
		/* Renew at once: the broker may have been down for most of its TTL. */
		l->timer = lb_timer_new(lb_nst_store(ns)->env.loop, on_lease_timer, l);
		if (l->timer) {
			if (l->renewable && !l->capped && !l->retiring && !l->orphaned)
				lb_timer_arm(l->timer, 1 + randombytes_uniform(200));
			else
				lease_schedule(l);
		}
	}
	json_array_foreach (json_object_get(root, "revoke"), i, x) {
		struct revoke *rv;
		const char *id = json_string_value(json_object_get(x, "lease_id"));
		int64_t exp = json_integer_value(json_object_get(x, "expire"));

		if (!id || !*id || (exp && exp <= now))
			continue;
		rv = calloc(1, sizeof(*rv));
		if (!rv)
			break;
		snprintf(rv->id, sizeof(rv->id), "%s", id);
		snprintf(rv->path, sizeof(rv->path), "%s",
			 json_string_value(json_object_get(x, "path")) ?: "");
		snprintf(rv->target, sizeof(rv->target), "%s",
			 json_string_value(json_object_get(x, "target")) ?: "");
		rv->expire = exp;
		rv->next = ls->revokes;
		ls->revokes = rv;
	}
	if (ls->revokes)
		lb_timer_arm(ls->revoke_timer, 1);
	lb_log(LB_INFO, "vault store %s: restored lease ids from %s", lb_nst_name(ns),
	       ls->state_name);
}

struct vault_leases *vault_leases_new(lb_nst *ns, const char *store_name)
{
	struct vault_leases *ls = calloc(1, sizeof(*ls));
	lb_loop *loop = lb_nst_store(ns)->env.loop;

	if (!ls)
		return NULL;
	snprintf(ls->state_name, sizeof(ls->state_name), "vault-%s.json", store_name);
	ls->revoke_timer = lb_timer_new(loop, on_revoke_timer, ns);
	ls->persist_timer = lb_timer_new(loop, on_persist_timer, ns);
	if (!ls->revoke_timer || !ls->persist_timer) {
		vault_leases_free(ls);
		return NULL;
	}
	return ls;
}

void vault_leases_free(struct vault_leases *ls)
{
	if (!ls)
		return;
	while (ls->leases) {
		struct lease *l = ls->leases;
		ls->leases = l->next;
		lb_timer_free(l->timer);
		lb_secbuf_free(l->value);
		free(l);
	}
	while (ls->revokes) {
		struct revoke *r = ls->revokes;
		ls->revokes = r->next;
		free(r);
	}
	lb_timer_free(ls->revoke_timer);
	lb_timer_free(ls->persist_timer);
	free(ls);
}

void vault_leases_close(lb_nst *ns)
{
	struct vault_leases *ls = vault_leases_of(ns);

	/* A lease whose read was in flight was never seen: nothing to keep (Vault expires it
	 * if it was issued). */
	for (struct lease **p = &ls->leases; *p;) {
		struct lease *l = *p;
		lb_nst_waitq_fail(ns, &l->waiters, "store closed");
		if (l->reading) {
			*p = l->next;
			lease_free(l);
		} else {
			p = &l->next;
		}
	}
	persist_now(ns);
}

void vault_leases_health(struct vault_leases *ls, json_t *h)
{
	size_t nleases = 0, nrevokes = 0;

	for (struct lease *l = ls->leases; l; l = l->next)
		nleases += l->id[0] != '\0';
	for (struct revoke *r = ls->revokes; r; r = r->next)
		nrevokes++;
	json_object_set_new(h, "leases", json_integer((json_int_t)nleases));
	json_object_set_new(h, "pending_revocations", json_integer((json_int_t)nrevokes));
}
