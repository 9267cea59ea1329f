/* lockboxd's state: lifecycle, lookups, dynamic targets and the GC of retired generations.
 * Reloads are in reload.c, control commands in commands.c, the refresh pipeline in
 * refresh.c. */
#include "broker_priv.h"
#include "worker.h"
#include "docker.h"
#include "fsutil.h"
#include "log.h"
#include "state.h"

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static lb_store *store_by_name(lb_broker *b, const char *name)
{
	for (size_t i = 0; i < b->cfg->nstores; i++)
		if (strcmp(b->cfg->stores[i].name, name) == 0)
			return b->stores[i];
	return NULL;
}

/* Name -> target: open addressing over a table of twice the targets (a jansson object
 * took ~120 bytes per target; this takes 16). */
static size_t name_hash(const char *s)
{
	size_t h = 14695981039346656037u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211u;
	return h;
}

static lb_target *target_by_name(lb_broker *b, const char *name)
{
	size_t mask = b->tindex_cap - 1;

	if (!b->tindex) {
		for (size_t i = 0; i < b->ntargets; i++)
			if (strcmp(b->targets[i]->name, name) == 0)
				return b->targets[i];
		return NULL;
	}
	for (size_t i = name_hash(name) & mask; b->tindex[i]; i = (i + 1) & mask)
		if (strcmp(b->tindex[i]->name, name) == 0)
			return b->tindex[i];
	return NULL;
}

/* After any change to b->targets, so lookups stay O(1) with 1,000s. Out of memory, the old
 * table is kept and lookups fall back to a scan. */
void broker_reindex(lb_broker *b)
{
	size_t cap = 16, mask;
	lb_target **ix;

	while (cap < 2 * b->ntargets)
		cap *= 2;
	ix = calloc(cap, sizeof(lb_target *));
	if (!ix) {
		free(b->tindex);
		b->tindex = NULL;
		b->tindex_cap = 0;
		return;
	}
	mask = cap - 1;
	for (size_t i = 0; i < b->ntargets; i++) {
		size_t j = name_hash(b->targets[i]->name) & mask;
		while (ix[j])
			j = (j + 1) & mask;
		ix[j] = b->targets[i];
	}
	free(b->tindex);
	b->tindex = ix;
	b->tindex_cap = cap;
}

const lb_binding *broker_binding_of(lb_broker *b, const char *target)
{
	const lb_target_cfg *tc = lb_config_target(b->cfg, target);
	const lb_target *t;

	if (tc)
		return tc->binding;
	t = target_by_name(b, target);
	return t && t->dynamic ? lb_config_binding(b->cfg, t->binding) : NULL;
}

void broker_save_state(lb_broker *b)
{
	lb_err e = {0};

	if (lb_state_save(b->state_dirfd, b->targets, b->ntargets, &e))
		lb_log(LB_ERROR, "cannot save state: %s", e.msg);
}

static void arm_gc(lb_broker *b)
{
	uint64_t next = 0;
	size_t swept = 0;

	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_binding *bd = broker_binding_of(b, b->targets[i]->name);
		bool had = b->targets[i]->nretired > 0;
		uint64_t n = lb_target_gc(b->targets[i], bd ? bd->grace_ms : 0);
		if (n && (!next || n < next))
			next = n;
		swept += had && b->targets[i]->nretired == 0;
	}
	/* The retired lists freed here were allocated during the pass, between its items:
	 * their holes kept ~0.5 KiB per target resident (1,000 targets) until the next trim. */
	if (swept >= 64)
		malloc_trim(0);
	if (next)
		lb_timer_arm(b->gc_timer, next);
}

static void on_gc(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	arm_gc(ctx);
}

/* --- the refresh pipeline's view of the broker --- */

static lb_store *owner_store(void *owner, const char *name)
{
	return store_by_name(owner, name);
}

static lb_target *owner_target(void *owner, const char *name)
{
	return target_by_name(owner, name);
}

static lb_target *const *owner_targets(void *owner, size_t *n)
{
	lb_broker *b = owner;

	*n = b->ntargets;
	return b->targets;
}

static const lb_binding *owner_binding(void *owner, const lb_target *t)
{
	lb_broker *b = owner;
	const lb_target_cfg *tc = lb_config_target(b->cfg, t->name);

	if (t->dynamic)
		return lb_config_binding(b->cfg, t->binding);
	return tc ? tc->binding : NULL;
}

static bool owner_admit(void *owner, lb_target *t)
{
	return lb_docker_admit(((lb_broker *)owner)->docker, t);
}

static void owner_published(void *owner, lb_target *t, bool new_bytes)
{
	lb_docker_published(((lb_broker *)owner)->docker, t, new_bytes);
}

static void owner_settled(void *owner)
{
	broker_save_state(owner);
	arm_gc(owner);
}

void lb_broker_refresh_all(lb_broker *b, const char *reason)
{
	lb_refresh_run(b->refresh, NULL, 0, reason);
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

	if (t && t->dynamic)
		return t;
	if (t)
		return lb_fail(e, 0, "\"%s\" is the name of a static target", name), NULL;
	if (!bd)
		return lb_fail(e, 0, "unknown binding \"%s\"", binding), NULL;
	if (lb_config_target(b->cfg, name))
		return lb_fail(e, 0, "\"%s\" is the name of a static target", name), NULL;
	grown = realloc(b->targets, (b->ntargets + 1) * sizeof(lb_target *));
	if (!grown)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	b->targets = grown;
	t = lb_target_open(b->tdirfd, name, bd->size, e);
	if (!t)
		return NULL;
	t->dynamic = true;
	snprintf(t->binding, sizeof(t->binding), "%s", binding);
	b->targets[b->ntargets++] = t;
	broker_reindex(b);
	return t;
}

void lb_broker_drop_dynamic(lb_broker *b, const char *name, const char *reason)
{
	lb_err e = {0};

	for (size_t i = 0; i < b->ntargets; i++) {
		if (strcmp(b->targets[i]->name, name) != 0 || !b->targets[i]->dynamic)
			continue;
		broker_release_target(b, name);
		lb_refresh_forget(b->refresh, b->targets[i]);
		if (lb_target_destroy(b->targets[i], b->tdirfd, b->cfg->run_dir, &e))
			lb_log(LB_ERROR, "%s", e.msg);
		memmove(b->targets + i, b->targets + i + 1,
			(b->ntargets - i - 1) * sizeof(lb_target *));
		b->ntargets--;
		broker_reindex(b);
		lb_audit("target_removed",
			 json_pack("{s:s,s:s}", "target", name, "reason", reason));
		broker_save_state(b);
		return;
	}
}

void lb_broker_refresh_target(lb_broker *b, const char *name, const char *reason)
{
	const char *names[1] = {name};

	lb_refresh_run(b->refresh, names, 1, reason);
}

lb_store *lb_broker_store(lb_broker *b, const char *name)
{
	return store_by_name(b, name);
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
	lb_refresh_owner owner = {.store = owner_store,
				  .target = owner_target,
				  .targets = owner_targets,
				  .binding = owner_binding,
				  .admit = owner_admit,
				  .published = owner_published,
				  .settled = owner_settled,
				  .owner = b};

	if (!b) {
		lb_config_free(cfg);
		return NULL;
	}
	b->loop = loop;
	b->cfg = cfg;
	b->config_path = strdup(config_path);
	b->run_dirfd = b->state_dirfd = b->tdirfd = -1;
	b->started = time(NULL);
	if (open_dirs(b, e))
		goto fail;
	b->http = lb_http_new(loop, e);
	b->hashes = lb_secret_hashes_new(e);
	if (!b->http || !b->hashes)
		goto fail;
	b->refresh = lb_refresh_new(loop, &owner, b->hashes);
	if (!b->refresh)
		goto fail;
	b->stores = broker_open_stores(b, cfg, NULL, 0, e);
	if (!b->stores)
		goto fail;
	b->gc_timer = lb_timer_new(loop, on_gc, b);
	if (cfg->docker_socket) {
		b->docker = lb_docker_new(b, e);
		if (!b->docker)
			goto fail;
	}
	broker_remove_stale(b);
	if (broker_sync_targets(b, cfg, e) || broker_start_binding_timers(b))
		goto fail;
	lb_refresh_run(b->refresh, NULL, 0, "start");
	b->ctl = lb_control_listen(loop, b->run_dirfd, cfg->run_dir, broker_handle_command, b, e);
	if (!b->ctl || broker_metrics_start(b, e))
		goto fail;
	return b;
fail:
	lb_broker_free(b);
	return NULL;
}

void lb_broker_shutdown(lb_broker *b)
{
	/* A publisher child's targets are committed (or kept) before the state is saved. */
	lb_refresh_stop(b->refresh);
	broker_save_state(b);
	lb_audit("stop", json_pack("{s:i}", "targets", (int)b->ntargets));
}

void lb_broker_free(lb_broker *b)
{
	if (!b)
		return;
	/* First: a publisher child still out is waited for while the control socket (deferred
	 * replies) and the Docker module (notify hooks) are there. */
	lb_refresh_stop(b->refresh);
	lb_control_close(b->ctl);
	broker_metrics_stop(b);
	broker_stop_binding_timers(b);
	lb_timer_free(b->gc_timer);
	lb_docker_free(b->docker);
	broker_close_stores(b->stores, b->cfg ? b->cfg->nstores : 0);
	lb_worker_free(b->worker);
	lb_refresh_free(b->refresh);
	lb_http_free(b->http);
	lb_secret_hashes_free(b->hashes);
	for (size_t i = 0; i < b->ntargets; i++)
		lb_target_free(b->targets[i]);
	free(b->targets);
	free(b->tindex);
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
