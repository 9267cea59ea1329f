/* The refresh pipeline's owner for unit tests (refresh_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout.h"
#include "log.h"
#include "refresh_fixture.h"

static lb_store *own_store(void *owner, const char *name)
{
	struct rfx *x = owner;

	return x->store ? x->store(x, name) : NULL;
}

static lb_target *own_target(void *owner, const char *name)
{
	struct rfx *x = owner;

	for (size_t i = 0; i < x->ntargets; i++)
		if (x->targets[i] && strcmp(x->targets[i]->name, name) == 0)
			return x->targets[i];
	return NULL;
}

static lb_target *const *own_targets(void *owner, size_t *n)
{
	struct rfx *x = owner;

	*n = x->ntargets;
	return x->targets;
}

static const lb_binding *own_binding(void *owner, const lb_target *t)
{
	const lb_target_cfg *tc = lb_config_target(((struct rfx *)owner)->cfg, t->name);

	return tc ? tc->binding : NULL;
}

static void own_settled(void *owner)
{
	((struct rfx *)owner)->settled++;
}

int rfx_setup(struct rfx *x, const char *prefix, const char *config_text, uint64_t tmpfs_size,
	      bool audit)
{
	lb_refresh_owner o = {.store = own_store,
			      .target = own_target,
			      .targets = own_targets,
			      .binding = own_binding,
			      .settled = own_settled,
			      .owner = x};
	lb_diag d = {0};
	lb_err e = {0};
	char path[128];

	x->tdirfd = x->statefd = -1;
	snprintf(x->dir, sizeof(x->dir), "%s-XXXXXX", prefix);
	if (lb_secmem_init() < 0 || !mkdtemp(x->dir)) {
		x->dir[0] = '\0';
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR, x->dir);
	if (mkdir(path, 0711) < 0)
		goto fail;
	x->tdirfd = open(path, O_DIRECTORY | O_CLOEXEC);
	x->loop = lb_loop_new();
	x->cfg = lb_config_parse(config_text, "test.json", &d);
	x->hashes = lb_secret_hashes_new(&e);
	if (x->tdirfd < 0 || !x->loop || !x->cfg || !x->hashes)
		goto fail;
	if (audit && ((x->statefd = open(x->dir, O_DIRECTORY | O_CLOEXEC)) < 0 ||
		      lb_audit_open(x->statefd) < 0))
		goto fail;
	x->targets = calloc(x->cfg->ntargets + 1, sizeof(lb_target *));
	if (!x->targets)
		goto fail;
	for (size_t i = 0; i < x->cfg->ntargets; i++) {
		x->targets[i] = lb_target_open(x->tdirfd, x->cfg->targets[i].name, tmpfs_size, &e);
		if (!x->targets[i]) {
			print_error("%s\n", e.msg);
			goto fail;
		}
		x->ntargets++;
		x->targets[i]->uid = x->targets[i]->gid = 1000;
	}
	x->r = lb_refresh_new(x->loop, &o, x->hashes);
	if (x->r)
		return 0;
fail:
	rfx_teardown(x);
	return -1;
}

void rfx_teardown(struct rfx *x)
{
	lb_err e = {0};
	char path[128];

	lb_refresh_stop(x->r);
	if (x->close_stores)
		x->close_stores(x);
	lb_refresh_free(x->r);
	x->r = NULL;
	if (x->statefd >= 0) {
		lb_audit_close();
		unlinkat(x->statefd, "audit.jsonl", 0);
		close(x->statefd);
	}
	for (size_t i = 0; x->targets && i < x->ntargets; i++)
		if (x->targets[i] && lb_target_destroy(x->targets[i], x->tdirfd, x->dir, &e))
			print_error("%s\n", e.msg);
	free(x->targets);
	x->targets = NULL;
	x->ntargets = 0;
	if (x->tdirfd >= 0)
		close(x->tdirfd);
	if (x->dir[0]) {
		snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR, x->dir);
		rmdir(path);
		rmdir(x->dir);
	}
	lb_secret_hashes_free(x->hashes);
	lb_config_free(x->cfg);
	lb_loop_free(x->loop);
	x->hashes = NULL;
	x->cfg = NULL;
	x->loop = NULL;
}

int rfx_need_root(const char *test)
{
	const char *must = getenv("LOCKBOX_MUST_WORK");

	if (geteuid() == 0)
		return -1;
	fprintf(stderr, "%s: needs root for tmpfs mounts\n", test);
	return must && strcmp(must, "1") == 0 ? 1 : 77;
}
