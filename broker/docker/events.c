/* dockerd's events: inspect containers at create and start, retire targets at die and
 * destroy, reconcile on every (re)connection. */
#include "docker_int.h"
#include "procfacts.h"
#include "userdb.h"
#include "engine.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- events --- */

struct inspect_ctx {
	struct lb_docker *d;
	char id[72];
};

static void on_inspect_started(void *ctx, long status, json_t *body, const char *err)
{
	struct inspect_ctx *ic = ctx;
	struct lb_docker *d = ic->d;
	json_t *mounts = json_object_get(body, "Mounts"), *m;
	const char *user =
	    json_string_value(json_object_get(json_object_get(body, "Config"), "User"));
	int pid = (int)json_integer_value(json_object_get(json_object_get(body, "State"), "Pid"));
	bool running = json_is_true(json_object_get(json_object_get(body, "State"), "Running"));
	size_t i;

	if (status != 200 || !body) {
		lb_log(LB_WARN, "docker: inspect %.12s failed: %s", ic->id,
		       status ? "unexpected status" : err);
		free(ic);
		return;
	}
	json_array_foreach (mounts, i, m) {
		const char *drv = json_string_value(json_object_get(m, "Driver"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		struct volume *v;
		lb_target *t;
		const lb_binding *bd;
		uint32_t uid, gid;
		lb_err e = {0};

		if (!drv || !name || strcmp(drv, d->driver) != 0 || !(v = dk_find_volume(d, name)))
			continue;
		if (!running || pid <= 0) {
			dk_retire(d, name, "container not running");
			continue;
		}
		t = lb_broker_add_dynamic(d->b, name, v->binding, &e);
		bd = lb_config_binding(lb_broker_cfg(d->b), v->binding);
		if (!t || !bd) {
			lb_log(LB_ERROR, "docker: volume %s: %s", name, t ? "binding gone" : e.msg);
			continue;
		}
		if (lb_userdb_consumer_ids(pid, user, &uid, &gid, &e)) {
			lb_audit("refused", json_pack("{s:s,s:s,s:s}", "target", name, "container",
						      ic->id, "reason", e.msg));
			continue;
		}
		{
			lb_posture_report rep;
			char line[700];

			if (!dk_gate(d, body, bd, pid, uid, &rep, line, sizeof(line))) {
				dk_refuse(d, name, ic->id, bd, &rep, line);
				if (!bd->on_refuse_warn) {
					dk_retire(d, name, "refused");
					continue;
				}
			}
		}
		json_decref(v->inspect);
		v->inspect = json_incref(body);
		t->uid = bd->has_uid ? bd->uid : uid;
		t->gid = bd->has_gid ? bd->gid : gid;
		/* The running process's maps are authoritative: read now, while the process is
		 * verifiably the container's, never again through a PID that may be reused. */
		if (lb_procfacts_container_maps(pid, ic->id, t->uid_map, t->gid_map,
						sizeof(t->uid_map), &e)) {
			lb_audit("refused", json_pack("{s:s,s:s,s:s}", "target", name, "container",
						      ic->id, "reason", e.msg));
			dk_retire(d, name, "refused");
			continue;
		}
		/* Same container as before a broker restart: what it holds was delivered. */
		t->first_gen = strcmp(t->container, ic->id) == 0 ? t->generation : 0;
		snprintf(t->container, sizeof(t->container), "%s", ic->id);
		t->pid = pid;
		t->ready = true;
		lb_log(LB_INFO, "docker: container %.12s uses volume %s (binding %s, uid %u)",
		       ic->id, name, v->binding, t->uid);
		lb_broker_refresh_target(d->b, name, "container-start");
	}
	dk_save_volumes(d);
	free(ic);
}

/* create: decide from inspect alone, so that Mount (at start) can fail docker run with the
 * reasons. Names in Config.User cannot be resolved before start; non-root then waits for
 * the kernel's answer rather than refusing here. */
static void on_inspect_created(void *ctx, long status, json_t *body, const char *err)
{
	struct inspect_ctx *ic = ctx;
	struct lb_docker *d = ic->d;
	json_t *m;
	size_t i;

	(void)err;
	if (status == 200 && body)
		json_array_foreach (json_object_get(body, "Mounts"), i, m) {
			const char *drv = json_string_value(json_object_get(m, "Driver"));
			const char *name = json_string_value(json_object_get(m, "Name"));
			struct volume *v = name ? dk_find_volume(d, name) : NULL;
			const lb_binding *bd;
			const char *user = json_string_value(
			    json_object_get(json_object_get(body, "Config"), "User"));
			lb_posture_report rep;
			int64_t uid;

			if (!drv || strcmp(drv, d->driver) != 0 || !v ||
			    !(bd = lb_config_binding(lb_broker_cfg(d->b), v->binding)))
				continue;
			uid = lb_userdb_uid_hint(user);
			if (uid < 0)
				uid = 1; /* resolved at start, from the container's own passwd */
			if (dk_gate(d, body, bd, 0, uid, &rep, v->refusal, sizeof(v->refusal)))
				v->refusal[0] = '\0';
			else
				lb_audit("refused",
					 json_pack("{s:s,s:s,s:s,s:s,s:o}", "container", ic->id,
						   "volume", name, "binding", bd->name, "reason",
						   v->refusal, "report",
						   lb_posture_report_json(&rep)));
		}
	free(ic);
}

static void inspect_with(struct lb_docker *d, const char *id, lb_engine_cb cb)
{
	struct inspect_ctx *ic = calloc(1, sizeof(*ic));
	char path[160];

	if (!ic)
		return;
	ic->d = d;
	snprintf(ic->id, sizeof(ic->id), "%s", id);
	snprintf(path, sizeof(path), "containers/%s/json", id);
	if (lb_engine_call(d->en, "GET", path, cb, ic) < 0)
		free(ic);
}

static void inspect(struct lb_docker *d, const char *id)
{
	inspect_with(d, id, on_inspect_started);
}

void dk_on_event(void *ctx, json_t *ev)
{
	struct lb_docker *d = ctx;
	const char *action = json_string_value(json_object_get(ev, "Action"));
	const char *id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));

	if (!action || !dk_id_ok(id))
		return;
	if (strcmp(action, "create") == 0) {
		inspect_with(d, id, on_inspect_created);
	} else if (strcmp(action, "start") == 0) {
		inspect(d, id);
	} else if (strcmp(action, "die") == 0 || strcmp(action, "destroy") == 0) {
		for (struct volume *v = d->vols; v; v = v->next) {
			lb_target *t = lb_broker_target(d->b, v->name);
			if (t && strcmp(t->container, id) == 0)
				dk_retire(d, v->name, action);
		}
	}
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
	/* Targets that no running container mounts (it died while we were away, or never
	 * started) are retired; their volumes stay known for a later Mount. */
	for (struct volume *v = d->vols; v; v = v->next) {
		bool alive = false;
		if (!lb_broker_target(d->b, v->name))
			continue;
		json_array_foreach (body, i, c) {
			const char *state = json_string_value(json_object_get(c, "State"));
			json_t *mounts = json_object_get(c, "Mounts"), *m;
			size_t j;
			if (!state || strcmp(state, "running") != 0)
				continue;
			json_array_foreach (mounts, j, m) {
				const char *nm = json_string_value(json_object_get(m, "Name"));
				alive = alive || (nm && strcmp(nm, v->name) == 0);
			}
		}
		if (!alive)
			dk_retire(d, v->name, "no running container");
	}
	/* Running containers are inspected again: they resume with fresh pids and maps. */
	json_array_foreach (body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *state = json_string_value(json_object_get(c, "State"));
		json_t *mounts = json_object_get(c, "Mounts"), *m;
		size_t j;
		bool ours = false;

		if (!dk_id_ok(id) || !state || strcmp(state, "running") != 0)
			continue;
		json_array_foreach (mounts, j, m) {
			const char *drv = json_string_value(json_object_get(m, "Driver"));
			ours = ours || (drv && strcmp(drv, d->driver) == 0);
		}
		if (ours)
			inspect(d, id);
	}
}

static void on_info(void *ctx, long status, json_t *body, const char *err)
{
	struct lb_docker *d = ctx;

	if (status == 200 && body)
		d->remap = lb_info_has_security_option(body, "userns");
	else
		lb_log(LB_WARN, "docker: GET /info failed: %s", status ? "unexpected status" : err);
	/* Containers are looked at once the daemon's remap setting is known. */
	lb_engine_call(d->en, "GET", "containers/json?all=1", on_list, d);
}

void dk_on_connected(void *ctx)
{
	struct lb_docker *d = ctx;

	lb_log(LB_INFO, "docker: connected to dockerd; reconciling");
	lb_engine_call(d->en, "GET", "info", on_info, d);
}
