#include "broker.h"
#include "docker.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "sealed.h"
#include "secret_hash.h"
#include "state.h"
#include "units.h"

#include <dirent.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct lb_broker {
	lb_loop *loop;
	lb_config *cfg;
	char *config_path;
	int run_dirfd, state_dirfd, tdirfd;
	lb_store **stores; /* parallel to cfg->stores */
	lb_target **targets;
	size_t ntargets;
	json_t *target_index;
	lb_timer **binding_timers; /* parallel to cfg->bindings */
	lb_timer *gc_timer;
	lb_timer *retry_timer;
	lb_control *ctl;
	lb_http *http;
	struct lb_docker *docker;
	lb_secret_hashes *hashes;
	struct batch *batches; /* in flight */
	bool stopping;
	time_t started;
};

/* One refresh pass: every distinct source of the targets is fetched once, then each target
 * gets a new generation if anything it holds changed. */
struct slot {
	char source[700];	      /* STORE:PATH[?version=N], as the manifest names it */
	char target[LB_NAME_MAX + 1]; /* for per-target (leased) stores, else "" */
	lb_source src;
	bool done;
	lb_fetch_result res;
	struct batch *batch;
};

struct batch {
	lb_broker *b;
	char reason[32];
	char (*names)[LB_NAME_MAX + 1];
	size_t nnames;
	struct slot *slots;
	size_t nslots;
	json_t *index; /* slot key -> slot number */
	size_t pending;
	bool launching;
	struct batch *next; /* in-flight batches of the broker */
};

static lb_store *store_by_name(lb_broker *b, const char *name)
{
	for (size_t i = 0; i < b->cfg->nstores; i++)
		if (strcmp(b->cfg->stores[i].name, name) == 0)
			return b->stores[i];
	return NULL;
}

static lb_target *target_by_name(lb_broker *b, const char *name)
{
	json_t *i = json_object_get(b->target_index, name);

	return i && (size_t)json_integer_value(i) < b->ntargets ? b->targets[json_integer_value(i)]
								: NULL;
}

/* After any change to b->targets: name -> position, so lookups stay O(1) with 1,000s. */
static void reindex(lb_broker *b)
{
	json_object_clear(b->target_index);
	for (size_t i = 0; i < b->ntargets; i++)
		json_object_set_new(b->target_index, b->targets[i]->name,
				    json_integer((json_int_t)i));
}

static const lb_binding *binding_of(lb_broker *b, const char *target)
{
	const lb_target_cfg *tc = lb_config_target(b->cfg, target);
	const lb_target *t;

	if (tc)
		return tc->binding;
	t = target_by_name(b, target);
	return t && t->dynamic ? lb_config_binding(b->cfg, t->binding) : NULL;
}

static void save_state(lb_broker *b)
{
	lb_err e = {0};

	if (lb_state_save(b->state_dirfd, b->targets, b->ntargets, &e))
		lb_log(LB_ERROR, "cannot save state: %s", e.msg);
}

static void arm_gc(lb_broker *b)
{
	uint64_t next = 0;

	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_binding *bd = binding_of(b, b->targets[i]->name);
		uint64_t n = lb_target_gc(b->targets[i], bd ? bd->grace_ms : 0);
		if (n && (!next || n < next))
			next = n;
	}
	if (next)
		lb_timer_arm(b->gc_timer, next);
}

static void on_gc(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	arm_gc(ctx);
}

/* A slot is one fetch: per source, or per (source, target) for leased stores. */
static void slot_key(lb_broker *b, const lb_source *src, const char *target, char *buf, size_t cap)
{
	lb_store *st = store_by_name(b, src->store);

	lb_source_key(src, buf, cap);
	if (st && st->ops->per_target)
		snprintf(buf + strlen(buf), cap - strlen(buf), "\n%s", target);
}

static struct slot *slot_by_key(struct batch *bt, const char *key)
{
	json_t *i = json_object_get(bt->index, key);

	return i ? &bt->slots[json_integer_value(i)] : NULL;
}

static void audit_failure(const char *event, const char *target, const char *secret,
			  const char *source, const char *reason)
{
	lb_audit(event, json_pack("{s:s,s:s?,s:s?,s:s}", "target", target, "secret", secret,
				  "source", source, "reason", reason));
}

/* The bytes a secret of a target gets from a fetched value: the value itself (shared by
 * every target, no copy) unless a field must be picked, which makes a new buffer (*owned). */
static int select_value(const struct slot *s, const lb_source *src, const lb_secbuf **value,
			lb_secbuf **owned, lb_err *e)
{
	if (!s->res.structured && !src->field[0]) {
		*value = s->res.value;
		return 0;
	}
	if (lb_store_select_field(&s->res, src, owned, e))
		return -1;
	*value = *owned;
	return 0;
}

/* Builds and publishes the next generation of one target from the batch's results.
 * Returns false when something failed and the target should be retried. */
static bool apply_to_target(lb_broker *b, struct batch *bt, lb_target *t)
{
	const lb_target_cfg *tc = lb_config_target(b->cfg, t->name);
	const lb_binding *bd = tc ? tc->binding : NULL;
	lb_publish_item *items = NULL;
	lb_secbuf **values = NULL;
	_cleanup_json_ json_t *changed = json_array();
	size_t n = 0, nchanged = 0, nwritten = 0; /* written: new bytes, not just a new expiry */
	uint32_t huid, hgid;
	lb_err e = {0};
	bool ok = false;

	if (t->dynamic) {
		bd = lb_config_binding(b->cfg, t->binding);
		if (!t->ready)
			return true; /* populated once its container runs */
	}
	if (!bd)
		return true;
	if (tc) {
		t->uid = tc->uid;
		t->gid = tc->gid;
		snprintf(t->uid_map, sizeof(t->uid_map), "%s", tc->uid_map ? tc->uid_map : "");
		snprintf(t->gid_map, sizeof(t->gid_map), "%s", tc->gid_map ? tc->gid_map : "");
	}
	if (lb_target_host_ids(t, &huid, &hgid, &e)) {
		audit_failure("refresh_failed", t->name, NULL, NULL, e.msg);
		return false;
	}
	items = calloc(bd->nsecrets + 1, sizeof(*items));
	values = calloc(bd->nsecrets + 1, sizeof(*values));
	if (!items || !values)
		goto out;
	ok = true;
	for (size_t i = 0; i < bd->nsecrets; i++) {
		const lb_secret_spec *sp = &bd->secrets[i];
		char key[1024];
		struct slot *s;
		lb_publish_item *it = &items[n];

		slot_key(b, &sp->src, t->name, key, sizeof(key));
		s = slot_by_key(bt, key);
		it->name = sp->name;
		it->mode = sp->mode;
		it->source = s ? s->source : NULL;
		if (s && s->res.status == 0 && s->res.keep) {
			/* The store vouches for the file the target already has. */
			json_t *cur = json_object_get(t->current, sp->name);
			const char *cv = json_string_value(json_object_get(cur, "version"));
			const char *cs = json_string_value(json_object_get(cur, "source"));

			if (cv && cs && strcmp(cs, s->source) == 0) {
				it->version = cv;
				it->not_after = s->res.not_after;
				if (json_integer_value(json_object_get(cur, "not_after")) !=
				    s->res.not_after)
					nchanged++; /* same file, new expiry: a new manifest */
				n++;
				continue;
			}
			snprintf(e.msg, sizeof(e.msg), "store kept no file for %s", sp->name);
		} else if (s && s->res.status == 0 &&
			   (lb_target_unchanged(t, sp->name, s->res.version, s->source,
						s->res.not_after, sp->mode, huid, hgid) ||
			    select_value(s, &sp->src, &it->value, &values[n], &e) == 0)) {
			it->version = s->res.version;
			it->not_after = s->res.not_after;
			if (it->value) {
				nchanged++;
				nwritten++;
				json_array_append_new(
				    changed, json_pack("{s:s,s:s,s:s}", "name", sp->name, "version",
						       it->version, "source", it->source));
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
		/* Keep the last good file of this name, if there is one. */
		{
			json_t *cur = json_object_get(t->current, sp->name);
			if (!cur)
				continue;
			it->version = json_string_value(json_object_get(cur, "version"));
			it->source = json_string_value(json_object_get(cur, "source"));
			it->not_after = json_integer_value(json_object_get(cur, "not_after"));
			it->mode = (unsigned)json_integer_value(json_object_get(cur, "mode"));
			if (it->version && it->source)
				n++;
		}
	}
	/* The gate holds before the first byte, at every rotation and at every refresh (a
	 * reload may have tightened the policy). */
	if (t->dynamic && !lb_docker_admit(b->docker, t))
		goto out;
	if (nchanged == 0 && t->generation && n == json_object_size(t->current))
		goto out; /* nothing changed: no write */
	if (n == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (items[i].value && !lb_secret_hashes_contains(b->hashes, items[i].value->data,
								 items[i].value->len))
			lb_secret_hashes_add(b->hashes, items[i].value->data, items[i].value->len,
					     &e);
	if (lb_target_publish(t, items, n, &e)) {
		audit_failure("publish_failed", t->name, NULL, NULL, e.msg);
		ok = false;
		goto out;
	}
	if (t->dynamic)
		lb_docker_published(b->docker, t, nwritten > 0);
	lb_audit("deliver",
		 json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:O}", "target", t->name, "binding", bd->name,
			   "generation", (json_int_t)t->generation, "uid", (json_int_t)huid, "gid",
			   (json_int_t)hgid, "reason", bt->reason, "changed", changed));
out:
	for (size_t i = 0; values && i < bd->nsecrets; i++)
		lb_secbuf_free(values[i]);
	free(values);
	free(items);
	return ok;
}

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS   60000

static void arm_retry(lb_broker *b)
{
	uint64_t next = 0, now = lb_now_ms();

	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_target *t = b->targets[i];
		if (t->retry_ms && (!next || t->retry_at < next))
			next = t->retry_at;
	}
	if (next)
		lb_timer_arm(b->retry_timer, next > now ? next - now : 1);
}

/* Capped exponential backoff per target, never beyond the binding's own refresh. */
static void schedule_retry(lb_broker *b, lb_target *t)
{
	const lb_binding *bd = binding_of(b, t->name);
	uint64_t cap = bd && bd->refresh_ms < RETRY_MAX_MS ? bd->refresh_ms : RETRY_MAX_MS;

	t->retry_ms = t->retry_ms ? t->retry_ms * 2 : RETRY_FIRST_MS;
	if (t->retry_ms > cap)
		t->retry_ms = cap;
	t->retry_at = lb_now_ms() + t->retry_ms;
}

static void batch_free(struct batch *bt)
{
	for (struct batch **p = &bt->b->batches; *p; p = &(*p)->next)
		if (*p == bt) {
			*p = bt->next;
			break;
		}
	json_decref(bt->index);
	for (size_t i = 0; i < bt->nslots; i++)
		lb_fetch_result_clear(&bt->slots[i].res);
	free(bt->slots);
	free(bt->names);
	free(bt);
}

static void batch_complete(struct batch *bt)
{
	lb_broker *b = bt->b;

	if (b->stopping) {
		batch_free(bt);
		return;
	}
	for (size_t i = 0; i < bt->nnames; i++) {
		lb_target *t = target_by_name(b, bt->names[i]);
		if (!t)
			continue;
		if (apply_to_target(b, bt, t))
			t->retry_ms = 0;
		else
			schedule_retry(b, t);
	}
	save_state(b);
	arm_gc(b);
	arm_retry(b);
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
	if (--bt->pending == 0 && !bt->launching)
		batch_complete(bt);
}

/* Refresh the named targets (all when names is NULL). */
static void refresh(lb_broker *b, const char *const *names, size_t nnames, const char *reason)
{
	struct batch *bt = calloc(1, sizeof(*bt));
	size_t cap_slots = 8;

	if (!bt)
		return;
	bt->b = b;
	bt->index = json_object();
	bt->next = b->batches;
	b->batches = bt;
	snprintf(bt->reason, sizeof(bt->reason), "%s", reason);
	if (!names)
		nnames = b->ntargets;
	bt->names = calloc(nnames + 1, sizeof(*bt->names));
	for (size_t i = 0; bt->names && i < nnames; i++) {
		const char *nm = names ? names[i] : b->targets[i]->name;
		snprintf(bt->names[bt->nnames++], LB_NAME_MAX + 1, "%s", nm);
	}
	/* Slots grow with the distinct sources: sized for every secret of every target, a
	 * pass over 1,000 targets would take megabytes for the few it really fetches. */
	bt->slots = calloc(cap_slots, sizeof(*bt->slots));
	if (!bt->names || !bt->slots || !bt->index) {
		batch_free(bt);
		return;
	}
	for (size_t i = 0; i < bt->nnames; i++) {
		const lb_binding *bd = binding_of(b, bt->names[i]);
		for (size_t j = 0; bd && j < bd->nsecrets; j++) {
			struct slot *s;
			char key[1024];

			slot_key(b, &bd->secrets[j].src, bt->names[i], key, sizeof(key));
			if (slot_by_key(bt, key))
				continue;
			if (bt->nslots == cap_slots) {
				/* No fetch is launched yet, so no slot pointer is out. */
				struct slot *grown =
				    realloc(bt->slots, 2 * cap_slots * sizeof(*grown));
				if (!grown)
					break;
				memset(grown + cap_slots, 0, cap_slots * sizeof(*grown));
				bt->slots = grown;
				cap_slots *= 2;
			}
			s = &bt->slots[bt->nslots];
			json_object_set_new(bt->index, key, json_integer((json_int_t)bt->nslots));
			lb_source_key(&bd->secrets[j].src, s->source, sizeof(s->source));
			if (strchr(key, '\n'))
				snprintf(s->target, sizeof(s->target), "%s", bt->names[i]);
			s->src = bd->secrets[j].src;
			s->src.field[0] = '\0';
			s->batch = bt;
			bt->nslots++;
		}
	}
	bt->pending = bt->nslots;
	bt->launching = true;
	for (size_t i = 0; i < bt->nslots; i++) {
		struct slot *s = &bt->slots[i];
		lb_store *st = store_by_name(b, s->src.store);
		if (st) {
			lb_store_fetch(st, &s->src, s->target, on_fetched, s);
		} else {
			lb_fetch_result r = {.status = -1};
			snprintf(r.error, sizeof(r.error), "store %s is not open", s->src.store);
			on_fetched(s, &r);
		}
	}
	bt->launching = false;
	if (bt->pending == 0)
		batch_complete(bt);
}

void lb_broker_refresh_all(lb_broker *b, const char *reason)
{
	refresh(b, NULL, 0, reason);
}

/* Targets whose binding reads source (store, path); any version. */
static json_t *targets_using(lb_broker *b, const char *store, const char *path)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_binding *bd = binding_of(b, b->targets[i]->name);
		for (size_t j = 0; bd && j < bd->nsecrets; j++)
			if (strcmp(bd->secrets[j].src.store, store) == 0 &&
			    strcmp(bd->secrets[j].src.path, path) == 0) {
				json_array_append_new(arr, json_string(b->targets[i]->name));
				break;
			}
	}
	return arr;
}

static void refresh_list(lb_broker *b, json_t *names, const char *reason)
{
	size_t n = json_array_size(names), i;
	const char **v = calloc(n + 1, sizeof(*v));
	json_t *x;

	if (!v)
		return;
	json_array_foreach (names, i, x)
		v[i] = json_string_value(x);
	if (n)
		refresh(b, v, n, reason);
	free(v);
}

static void on_binding_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	lb_broker *b = ctx;
	_cleanup_json_ json_t *names = json_array();

	(void)loop;
	for (size_t i = 0; i < b->cfg->nbindings; i++) {
		if (b->binding_timers[i] != t)
			continue;
		lb_timer_arm(t, b->cfg->bindings[i].refresh_ms);
		for (size_t j = 0; j < b->ntargets; j++)
			if (binding_of(b, b->targets[j]->name) == &b->cfg->bindings[i])
				json_array_append_new(names, json_string(b->targets[j]->name));
	}
	refresh_list(b, names, "refresh");
}

static void on_retry(lb_loop *loop, lb_timer *timer, void *ctx)
{
	lb_broker *b = ctx;
	_cleanup_json_ json_t *names = json_array();
	uint64_t now = lb_now_ms();

	(void)loop;
	(void)timer;
	for (size_t i = 0; i < b->ntargets; i++) {
		lb_target *t = b->targets[i];
		if (!t->retry_ms || t->retry_at > now)
			continue;
		/* Not due again while this retry's fetch is out (a network store answers
		 * later); its outcome sets the next retry_at. */
		t->retry_at = now + t->retry_ms;
		json_array_append_new(names, json_string(t->name));
	}
	refresh_list(b, names, "retry");
	arm_retry(b);
}

static void stop_binding_timers(lb_broker *b)
{
	for (size_t i = 0; b->binding_timers && i < b->cfg->nbindings; i++)
		lb_timer_free(b->binding_timers[i]);
	free(b->binding_timers);
	b->binding_timers = NULL;
}

static int start_binding_timers(lb_broker *b)
{
	b->binding_timers = calloc(b->cfg->nbindings + 1, sizeof(*b->binding_timers));
	if (!b->binding_timers)
		return -1;
	for (size_t i = 0; i < b->cfg->nbindings; i++) {
		b->binding_timers[i] = lb_timer_new(b->loop, on_binding_timer, b);
		if (!b->binding_timers[i])
			return -1;
		lb_timer_arm(b->binding_timers[i], b->cfg->bindings[i].refresh_ms);
	}
	return 0;
}

static void store_wants_refresh(void *owner, const char *target)
{
	lb_broker *b = owner;

	if (target_by_name(b, target))
		lb_broker_refresh_target(b, target, "store");
}

/* Stores for cfg. A store whose configuration did not change is carried over from old
 * (same session, token and leases); old[i] is then set to NULL so that it is not closed. */
static lb_store **open_stores(lb_broker *b, lb_config *cfg, lb_store **old, size_t nold, lb_err *e)
{
	lb_store **s = calloc(cfg->nstores + 1, sizeof(*s));
	lb_store_env env = {.loop = b->loop,
			    .state_dirfd = b->state_dirfd,
			    .http = b->http,
			    .request_refresh = store_wants_refresh,
			    .owner = b};

	for (size_t i = 0; s && i < cfg->nstores; i++) {
		for (size_t j = 0; j < nold && !s[i]; j++)
			if (old[j] && strcmp(old[j]->name, cfg->stores[i].name) == 0 &&
			    json_equal(old[j]->cfg->opts, cfg->stores[i].opts)) {
				s[i] = old[j];
				s[i]->cfg = &cfg->stores[i];
				old[j] = NULL;
			}
		if (!s[i])
			s[i] = lb_store_open(&cfg->stores[i], &env, e);
		if (!s[i]) {
			for (size_t j = 0; j < i; j++)
				lb_store_close(s[j]);
			free(s);
			return NULL;
		}
	}
	return s;
}

static void close_stores(lb_store **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		lb_store_close(s[i]);
	free(s);
}

/* Every store drops what it holds for the target (leases are revoked). */
static void release_target(lb_broker *b, const char *name)
{
	for (size_t i = 0; i < b->cfg->nstores; i++)
		lb_store_release(b->stores[i], name);
}

/* Mount the targets of cfg (reusing live ones), unmount those that cfg no longer has. */
static int sync_targets(lb_broker *b, lb_config *cfg, lb_err *e)
{
	lb_target **next = calloc(cfg->ntargets + b->ntargets + 1, sizeof(*next));
	size_t n = 0;

	if (!next)
		return lb_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < cfg->ntargets; i++) {
		lb_target *t = target_by_name(b, cfg->targets[i].name);
		if (!t) {
			t = lb_target_open(b->tdirfd, cfg->targets[i].name,
					   cfg->targets[i].binding->size, e);
			if (!t) {
				lb_log(LB_ERROR, "%s", e->msg);
				continue;
			}
			lb_log(LB_INFO, "target %s: tmpfs ready at generation %llu", t->name,
			       (unsigned long long)t->generation);
		}
		next[n++] = t;
	}
	for (size_t i = 0; i < b->ntargets; i++) {
		bool kept = false;

		if (b->targets[i]->dynamic) {
			next[n++] = b->targets[i]; /* Docker volumes are not in the config */
			continue;
		}
		for (size_t j = 0; j < n && !kept; j++)
			kept = next[j] == b->targets[i];
		if (!kept) {
			char name[LB_NAME_MAX + 1];
			snprintf(name, sizeof(name), "%s", b->targets[i]->name);
			release_target(b, name);
			if (lb_target_destroy(b->targets[i], b->tdirfd, b->cfg->run_dir, e))
				lb_log(LB_ERROR, "%s", e->msg);
			lb_audit("target_removed", json_pack("{s:s}", "target", name));
		}
	}
	free(b->targets);
	b->targets = next;
	b->ntargets = n;
	reindex(b);
	return 0;
}

/* Entries of RUN_DIR/t that no configured target claims are left by an earlier config. */
static void remove_stale(lb_broker *b)
{
	int fd = openat(b->tdirfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	_cleanup_dir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		lb_err e = {0};
		if (de->d_name[0] == '.' || lb_config_target(b->cfg, de->d_name) ||
		    target_by_name(b, de->d_name) || lb_docker_claims(b->docker, de->d_name))
			continue;
		release_target(b, de->d_name);
		if (lb_target_remove_stale(b->tdirfd, b->cfg->run_dir, de->d_name, &e))
			lb_log(LB_ERROR, "%s", e.msg);
		else
			lb_audit("target_removed", json_pack("{s:s,s:s}", "target", de->d_name,
							     "reason", "not in config"));
	}
}

/* --- control commands --- */

__attribute__((format(printf, 1, 2))) static json_t *reply_error(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

static json_t *target_json(lb_broker *b, const lb_target *t)
{
	const lb_binding *bd = binding_of(b, t->name);
	uint32_t hu = 0, hg = 0;
	lb_err e;
	json_t *o =
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:O?}", "name", t->name, "binding", bd ? bd->name : "",
		      "uid", (json_int_t)t->uid, "gid", (json_int_t)t->gid, "generation",
		      (json_int_t)t->generation, "secrets", t->current);

	if (lb_target_host_ids(t, &hu, &hg, &e) == 0) {
		json_object_set_new(o, "host_uid", json_integer(hu));
		json_object_set_new(o, "host_gid", json_integer(hg));
	}
	return o;
}

static lb_sealed *sealed_for(lb_broker *b, json_t *req, const char **store_name)
{
	const char *want = json_string_value(json_object_get(req, "store"));

	for (size_t i = 0; i < b->cfg->nstores; i++) {
		lb_sealed *s = lb_store_sealed(b->stores[i]);
		if (s && (!want || strcmp(want, b->cfg->stores[i].name) == 0)) {
			*store_name = b->cfg->stores[i].name;
			return s;
		}
	}
	return NULL;
}

static json_t *cmd_secret(lb_broker *b, const char *cmd, json_t *req)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	const char *store_name = NULL;
	lb_sealed *s = sealed_for(b, req, &store_name);
	lb_err e = {0};
	json_t *users;

	if (!s)
		return reply_error("no sealed store%s in the configuration", "");
	if (strcmp(cmd, "secret-list") == 0) {
		json_t *list = lb_sealed_list(s, &e);
		return list ? json_pack("{s:b,s:s,s:o}", "ok", 1, "store", store_name, "secrets",
					list)
			    : reply_error("%s", e.msg);
	}
	if (!name || !lb_sealed_name_valid(name))
		return reply_error("bad or missing secret name \"%s\"", name ? name : "");
	if (strcmp(cmd, "secret-put") == 0) {
		json_t *v = json_object_get(req, "value");
		_cleanup_secbuf_ lb_secbuf *val = NULL;
		size_t len = 0;
		uint32_t version;

		if (!json_is_string(v))
			return reply_error("secret %s: missing value", name);
		val = lb_secbuf_new(json_string_length(v));
		if (!val || sodium_base642bin(val->data, val->len, json_string_value(v),
					      json_string_length(v), NULL, &len, NULL,
					      sodium_base64_VARIANT_ORIGINAL) != 0)
			return reply_error("secret %s: value is not valid base64", name);
		val->len = len;
		if (lb_sealed_put(s, name, val, &version, &e))
			return reply_error("%s", e.msg);
		lb_audit("secret_put", json_pack("{s:s,s:s,s:i}", "store", store_name, "secret",
						 name, "version", (int)version));
		users = targets_using(b, store_name, name);
		refresh_list(b, users, "secret-put");
		return json_pack("{s:b,s:s,s:i,s:o}", "ok", 1, "name", name, "version",
				 (int)version, "rotated", users);
	}
	if (lb_sealed_rm(s, name, &e))
		return reply_error("%s", e.msg);
	lb_audit("secret_rm", json_pack("{s:s,s:s}", "store", store_name, "secret", name));
	users = targets_using(b, store_name, name);
	if (json_array_size(users))
		lb_log(LB_WARN,
		       "secret %s removed from store %s; targets keep their last good copy until "
		       "the binding stops naming it",
		       name, store_name);
	refresh_list(b, users, "secret-rm");
	return json_pack("{s:b,s:s,s:o}", "ok", 1, "name", name, "still_held_by", users);
}

static json_t *handle(void *ctx, json_t *req, uint64_t id)
{
	lb_broker *b = ctx;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	if (!cmd)
		return reply_error("missing \"cmd\"%s", "");
	if (strcmp(cmd, "status") == 0) {
		json_t *stores = json_array();
		for (size_t i = 0; i < b->cfg->nstores; i++) {
			json_t *h = lb_store_health(b->stores[i]);
			json_object_set_new(h, "name", json_string(b->cfg->stores[i].name));
			json_object_set_new(h, "type", json_string(b->cfg->stores[i].type));
			json_array_append_new(stores, h);
		}
		return json_pack("{s:b,s:s,s:i,s:I,s:s,s:s,s:i,s:o}", "ok", 1, "version",
				 LOCKBOX_VERSION, "pid", (int)getpid(), "started",
				 (json_int_t)b->started, "config", b->config_path, "run_dir",
				 b->cfg->run_dir, "targets", (int)b->ntargets, "stores", stores);
	}
	if (strcmp(cmd, "targets") == 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < b->ntargets; i++)
			json_array_append_new(arr, target_json(b, b->targets[i]));
		return json_pack("{s:b,s:o}", "ok", 1, "targets", arr);
	}
	if (strcmp(cmd, "reload") == 0) {
		lb_diag d = {0};
		json_t *errs = json_array();
		int rc = lb_broker_reload(b, &d);
		for (size_t i = 0; i < d.n; i++)
			json_array_append_new(errs, json_string(d.lines[i]));
		lb_diag_free(&d);
		return json_pack("{s:b,s:o}", "ok", rc == 0, "errors", errs);
	}
	if (strcmp(cmd, "rotate") == 0) {
		const char *target = json_string_value(json_object_get(req, "target"));
		json_t *names = json_array();
		if (target && !target_by_name(b, target)) {
			json_decref(names);
			return reply_error("no target named \"%s\"", target);
		}
		for (size_t i = 0; i < b->ntargets; i++)
			if (!target || strcmp(target, b->targets[i]->name) == 0)
				json_array_append_new(names, json_string(b->targets[i]->name));
		refresh_list(b, names, "rotate");
		return json_pack("{s:b,s:o}", "ok", 1, "rotated", names);
	}
	if (strcmp(cmd, "audit") == 0) {
		json_t *which = json_object_get(req, "containers");
		if (!b->docker)
			return reply_error(
			    "audit needs a \"docker\" section in the configuration%s", "");
		if (which && !json_is_array(which))
			return reply_error("\"containers\" must be a list%s", "");
		lb_docker_audit(b->docker, which, b->ctl, id);
		return NULL;
	}
	if (strncmp(cmd, "secret-", 7) == 0 &&
	    (strcmp(cmd, "secret-put") == 0 || strcmp(cmd, "secret-rm") == 0 ||
	     strcmp(cmd, "secret-list") == 0))
		return cmd_secret(b, cmd, req);
	return reply_error("unknown command \"%s\"", cmd);
}

/* --- for the Docker module --- */

lb_target *lb_broker_target(lb_broker *b, const char *name)
{
	return target_by_name(b, name);
}

lb_target *lb_broker_add_dynamic(lb_broker *b, const char *name, const char *binding, lb_err *e)
{
	const lb_binding *bd = lb_config_binding(b->cfg, binding);
	lb_target *t = target_by_name(b, name), **grown;

	if (t)
		return t;
	if (!bd)
		return lb_fail(e, 0, "unknown binding \"%s\"", binding), NULL;
	if (lb_config_target(b->cfg, name))
		return lb_fail(e, 0, "\"%s\" is the name of a static target", name), NULL;
	grown = realloc(b->targets, (b->ntargets + 1) * sizeof(*grown));
	if (!grown)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	b->targets = grown;
	t = lb_target_open(b->tdirfd, name, bd->size, e);
	if (!t)
		return NULL;
	t->dynamic = true;
	snprintf(t->binding, sizeof(t->binding), "%s", binding);
	b->targets[b->ntargets++] = t;
	reindex(b);
	return t;
}

void lb_broker_drop_dynamic(lb_broker *b, const char *name, const char *reason)
{
	lb_err e = {0};

	for (size_t i = 0; i < b->ntargets; i++) {
		if (strcmp(b->targets[i]->name, name) != 0 || !b->targets[i]->dynamic)
			continue;
		release_target(b, name);
		if (lb_target_destroy(b->targets[i], b->tdirfd, b->cfg->run_dir, &e))
			lb_log(LB_ERROR, "%s", e.msg);
		memmove(b->targets + i, b->targets + i + 1,
			(b->ntargets - i - 1) * sizeof(*b->targets));
		b->ntargets--;
		reindex(b);
		lb_audit("target_removed",
			 json_pack("{s:s,s:s}", "target", name, "reason", reason));
		save_state(b);
		return;
	}
}

void lb_broker_refresh_target(lb_broker *b, const char *name, const char *reason)
{
	const char *names[1] = {name};

	refresh(b, names, 1, reason);
}

const lb_config *lb_broker_cfg(lb_broker *b)
{
	return b->cfg;
}

int lb_broker_run_dirfd(lb_broker *b)
{
	return b->run_dirfd;
}

int lb_broker_state_dirfd(lb_broker *b)
{
	return b->state_dirfd;
}

lb_http *lb_broker_http(lb_broker *b)
{
	return b->http;
}

lb_loop *lb_broker_loop(lb_broker *b)
{
	return b->loop;
}

struct lb_secret_hashes *lb_broker_hashes(lb_broker *b)
{
	return b->hashes;
}

/* --- lifecycle --- */

static int open_dirs(lb_broker *b, lb_err *e)
{
	b->run_dirfd = lb_open_dir_path(b->cfg->run_dir, true, 0711, e);
	if (b->run_dirfd < 0)
		return -1;
	b->state_dirfd = lb_open_dir_path(b->cfg->state_dir, true, 0700, e);
	if (b->state_dirfd < 0)
		return -1;
	if (mkdirat(b->run_dirfd, LB_TARGETS_SUBDIR, 0711) < 0 && errno != EEXIST)
		return lb_fail_errno(e, "mkdir %s/%s", b->cfg->run_dir, LB_TARGETS_SUBDIR);
	b->tdirfd = lb_open_dir_at(b->run_dirfd, LB_TARGETS_SUBDIR, e);
	if (b->tdirfd < 0)
		return -1;
	/* Consumers on the host walk RUN_DIR/t/NAME: both levels need search permission. */
	if (fchmod(b->run_dirfd, 0711) < 0 || fchmod(b->tdirfd, 0711) < 0)
		return lb_fail_errno(e, "chmod %s", b->cfg->run_dir);
	if (lb_audit_open(b->state_dirfd) < 0)
		return lb_fail_errno(e, "open %s/audit.jsonl", b->cfg->state_dir);
	return 0;
}

lb_broker *lb_broker_new(lb_loop *loop, lb_config *cfg, const char *config_path, lb_err *e)
{
	lb_broker *b = calloc(1, sizeof(*b));

	if (!b) {
		lb_config_free(cfg);
		return NULL;
	}
	b->loop = loop;
	b->cfg = cfg;
	b->config_path = strdup(config_path);
	b->run_dirfd = b->state_dirfd = b->tdirfd = -1;
	b->target_index = json_object();
	b->started = time(NULL);
	if (open_dirs(b, e))
		goto fail;
	b->http = lb_http_new(loop, e);
	b->hashes = lb_secret_hashes_new(e);
	if (!b->http || !b->hashes)
		goto fail;
	b->stores = open_stores(b, cfg, NULL, 0, e);
	if (!b->stores)
		goto fail;
	b->gc_timer = lb_timer_new(loop, on_gc, b);
	b->retry_timer = lb_timer_new(loop, on_retry, b);
	if (cfg->docker_socket) {
		b->docker = lb_docker_new(b, e);
		if (!b->docker)
			goto fail;
	}
	remove_stale(b);
	if (sync_targets(b, cfg, e) || start_binding_timers(b))
		goto fail;
	refresh(b, NULL, 0, "start");
	b->ctl = lb_control_listen(loop, b->run_dirfd, cfg->run_dir, handle, b, e);
	if (!b->ctl)
		goto fail;
	return b;
fail:
	lb_broker_free(b);
	return NULL;
}

int lb_broker_reload(lb_broker *b, lb_diag *d)
{
	lb_config *next = lb_config_load(b->config_path, d);
	lb_store **stores;
	lb_err e = {0};
	lb_config *old;

	if (!next) {
		lb_audit("reload_failed",
			 json_pack("{s:s,s:i}", "config", b->config_path, "errors", (int)d->n));
		for (size_t i = 0; i < d->n; i++)
			lb_log(LB_ERROR, "reload: %s", d->lines[i]);
		return -1;
	}
	if (strcmp(next->run_dir, b->cfg->run_dir) || strcmp(next->state_dir, b->cfg->state_dir)) {
		char line[300];
		char **grown = realloc(d->lines, (d->n + 1) * sizeof(*d->lines));
		snprintf(line, sizeof(line),
			 "%s: run_dir and state_dir cannot change on reload "
			 "(restart lockboxd)",
			 b->config_path);
		if (grown) {
			d->lines = grown;
			d->lines[d->n++] = strdup(line);
		}
		lb_log(LB_ERROR, "reload: %s", line);
		lb_config_free(next);
		return -1;
	}
	stores = open_stores(b, next, b->stores, b->cfg->nstores, &e);
	if (!stores) {
		char **grown = realloc(d->lines, (d->n + 1) * sizeof(*d->lines));
		if (grown) {
			d->lines = grown;
			d->lines[d->n++] = strdup(e.msg);
		}
		lb_log(LB_ERROR, "reload: %s", e.msg);
		lb_config_free(next);
		return -1;
	}
	/* Stores that are gone complete their outstanding fetches with an error as they
	 * close; those batches apply to the old config, which is still in place here. */
	stop_binding_timers(b);
	close_stores(b->stores, b->cfg->nstores);
	b->stores = stores;
	old = b->cfg;
	if (sync_targets(b, next, &e))
		lb_log(LB_ERROR, "reload: %s", e.msg);
	b->cfg = next;
	lb_config_free(old);
	start_binding_timers(b);
	lb_audit("reload",
		 json_pack("{s:s,s:i}", "config", b->config_path, "targets", (int)b->ntargets));
	refresh(b, NULL, 0, "reload");
	return 0;
}

void lb_broker_shutdown(lb_broker *b)
{
	save_state(b);
	lb_audit("stop", json_pack("{s:i}", "targets", (int)b->ntargets));
}

void lb_broker_free(lb_broker *b)
{
	if (!b)
		return;
	lb_control_close(b->ctl);
	stop_binding_timers(b);
	lb_timer_free(b->gc_timer);
	lb_timer_free(b->retry_timer);
	lb_docker_free(b->docker);
	b->stopping = true; /* batches completed by closing stores only free themselves */
	close_stores(b->stores, b->cfg ? b->cfg->nstores : 0);
	while (b->batches)
		batch_free(b->batches);
	lb_http_free(b->http);
	lb_secret_hashes_free(b->hashes);
	for (size_t i = 0; i < b->ntargets; i++)
		lb_target_free(b->targets[i]);
	free(b->targets);
	json_decref(b->target_index);
	if (b->tdirfd >= 0)
		close(b->tdirfd);
	if (b->run_dirfd >= 0)
		close(b->run_dirfd);
	if (b->state_dirfd >= 0)
		close(b->state_dirfd);
	lb_audit_close();
	lb_config_free(b->cfg);
	free(b->config_path);
	free(b);
}
