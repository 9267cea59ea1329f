/* Configuration changes: stores opened (or carried over) for a config, static targets
 * mounted and removed, binding timers, and SIGHUP's reload. */
#include "broker_priv.h"
#include "docker.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "worker.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
			if (broker_binding_of(b, b->targets[j]->name) == &b->cfg->bindings[i])
				json_array_append_new(names, json_string(b->targets[j]->name));
	}
	lb_refresh_list(b->refresh, names, "refresh");
}

void broker_stop_binding_timers(lb_broker *b)
{
	for (size_t i = 0; b->binding_timers && i < b->cfg->nbindings; i++)
		lb_timer_free(b->binding_timers[i]);
	free(b->binding_timers);
	b->binding_timers = NULL;
}

int broker_start_binding_timers(lb_broker *b)
{
	b->binding_timers = calloc(b->cfg->nbindings + 1, sizeof(lb_timer *));
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

	if (lb_broker_target(b, target))
		lb_broker_refresh_target(b, target, "store");
}

/* True when old store j is already carried over to one of the first n new stores. */
static bool carried(const size_t *from, size_t n, size_t j)
{
	for (size_t k = 0; k < n; k++)
		if (from[k] == j + 1)
			return true;
	return false;
}

lb_store **broker_open_stores(lb_broker *b, lb_config *cfg, lb_store **old, size_t nold, lb_err *e)
{
	lb_store **s = calloc(cfg->nstores + 1, sizeof(lb_store *));
	lb_store_env env = {.loop = b->loop,
			    .state_dirfd = b->state_dirfd,
			    .http = b->http,
			    .request_refresh = store_wants_refresh,
			    .owner = b};

	size_t *from = calloc(cfg->nstores + 1, sizeof(*from)); /* old index + 1, 0 = new */

	if (!s || !from) {
		free(s);
		free(from);
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	}
	/* Each old store is carried over to at most one new one. */
	for (size_t i = 0; i < cfg->nstores; i++)
		for (size_t j = 0; j < nold && !from[i]; j++)
			if (old[j] && !carried(from, i, j) &&
			    strcmp(old[j]->name, cfg->stores[i].name) == 0 &&
			    json_equal(old[j]->cfg->opts, cfg->stores[i].opts))
				from[i] = j + 1;
	/* Network stores run in the unprivileged worker (issue 15), started with the first. */
	for (size_t i = 0; i < cfg->nstores && !b->worker && lb_worker_enabled(); i++)
		if (lb_worker_runs(cfg->stores[i].type) &&
		    !(b->worker = lb_worker_start(b->loop, b->state_dirfd, e))) {
			free(s);
			free(from);
			return NULL;
		}
	/* Open the new ones first: if one fails, old is untouched and keeps running. */
	for (size_t i = 0; i < cfg->nstores; i++) {
		if (from[i])
			continue;
		s[i] = b->worker && lb_worker_runs(cfg->stores[i].type)
			   ? lb_worker_store_open(b->worker, &cfg->stores[i], &env, e)
			   : lb_store_open(&cfg->stores[i], &env, e);
		if (!s[i]) {
			for (size_t j = 0; j < i; j++)
				lb_store_close(s[j]);
			free(s);
			free(from);
			return NULL;
		}
	}
	for (size_t i = 0; i < cfg->nstores; i++) {
		if (!from[i])
			continue;
		s[i] = old[from[i] - 1];
		old[from[i] - 1] = NULL;
		s[i]->cfg = &cfg->stores[i];
	}
	free(from);
	return s;
}

void broker_close_stores(lb_store **s, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		lb_store_close(s[i]);
	free(s);
}

void broker_release_target(lb_broker *b, const char *name)
{
	for (size_t i = 0; i < b->cfg->nstores; i++)
		lb_store_release(b->stores[i], name);
}

static int cmp_target_ptr(const void *a, const void *b)
{
	const lb_target *const *x = a, *const *y = b;
	uintptr_t p = (uintptr_t)*x, q = (uintptr_t)*y;

	return (p > q) - (p < q);
}

/* Is t one of the n targets of set (sorted by address when sorted is true)? */
static bool in_set(lb_target *const *set, size_t n, bool sorted, const lb_target *t)
{
	if (sorted)
		return bsearch(&t, set, n, sizeof(lb_target *), cmp_target_ptr) != NULL;
	for (size_t i = 0; i < n; i++)
		if (set[i] == t)
			return true;
	return false;
}

int broker_sync_targets(lb_broker *b, lb_config *cfg, lb_err *e)
{
	lb_target **next = calloc(cfg->ntargets + b->ntargets + 1, sizeof(lb_target *));
	lb_target **gone = calloc(b->ntargets + 1, sizeof(lb_target *));
	lb_target **sorted;
	size_t n = 0, ngone = 0, nstatic;

	if (!next || !gone) {
		free(next);
		free(gone);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < cfg->ntargets; i++) {
		lb_target *t = lb_broker_target(b, cfg->targets[i].name);
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
		/* Its consumer's ids, as this config says, for the next publish. */
		t->uid = cfg->targets[i].uid;
		t->gid = cfg->targets[i].gid;
		if (lb_target_set_maps(t, cfg->targets[i].uid_map, cfg->targets[i].gid_map, e))
			lb_log(LB_ERROR, "%s", e->msg); /* its old maps stay */
		next[n++] = t;
	}
	/* Which of the running targets the new config keeps: a search in the sorted set, not a
	 * scan of it per target (10,000 x 10,000 compares on a reload). */
	nstatic = n;
	sorted = malloc((nstatic + 1) * sizeof(lb_target *));
	if (sorted) { /* out of memory: the scan */
		memcpy(sorted, next, nstatic * sizeof(lb_target *));
		qsort(sorted, nstatic, sizeof(lb_target *), cmp_target_ptr);
	}
	for (size_t i = 0; i < b->ntargets; i++) {
		if (b->targets[i]->dynamic) {
			next[n++] = b->targets[i]; /* Docker volumes are not in the config */
			continue;
		}
		if (!in_set(sorted ? sorted : next, nstatic, sorted != NULL, b->targets[i]))
			gone[ngone++] = b->targets[i];
	}
	free(sorted);
	/* The new set is in place before any target goes: nothing that runs meanwhile (a
	 * store's release) finds a freed target by name. */
	free(b->targets);
	b->targets = next;
	b->ntargets = n;
	broker_reindex(b);
	for (size_t i = 0; i < ngone; i++) {
		char name[LB_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", gone[i]->name);
		broker_release_target(b, name);
		lb_refresh_forget(b->refresh, gone[i]);
		if (lb_target_destroy(gone[i], b->tdirfd, b->cfg->run_dir, e))
			lb_log(LB_ERROR, "%s", e->msg);
		lb_audit("target_removed", json_pack("{s:s}", "target", name));
	}
	free(gone);
	return 0;
}

static int remove_stale_entry(int dirfd, const char *name, void *arg)
{
	lb_broker *b = arg;
	lb_err e = {0};

	(void)dirfd;
	if (name[0] == '.' || lb_config_target(b->cfg, name) || lb_broker_target(b, name) ||
	    lb_docker_claims(b->docker, name))
		return 0;
	broker_release_target(b, name);
	if (lb_target_remove_stale(b->tdirfd, b->cfg->run_dir, name, &e))
		lb_log(LB_ERROR, "%s", e.msg);
	else
		lb_audit("target_removed",
			 json_pack("{s:s,s:s}", "target", name, "reason", "not in config"));
	return 0;
}

void broker_remove_stale(lb_broker *b)
{
	lb_err e = {0};

	if (lb_dir_each(b->tdirfd, ".", remove_stale_entry, b, &e))
		lb_log(LB_ERROR, "targets: %s", e.msg);
}

int lb_broker_reload(lb_broker *b, lb_diag *d)
{
	lb_config *next = lb_config_load(b->config_path, d);
	lb_store **stores, **old_stores;
	lb_err e = {0};
	lb_config *old;

	if (!next) {
		lb_audit("reload_failed",
			 json_pack("{s:s,s:i}", "config", b->config_path, "errors", (int)d->n));
		for (size_t i = 0; i < d->n; i++)
			lb_log(LB_ERROR, "reload: %s", d->lines[i]);
		return -1;
	}
	if (strcmp(next->run_dir, b->cfg->run_dir) != 0 ||
	    strcmp(next->state_dir, b->cfg->state_dir) != 0) {
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
	stores = broker_open_stores(b, next, b->stores, b->cfg->nstores, &e);
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
	/* A publisher child still writing part of a pass holds that pass's bindings (names,
	 * secrets) of the config about to be freed: its outcome is applied under it first. It
	 * writes for milliseconds; its deadline bounds this wait. */
	lb_refresh_settle(b->refresh);
	broker_stop_binding_timers(b);
	/* The config and its stores change together, before any old store closes: nothing
	 * reaches a closed store through b->stores, and every lookup sees one config. */
	old = b->cfg;
	old_stores = b->stores;
	b->cfg = next;
	b->stores = stores;
	if (broker_sync_targets(b, next, &e))
		lb_log(LB_ERROR, "reload: %s", e.msg);
	broker_start_binding_timers(b);
	lb_audit("reload",
		 json_pack("{s:s,s:i}", "config", b->config_path, "targets", (int)b->ntargets));
	lb_refresh_run(b->refresh, NULL, 0, "reload");
	/* Stores that are gone complete their outstanding fetches with an error as they close.
	 * Those older batches apply under the new config; the reload batch is newer, so they
	 * schedule no retries and never replace what it publishes. */
	broker_close_stores(old_stores, old->nstores);
	lb_config_free(old);
	return 0;
}
