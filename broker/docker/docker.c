/* The Docker module's lifecycle and the rotation notify. */
#include "docker_int.h"
#include "secretprov.h"
#include "metrics.h"
#include "procfacts.h"
#include "cleanup.h"
#include "fsutil.h"
#include "jsonw.h"
#include "log.h"
#include "units.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- activation ---
 * A swarm node tells the managers the volume drivers its dockerd has loaded (the executor's
 * Describe lists the volume driver store), and dockerd loads a legacy plugin only when
 * something asks for it: a node that has not used lockbox yet would leave every task with a
 * lockbox volume pending ("missing plugin on 1 node"). `GET /volumes` filtered to our driver
 * makes dockerd scan /run/docker/plugins and register every volume plugin there (it asks only
 * ours for its List); its swarm agent sees the new description within 20 s. Done at every
 * (re)connection (a restarted dockerd has forgotten it); /info's Plugins.Volume confirms it,
 * else it is tried again. */
#define ACTIVATE_RETRY_MS 30000

static void on_activate_info(void *ctx, long status, json_t *body, const char *err)
{
	struct lb_docker *d = ctx;
	json_t *x;
	size_t i;

	json_array_foreach (json_object_get(json_object_get(body, "Plugins"), "Volume"), i, x)
		if (json_is_string(x) && strcmp(json_string_value(x), d->driver) == 0) {
			if (!d->activated)
				lb_log(LB_INFO, "docker: dockerd has loaded volume driver \"%s\"",
				       d->driver);
			d->activated = true;
			return;
		}
	lb_log(LB_WARN,
	       "docker: dockerd does not list volume driver \"%s\" (%s); a swarm node does not "
	       "get tasks with its volumes meanwhile; trying again in %d s",
	       d->driver, status == 200 ? "not in /info's Plugins.Volume" : err,
	       ACTIVATE_RETRY_MS / 1000);
	lb_timer_arm(d->activate_timer, ACTIVATE_RETRY_MS);
}

static void on_activate_volumes(void *ctx, long status, json_t *body, const char *err)
{
	struct lb_docker *d = ctx;

	(void)body;
	if (status != 200 || lb_engine_call(d->en, "GET", "info", on_activate_info, d) < 0) {
		lb_log(LB_WARN,
		       "docker: listing volumes of driver \"%s\" failed (%s); trying again "
		       "in %d s",
		       d->driver, status ? "unexpected status" : err, ACTIVATE_RETRY_MS / 1000);
		lb_timer_arm(d->activate_timer, ACTIVATE_RETRY_MS);
	}
}

static void activate(struct lb_docker *d)
{
	char path[200];

	/* filters={"driver":["NAME"]}; NAME is letters, digits, '_', '-', '.' (config). */
	snprintf(path, sizeof(path), "volumes?filters=%%7B%%22driver%%22%%3A%%5B%%22%s%%22%%5D%%7D",
		 d->driver);
	lb_timer_disarm(d->activate_timer);
	if (lb_engine_call(d->en, "GET", path, on_activate_volumes, d) < 0)
		lb_timer_arm(d->activate_timer, ACTIVATE_RETRY_MS);
}

static void on_activate_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	activate(ctx);
}

static void on_connected(void *ctx)
{
	struct lb_docker *d = ctx;

	d->activated = false; /* a restarted dockerd has forgotten every legacy plugin */
	activate(d);
	dk_on_connected(d);
}

/* --- lifecycle --- */

static json_t *on_plugin(void *ctx, const char *ep, json_t *req, lb_plugin_req *r)
{
	struct lb_docker *d = ctx;

	if (strcmp(ep, "GetSecret") == 0)
		return dk_sp_get(d->sp, req, r);
	return dk_on_plugin(ctx, ep, req);
}

struct lb_docker *lb_docker_new(lb_broker *b, lb_err *e)
{
	const lb_config *cfg = lb_broker_cfg(b);
	struct lb_docker *d = calloc(1, sizeof(*d));
	lb_engine_handlers h = {.on_event = dk_on_event, .on_connected = on_connected};
	const char *base = strrchr(cfg->plugin_socket, '/') + 1;
	size_t n = strlen(base);

	if (!d)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	d->b = b;
	d->doomed = json_array();
	d->doom_timer = lb_timer_new(lb_broker_loop(b), dk_on_doom, d);
	d->early_timer = lb_timer_new(lb_broker_loop(b), dk_on_early, d);
	d->activate_timer = lb_timer_new(lb_broker_loop(b), on_activate_timer, d);
	d->retire_timer = lb_timer_new(lb_broker_loop(b), dk_on_retire, d);
	d->sp = dk_sp_new(d);
	if (!d->retire_timer || !d->sp) {
		lb_fail(e, ENOMEM, "out of memory");
		goto fail;
	}
	if (n > 5 && strcmp(base + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(d->driver, sizeof(d->driver), "%.*s", (int)n, base);
	if (mkdirat(lb_broker_run_dirfd(b), MOUNTS_DIR, 0711) < 0 && errno != EEXIST) {
		lb_fail_errno(e, "mkdir %s/%s", cfg->run_dir, MOUNTS_DIR);
		goto fail;
	}
	d->mdirfd = lb_open_dir_at(lb_broker_run_dirfd(b), MOUNTS_DIR, e);
	if (d->mdirfd < 0)
		goto fail;
	dk_load_volumes(d);
	d->pl = lb_plugin_listen(lb_broker_loop(b), cfg->plugin_socket, on_plugin, d, e);
	if (!d->pl)
		goto fail;
	d->en = lb_engine_new(lb_broker_loop(b), lb_broker_http(b), cfg->docker_socket, &h, d, e);
	if (!d->en)
		goto fail;
	lb_log(LB_INFO, "docker: volume driver \"%s\" on %s, dockerd at %s", d->driver,
	       cfg->plugin_socket, cfg->docker_socket);
	return d;
fail:
	lb_docker_free(d);
	return NULL;
}

void lb_docker_free(struct lb_docker *d)
{
	if (!d)
		return;
	dk_retire_pending(d, NULL); /* what ended is wiped, not left for the next start */
	lb_engine_free(d->en);
	dk_sp_free(d->sp);
	lb_plugin_free(d->pl);
	while (d->vols) {
		struct volume *v = d->vols;
		d->vols = v->next;
		while (v->mounts) {
			struct mount *m = v->mounts;
			v->mounts = m->next;
			dk_gate_forget(m);
			json_decref(m->inspect);
			free(m);
		}
		free(v);
	}
	while (d->created) {
		struct created *c = d->created;
		d->created = c->next;
		json_decref(c->inspect);
		free(c);
	}
	dk_gate_free(d);
	json_decref(d->doomed);
	lb_timer_free(d->doom_timer);
	lb_timer_free(d->early_timer);
	lb_timer_free(d->activate_timer);
	lb_timer_free(d->retire_timer);
	if (d->mdirfd > 0)
		close(d->mdirfd);
	free(d);
}

bool lb_docker_claims(struct lb_docker *d, const char *name)
{
	return d && dk_find_mount(d, name);
}

void lb_docker_describe(struct lb_docker *d, const lb_target *t, json_t *o)
{
	struct mount *m = d ? dk_find_mount(d, t->name) : NULL;

	if (!m)
		return;
	json_object_set_new(o, "volume", json_string(m->v->name));
	json_object_set_new(o, "container",
			    m->container[0] ? json_string(m->container) : json_null());
	json_object_set_new(o, "container_name", json_string(m->cname));
}

void dk_note_server_version(struct lb_docker *d, const char *v)
{
	size_t n = v ? strnlen(v, sizeof(d->server_version)) : 0;

	d->server_version[0] = '\0';
	if (n == 0 || n >= sizeof(d->server_version))
		return;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '!' || v[i] > '~')
			return;
	memcpy(d->server_version, v, n + 1);
}

json_t *lb_docker_status(struct lb_docker *d)
{
	const lb_config *cfg = lb_broker_cfg(d->b);

	return json_pack("{s:s,s:s,s:s,s:b,s:s,s:s?}", "driver", d->driver, "plugin_socket",
			 cfg->plugin_socket, "socket", cfg->docker_socket, "connected",
			 lb_engine_connected(d->en), "api_version", LB_ENGINE_API, "server_version",
			 d->server_version[0] ? d->server_version : NULL);
}

json_t *lb_docker_targets_of(struct lb_docker *d, const char *ref)
{
	json_t *names = json_array();
	size_t n = ref ? strlen(ref) : 0;

	for (struct volume *v = d ? d->vols : NULL; n && v; v = v->next)
		for (struct mount *m = v->mounts; m; m = m->next)
			if (strcmp(m->cname, ref) == 0 ||
			    (m->container[0] && n >= 4 && strncmp(m->container, ref, n) == 0))
				json_array_append_new(names, json_string(m->target));
	return names;
}

static void on_killed(void *ctx, long status, json_t *body, const char *err)
{
	char *id = ctx;

	(void)body;
	if (status != 204)
		lb_log(LB_WARN, "docker: notify of container %.12s failed: %s", id,
		       status ? "unexpected status" : err);
	free(id);
}

/* The notify audit line, as text (one per container per rotation: no jansson tree). */
static void audit_notify(const lb_target *t, int sig)
{
	lb_jsonw w = {0};

	lb_jsonw_raw(&w, "\"target\":");
	lb_jsonw_str(&w, t->name);
	lb_jsonw_raw(&w, ",\"container\":");
	lb_jsonw_str(&w, t->container);
	lb_jsonw_raw(&w, ",\"signal\":");
	lb_jsonw_str(&w, lb_signal_name(sig));
	lb_jsonw_raw(&w, ",\"generation\":");
	lb_jsonw_int(&w, (int64_t)t->generation);
	if (!w.oom)
		lb_audit_text("notify", w.buf);
	lb_jsonw_free(&w);
}

/* The notify signal goes straight to the container's first process (what dockerd's kill
 * does through containerd and runc, ~12 ms per container on a loaded 2-core host: 1.3-1.8 s
 * for 100 containers). The Engine API is the fallback: no pidfds, or the process is not
 * the container's any more (dockerd knows better then). */
void lb_docker_published(struct lb_docker *d, lb_target *t, bool new_bytes)
{
	const lb_binding *bd;
	char path[200];
	lb_err e = {0};
	char *id;

	if (!d || !t->container[0])
		return;
	if (!t->first_gen) {
		t->first_gen = t->generation; /* its first delivery, not a rotation */
		return;
	}
	bd = lb_config_binding(lb_broker_cfg(d->b), t->binding);
	/* A generation that only moves a lease's expiry changes nothing the app reads. */
	if (!new_bytes || !bd || !bd->notify_sig)
		return;
	if (lb_procfacts_signal(t->pid, t->container, bd->notify_sig, &e) == 0) {
		lb_metric_inc(LB_M_NOTIFY_SIGNALS, bd->name, "sent");
	} else {
		snprintf(path, sizeof(path), "containers/%s/kill?signal=%s", t->container,
			 lb_signal_name(bd->notify_sig));
		if (!(id = strdup(t->container)) ||
		    lb_engine_call(d->en, "POST", path, on_killed, id) < 0) {
			lb_log(LB_WARN, "docker: notify of container %.12s failed: %s",
			       t->container, e.msg);
			lb_metric_inc(LB_M_NOTIFY_SIGNALS, bd->name, "failed");
			free(id);
			return;
		}
		lb_metric_inc(LB_M_NOTIFY_SIGNALS, bd->name, "sent");
	}
	audit_notify(t, bd->notify_sig);
}
