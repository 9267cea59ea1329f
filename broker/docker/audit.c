/* `lockboxctl audit`: the posture report of containers, answered through the control socket. */
#include "docker_int.h"
#include "userdb.h"
#include "control.h"
#include "engine.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- lockboxctl audit --- */

struct audit {
	struct lb_docker *d;
	struct lb_control *ctl;
	uint64_t id;
	size_t pending;
	bool all_ok;
	json_t *reports;
};

static void audit_done(struct audit *a)
{
	if (--a->pending)
		return;
	lb_control_reply(
	    a->ctl, a->id,
	    json_pack("{s:b,s:b,s:o}", "ok", 1, "satisfied", a->all_ok, "containers", a->reports));
	free(a);
}

struct audit_one {
	struct audit *a;
	char ref[160];
};

/* One container: the binding of its lockbox volume (or the default requirements), from
 * inspect and, when it runs, from the kernel. */
static void on_audit_inspect(void *ctx, long status, json_t *body, const char *err)
{
	struct audit_one *o = ctx;
	struct audit *a = o->a;
	struct lb_docker *d = a->d;
	const lb_binding *bd = NULL;
	lb_binding dflt = {.name = "(default)", .require = LB_CHECKS_DEFAULT};
	json_t *m, *rep_json;
	size_t i;
	int pid;
	const char *user, *id;
	uint32_t uid = 0, gid = 0;
	int64_t uid_known = -1;
	lb_posture_report rep;
	char line[700];
	lb_err e = {0};
	bool ok;

	if (status != 200 || !body) {
		json_array_append_new(a->reports,
				      json_pack("{s:s,s:s}", "container", o->ref, "error",
						status == 404 ? "no such container"
						: status      ? "inspect failed"
							      : err));
		a->all_ok = false;
		goto out;
	}
	json_array_foreach (json_object_get(body, "Mounts"), i, m) {
		const char *drv = json_string_value(json_object_get(m, "Driver"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		struct volume *v = name ? dk_find_volume(d, name) : NULL;
		if (drv && strcmp(drv, d->driver) == 0 && v)
			bd = lb_config_binding(lb_broker_cfg(d->b), v->binding);
	}
	pid = json_is_true(json_object_get(json_object_get(body, "State"), "Running"))
		  ? (int)json_integer_value(json_object_get(json_object_get(body, "State"), "Pid"))
		  : 0;
	user = json_string_value(json_object_get(json_object_get(body, "Config"), "User"));
	if (pid > 0 && lb_userdb_consumer_ids(pid, user, &uid, &gid, &e) == 0)
		uid_known = uid;
	ok = dk_gate(d, body, bd ? bd : &dflt, pid, uid_known, &rep, line, sizeof(line));
	rep_json = lb_posture_report_json(&rep);
	id = json_string_value(json_object_get(body, "Id"));
	json_object_set_new(rep_json, "container", json_string(id ? id : o->ref));
	json_object_set_new(rep_json, "binding", bd ? json_string(bd->name) : json_null());
	json_object_set_new(rep_json, "satisfied", json_boolean(ok));
	if (!ok)
		json_object_set_new(rep_json, "refusal", json_string(line));
	json_array_append_new(a->reports, rep_json);
	a->all_ok = a->all_ok && ok;
out:
	free(o);
	audit_done(a);
}

/* The caller holds its own reference to a (a->pending >= 1): a call that fails drops only the
 * reference taken here, never the last one. */
static void audit_container(struct audit *a, const char *ref)
{
	struct audit_one *o = calloc(1, sizeof(*o));
	char *enc, path[400];

	if (!o)
		return;
	a->pending++;
	o->a = a;
	snprintf(o->ref, sizeof(o->ref), "%s", ref);
	enc = curl_easy_escape(NULL, ref, 0);
	snprintf(path, sizeof(path), "containers/%s/json", enc ? enc : "");
	curl_free(enc);
	if (lb_engine_call(a->d->en, "GET", path, on_audit_inspect, o) < 0) {
		free(o);
		a->pending--;
	}
}

static void on_audit_list(void *ctx, long status, json_t *body, const char *err)
{
	struct audit *a = ctx;
	json_t *c;
	size_t i;

	a->pending++; /* held while the list is walked */
	if (status != 200 || !json_is_array(body)) {
		json_array_append_new(
		    a->reports,
		    json_pack("{s:s}", "error", status ? "listing containers failed" : err));
		a->all_ok = false;
	}
	json_array_foreach (body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		if (dk_id_ok(id))
			audit_container(a, id);
	}
	a->pending--; /* the one taken above; the caller's is dropped next */
	audit_done(a);
}

void lb_docker_audit(struct lb_docker *d, json_t *containers, struct lb_control *ctl, uint64_t id)
{
	struct audit *a = calloc(1, sizeof(*a));
	json_t *c;
	size_t i;

	if (!a) {
		lb_control_reply(ctl, id,
				 json_pack("{s:b,s:s}", "ok", 0, "error", "out of memory"));
		return;
	}
	a->d = d;
	a->ctl = ctl;
	a->id = id;
	a->all_ok = true;
	a->reports = json_array();
	a->pending = 1;
	if (json_array_size(containers) == 0) {
		if (lb_engine_call(d->en, "GET", "containers/json", on_audit_list, a) == 0)
			return;
		a->all_ok = false;
	}
	json_array_foreach (containers, i, c)
		if (json_is_string(c))
			audit_container(a, json_string_value(c));
	audit_done(a);
}
