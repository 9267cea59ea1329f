/* dockerd's events: remember containers at create, match each mount to its container after
 * start (inspect's Mounts[].Source is the Mountpoint that Mount returned), retire a
 * container's mounts at die and destroy, reconcile on every (re)connection. */
#include "docker_int.h"
#include "cleanup.h"
#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "procfacts.h"
#include "userdb.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inspect_ctx {
	struct lb_docker *d;
	char id[72];
};

/* The files already there belong to the owner the kernel now confirms: this container has
 * had them, and the next new generation is a rotation. Otherwise the next one is its first. */
static uint64_t delivered_gen(lb_target *t)
{
	uint32_t hu, hg;
	lb_err e = {0};

	/* Also after a restart of lockboxd that came before it saw this container start (the
	 * mount's record has no container yet): the tmpfs was filled for it at Mount, so the
	 * next generation is a rotation and the app is signalled (it was taken for the first
	 * delivery, and CI's asan docker_restart saw the app never told). */
	if (!t->generation || lb_target_host_ids(t, &hu, &hg, &e))
		return 0;
	return lb_target_owned_by(t, hu, hg) ? t->generation : 0;
}

/* One of our mounts in a running container's inspect. */
static void match(struct lb_docker *d, const char *id, json_t *body, struct mount *m)
{
	const char *user =
	    json_string_value(json_object_get(json_object_get(body, "Config"), "User"));
	const char *name = json_string_value(json_object_get(body, "Name"));
	int pid = (int)json_integer_value(json_object_get(json_object_get(body, "State"), "Pid"));
	lb_target *t = lb_broker_target(d->b, m->target);
	const lb_binding *bd = lb_config_binding(lb_broker_cfg(d->b), m->v->binding);
	lb_posture_report rep;
	uint32_t uid, gid;
	char line[700], um[256], gm[256]; /* the container's id maps */
	lb_err e = {0};
	bool again; /* the same container again (a broker restart, a reconcile) */

	if (!t || !bd) {
		lb_log(LB_ERROR, "docker: volume %s: binding %s gone", m->v->name, m->v->binding);
		return;
	}
	if (m->container[0] && strcmp(m->container, id) != 0) {
		lb_log(LB_ERROR,
		       "docker: mount %.12s of container %.12s is named by %.12s; ignored", m->key,
		       m->container, id);
		return;
	}
	again = strcmp(m->container, id) == 0;
	snprintf(m->container, sizeof(m->container), "%s", id);
	snprintf(m->cname, sizeof(m->cname), "%s", name && name[0] == '/' ? name + 1 : "");
	snprintf(t->container, sizeof(t->container), "%s", id);
	if (lb_userdb_consumer_ids(pid, user, &uid, &gid, &e)) {
		lb_audit("refused", json_pack("{s:s,s:s,s:s}", "target", m->target, "container", id,
					      "reason", e.msg));
		dk_retire(d, m, "refused");
		return;
	}
	if (!dk_gate_mount(d, m, body, bd, pid, uid, &rep, line, sizeof(line))) {
		dk_refuse(d, m->v->name, id, bd, &rep, line);
		if (!bd->on_refuse_warn) {
			dk_retire(d, m, "refused");
			return;
		}
	}
	json_decref(m->inspect);
	m->inspect = json_incref(body);
	dk_seen_ids(m->v, true, uid, gid);
	t->uid = bd->has_uid ? bd->uid : uid;
	t->gid = bd->has_gid ? bd->gid : gid;
	/* The running process's maps are authoritative: read now, while the process is
	 * verifiably the container's, never again through a PID that may be reused. */
	if (lb_procfacts_container_maps(pid, id, um, gm, sizeof(um), &e) ||
	    lb_target_set_maps(t, um, gm, &e)) {
		lb_audit("refused", json_pack("{s:s,s:s,s:s}", "target", m->target, "container", id,
					      "reason", e.msg));
		dk_retire(d, m, "refused");
		return;
	}
	t->pid = pid;
	t->first_gen = again ? t->generation : delivered_gen(t);
	t->ready = true;
	lb_log(LB_INFO, "docker: container %.12s (%s) mounts volume %s as %s (binding %s, uid %u)",
	       id, m->cname, m->v->name, m->target, m->v->binding, t->uid);
	lb_broker_refresh_target(d->b, m->target, "container-start");
}

struct mount *dk_mount_at(struct lb_docker *d, const lb_mounts *mi, const char *dest)
{
	const lb_mount *hit = NULL;

	for (size_t i = 0; dest && i < mi->n; i++)
		if (mi->v[i].mountpoint && strcmp(mi->v[i].mountpoint, dest) == 0)
			hit = &mi->v[i];
	return hit ? dk_mount_by_dev(d, hit->major, hit->minor) : NULL;
}

static void on_inspect_started(void *ctx, long status, json_t *body, const char *err)
{
	struct inspect_ctx *ic = ctx;
	struct lb_docker *d = ic->d;
	json_t *mp;
	int pid = (int)json_integer_value(json_object_get(json_object_get(body, "State"), "Pid"));
	bool running = json_is_true(json_object_get(json_object_get(body, "State"), "Running"));
	lb_mounts mi = {0};
	lb_err e = {0};
	size_t i;

	if (status != 200 || !body) {
		lb_log(LB_WARN, "docker: inspect %.12s failed: %s", ic->id,
		       status ? "unexpected status" : err);
		free(ic);
		return;
	}
	dk_forget_created(d, ic->id);
	/* A container that is gone again: die retires what it had. */
	if (!running || pid <= 0 || lb_procfacts_read_mountinfo(pid, &mi, &e)) {
		if (running && pid > 0)
			lb_log(LB_WARN, "docker: container %.12s: %s", ic->id, e.msg);
		free(ic);
		return;
	}
	json_array_foreach (json_object_get(body, "Mounts"), i, mp) {
		const char *drv = json_string_value(json_object_get(mp, "Driver"));
		const char *dest = json_string_value(json_object_get(mp, "Destination"));
		struct mount *m;

		if (!drv || strcmp(drv, d->driver) != 0)
			continue;
		if (!(m = dk_mount_at(d, &mi, dest)))
			lb_log(LB_WARN, "docker: container %.12s: no lockbox tmpfs at %s", ic->id,
			       dest ? dest : "(no destination)");
		else
			match(d, ic->id, body, m);
	}
	lb_mounts_clear(&mi);
	dk_save_volumes(d);
	free(ic);
}

static void on_inspect_created(void *ctx, long status, json_t *body, const char *err)
{
	struct inspect_ctx *ic = ctx;
	struct lb_docker *d = ic->d;

	(void)err;
	if (d->inflight)
		d->inflight--;
	if (status == 200 && body)
		dk_created(d, ic->id, body);
	/* Its Mount may have come first, or others waited for this answer. */
	dk_populate_early(d);
	free(ic);
}

static int inspect_with(struct lb_docker *d, const char *id, lb_engine_cb cb)
{
	struct inspect_ctx *ic = calloc(1, sizeof(*ic));
	char path[160];

	if (!ic)
		return -1;
	ic->d = d;
	snprintf(ic->id, sizeof(ic->id), "%s", id);
	snprintf(path, sizeof(path), "containers/%s/json", id);
	if (lb_engine_call(d->en, "GET", path, cb, ic) < 0) {
		free(ic);
		return -1;
	}
	return 0;
}

/* Every mount of container id, on the next loop turn (an Unmount waiting behind this
 * event is answered first). */
static void retire_container(struct lb_docker *d, const char *id, const char *reason)
{
	for (struct volume *v = d->vols; v; v = v->next)
		for (struct mount *m = v->mounts, *next; m; m = next) {
			next = m->next;
			if (m->container[0] && strcmp(m->container, id) == 0)
				dk_retire_later(d, m, reason);
		}
}

void dk_on_event(void *ctx, json_t *ev)
{
	struct lb_docker *d = ctx;
	const char *action = json_string_value(json_object_get(ev, "Action"));
	const char *id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));

	if (!action || !dk_id_ok(id))
		return;
	if (strcmp(action, "create") == 0) {
		if (inspect_with(d, id, on_inspect_created) == 0)
			d->inflight++;
	} else if (strcmp(action, "start") == 0) {
		inspect_with(d, id, on_inspect_started);
	} else if (strcmp(action, "die") == 0 || strcmp(action, "destroy") == 0) {
		dk_forget_created(d, id);
		retire_container(d, id, action);
	}
}

static bool running_in(json_t *list, const char *id)
{
	json_t *c;
	size_t i;

	json_array_foreach (list, i, c) {
		const char *cid = json_string_value(json_object_get(c, "Id"));
		const char *state = json_string_value(json_object_get(c, "State"));
		if (cid && state && strcmp(cid, id) == 0 && strcmp(state, "running") == 0)
			return true;
	}
	return false;
}

static void on_list(void *ctx, long status, json_t *body, const char *err)
{
	struct lb_docker *d = ctx;
	json_t *c;
	size_t i;

	if (status != 200 || !json_is_array(body)) {
		lb_log(LB_WARN, "docker: listing containers failed: %s",
		       status ? "unexpected status" : err);
		return;
	}
	/* Mounts whose container no longer runs (it died while we were away) are retired;
	 * their volumes stay known for a later Mount. */
	for (struct volume *v = d->vols; v; v = v->next)
		for (struct mount *m = v->mounts, *next; m; m = next) {
			next = m->next;
			if (m->container[0] && !running_in(body, m->container))
				dk_retire(d, m, "no running container");
		}
	dk_save_volumes(d);
	/* Running containers are inspected again: they resume with fresh pids and maps. */
	json_array_foreach (body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *state = json_string_value(json_object_get(c, "State"));
		json_t *m;
		size_t j;
		bool ours = false;

		if (!dk_id_ok(id) || !state || strcmp(state, "running") != 0)
			continue;
		json_array_foreach (json_object_get(c, "Mounts"), j, m) {
			const char *drv = json_string_value(json_object_get(m, "Driver"));
			ours = ours || (drv && strcmp(drv, d->driver) == 0);
		}
		if (ours)
			inspect_with(d, id, on_inspect_started);
	}
}

/* Under --userns-remap dockerd's root dir ends in "UID.GID" of its remap range; the user
 * whose /etc/subuid range starts there is the remap user. Mounts populated before start
 * map through that user's ranges. */
static void learn_remap(struct lb_docker *d, json_t *info)
{
	const char *root = json_string_value(json_object_get(info, "DockerRootDir"));
	_cleanup_free_ char *text = NULL;
	char user[sizeof(d->remap_spec) - sizeof("subuid:") + 1];
	size_t len = 0;
	lb_err e = {0};

	d->remap_spec[0] = '\0';
	if (!root || lb_read_at(AT_FDCWD, "/etc/subuid", 1024 * 1024, &text, &len, &e) < 0)
		return;
	if (lb_userdb_remap_user(root, text, len, user, sizeof(user)))
		snprintf(d->remap_spec, sizeof(d->remap_spec), "subuid:%s", user);
}

static void on_info(void *ctx, long status, json_t *body, const char *err)
{
	struct lb_docker *d = ctx;

	if (status == 200 && body) {
		d->remap = lb_info_has_security_option(body, "userns");
		dk_note_server_version(d,
				       json_string_value(json_object_get(body, "ServerVersion")));
		if (d->remap)
			learn_remap(d, body);
	} else {
		lb_log(LB_WARN, "docker: GET /info failed: %s", status ? "unexpected status" : err);
	}
	/* Containers are looked at once the daemon's remap setting is known. */
	lb_engine_call(d->en, "GET", "containers/json?all=1", on_list, d);
}

void dk_on_connected(void *ctx)
{
	struct lb_docker *d = ctx;

	lb_log(LB_INFO, "docker: connected to dockerd; reconciling");
	d->inflight = 0; /* answers of the old connection no longer hold guesses back */
	lb_engine_call(d->en, "GET", "info", on_info, d);
}
