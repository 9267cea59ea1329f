/* The control socket's commands (lockboxctl): status, targets, reload, rotate, audit and
 * the sealed store's secret put/rm/list. */
#include "broker_priv.h"
#include "worker.h"
#include "docker.h"
#include "cleanup.h"
#include "log.h"
#include "metrics_http.h"
#include "sealed.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Targets whose binding reads source (store, path); any version. */
static json_t *targets_using(lb_broker *b, const char *store, const char *path)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_binding *bd = broker_binding_of(b, b->targets[i]->name);
		bool uses = false;

		/* A template's sources count too (lb_secret_source). */
		for (size_t j = 0; bd && j < bd->nsecrets && !uses; j++)
			for (size_t k = 0; k < lb_secret_nsources(&bd->secrets[j]) && !uses; k++) {
				const lb_source *src = lb_secret_source(&bd->secrets[j], k);
				uses =
				    strcmp(src->store, store) == 0 && strcmp(src->path, path) == 0;
			}
		if (uses)
			json_array_append_new(arr, json_string(b->targets[i]->name));
	}
	return arr;
}

__attribute__((format(printf, 1, 2))) static json_t *reply_error(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message is cut */
	va_end(ap);
	return json_pack("{s:b,s:s}", "ok", 0, "error", msg);
}

/* What lockboxctl targets shows in its STATE column. */
static const char *target_state(const lb_target *t)
{
	const char *k;
	json_t *s;

	if (t->dynamic && !t->ready)
		return "waiting"; /* for its container to start */
	if (lb_backoff_failing(&t->retry))
		return t->generation ? "retrying" : "failing";
	if (!t->generation)
		return "pending";
	json_object_foreach (json_object_get(t->status, "secrets"), k, s)
		if (strcmp(json_string_value(json_object_get(s, "state")) ?: "", "ok") != 0)
			return "partial";
	return "ok";
}

/* Modes as octal strings ("0440"), as the configuration writes them. */
static json_t *octal_modes(json_t *secrets)
{
	const char *k;
	json_t *s;

	json_object_foreach (secrets, k, s) {
		json_t *m = json_object_get(s, "mode");
		if (json_is_integer(m)) {
			char buf[16];
			snprintf(buf, sizeof(buf), "%04llo",
				 (unsigned long long)json_integer_value(m) & 07777);
			json_object_set_new(s, "mode", json_string(buf));
		}
	}
	return secrets;
}

static json_t *target_json(lb_broker *b, const lb_target *t)
{
	struct timespec at;
	const lb_binding *bd = broker_binding_of(b, t->name);
	uint32_t hu = 0, hg = 0;
	lb_err e;
	json_t *o =
	    json_pack("{s:s,s:s,s:I,s:I,s:I,s:o?}", "name", t->name, "binding", bd ? bd->name : "",
		      "uid", (json_int_t)t->uid, "gid", (json_int_t)t->gid, "generation",
		      (json_int_t)t->generation, "secrets", octal_modes(lb_target_secrets_json(t)));

	json_object_set_new(o, "kind", json_string(t->dynamic ? "docker" : "static"));
	json_object_set_new(o, "state", json_string(target_state(t)));
	if (broker_generation_time(t, &at))
		json_object_set_new(o, "published", json_integer((json_int_t)at.tv_sec));
	if (lb_target_host_ids(t, &hu, &hg, &e) == 0) {
		json_object_set_new(o, "host_uid", json_integer(hu));
		json_object_set_new(o, "host_gid", json_integer(hg));
	}
	if (t->dynamic) {
		lb_docker_describe(b->docker, t, o);
		if (t->status)
			json_object_set(o, "status", json_object_get(t->status, "secrets"));
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

struct later {
	lb_broker *b;
	uint64_t id;
	json_t *reply;
};

static void answer_later(void *ctx)
{
	struct later *l = ctx;

	if (l->b->ctl)
		lb_control_reply(l->b->ctl, l->id, l->reply);
	else
		json_decref(l->reply);
	free(l);
}

/* A pass whose publisher child still writes part of it is answered when it is over: who
 * reads the files once `secret put` or `rotate` returns finds the new ones, as before the
 * child existed. */
static json_t *after_publish(lb_broker *b, uint64_t id, json_t *reply)
{
	struct later *l;

	if (!reply || !lb_refresh_busy(b->refresh) || !(l = calloc(1, sizeof(*l))))
		return reply;
	l->b = b;
	l->id = id;
	l->reply = reply;
	if (!lb_refresh_when_idle(b->refresh, answer_later, l)) {
		free(l);
		return reply;
	}
	return NULL;
}

static json_t *cmd_secret(lb_broker *b, const char *cmd, json_t *req, uint64_t id)
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
		lb_refresh_list(b->refresh, users, "secret-put");
		return after_publish(b, id,
				     json_pack("{s:b,s:s,s:i,s:o}", "ok", 1, "name", name,
					       "version", (int)version, "rotated", users));
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
	lb_refresh_list(b->refresh, users, "secret-rm");
	return after_publish(
	    b, id, json_pack("{s:b,s:s,s:o}", "ok", 1, "name", name, "still_held_by", users));
}

/* The machine form of `lockboxctl status` (documented in lockboxctl(8): keys are only
 * added, never renamed). */
static json_t *cmd_status(lb_broker *b)
{
	_cleanup_json_ json_t *ids = json_object(); /* container ids, as a set */
	json_t *stores = json_array();
	size_t ndocker = 0;
	char sock[4200];

	for (size_t i = 0; i < b->cfg->nstores; i++) {
		json_t *h = lb_store_health(b->stores[i]);
		json_object_set_new(h, "name", json_string(b->cfg->stores[i].name));
		json_object_set_new(h, "type", json_string(b->cfg->stores[i].type));
		json_array_append_new(stores, h);
	}
	for (size_t i = 0; i < b->ntargets; i++)
		if (b->targets[i]->dynamic) {
			ndocker++;
			if (b->targets[i]->container[0])
				json_object_set_new(ids, b->targets[i]->container, json_true());
		}
	snprintf(sock, sizeof(sock), "%s/%s", b->cfg->run_dir, LB_METRICS_SOCK);
	return json_pack("{s:b,s:s,s:i,s:I,s:I,s:s,s:s,s:i,s:i,s:i,s:o,s:o,s:{s:s,s:s?},s:o*}",
			 "ok", 1, "version", LOCKBOX_VERSION, "pid", (int)getpid(), "started",
			 (json_int_t)b->started, "uptime", (json_int_t)(time(NULL) - b->started),
			 "config", b->config_path, "run_dir", b->cfg->run_dir, "targets",
			 (int)b->ntargets, "docker_targets", (int)ndocker, "containers",
			 (int)json_object_size(ids), "stores", stores, "docker",
			 b->docker ? lb_docker_status(b->docker) : json_null(), "metrics", "socket",
			 sock, "listen", b->cfg->metrics_listen, "worker",
			 b->worker ? lb_worker_status(b->worker) : NULL);
}

json_t *broker_handle_command(void *ctx, json_t *req, uint64_t id)
{
	lb_broker *b = ctx;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	if (!cmd)
		return reply_error("missing \"cmd\"%s", "");
	if (strcmp(cmd, "status") == 0)
		return cmd_status(b);
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
		if (target && !lb_broker_target(b, target)) {
			/* A container's name or id: its Docker targets. */
			json_decref(names);
			names = lb_docker_targets_of(b->docker, target);
			if (!json_array_size(names)) {
				json_decref(names);
				return reply_error("no target named \"%s\"%s", target,
						   b->docker ? " (nor a container with a lockbox "
							       "volume by that name or id)"
							     : "");
			}
			lb_refresh_list(b->refresh, names, "rotate");
			return json_pack("{s:b,s:o}", "ok", 1, "rotated", names);
		}
		for (size_t i = 0; i < b->ntargets; i++)
			if (!target || strcmp(target, b->targets[i]->name) == 0)
				json_array_append_new(names, json_string(b->targets[i]->name));
		lb_refresh_list(b->refresh, names, "rotate");
		return after_publish(b, id, json_pack("{s:b,s:o}", "ok", 1, "rotated", names));
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
		return cmd_secret(b, cmd, req, id);
	return reply_error("unknown command \"%s\"", cmd);
}
