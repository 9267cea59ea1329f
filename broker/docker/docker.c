/* The Docker module's lifecycle and the rotation notify. */
#include "docker_int.h"
#include "metrics.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "units.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- lifecycle --- */

struct lb_docker *lb_docker_new(lb_broker *b, lb_err *e)
{
	const lb_config *cfg = lb_broker_cfg(b);
	struct lb_docker *d = calloc(1, sizeof(*d));
	lb_engine_handlers h = {.on_event = dk_on_event, .on_connected = dk_on_connected};
	const char *base = strrchr(cfg->plugin_socket, '/') + 1;
	size_t n = strlen(base);

	if (!d)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	d->b = b;
	d->doomed = json_array();
	d->doom_timer = lb_timer_new(lb_broker_loop(b), dk_on_doom, d);
	d->early_timer = lb_timer_new(lb_broker_loop(b), dk_on_early, d);
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
	d->pl = lb_plugin_listen(lb_broker_loop(b), cfg->plugin_socket, dk_on_plugin, d, e);
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
	lb_engine_free(d->en);
	lb_plugin_free(d->pl);
	while (d->vols) {
		struct volume *v = d->vols;
		d->vols = v->next;
		while (v->mounts) {
			struct mount *m = v->mounts;
			v->mounts = m->next;
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
	json_decref(d->doomed);
	lb_timer_free(d->doom_timer);
	lb_timer_free(d->early_timer);
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

void lb_docker_published(struct lb_docker *d, lb_target *t, bool new_bytes)
{
	const lb_binding *bd;
	char path[200];
	char *id;

	if (!d || !t->container[0])
		return;
	if (!t->first_gen) {
		t->first_gen = t->generation; /* its first delivery, not a rotation */
		return;
	}
	bd = lb_config_binding(lb_broker_cfg(d->b), t->binding);
	/* A generation that only moves a lease's expiry changes nothing the app reads. */
	if (!new_bytes || !bd || !bd->notify_sig || !(id = strdup(t->container)))
		return;
	snprintf(path, sizeof(path), "containers/%s/kill?signal=%s", t->container,
		 lb_signal_name(bd->notify_sig));
	if (lb_engine_call(d->en, "POST", path, on_killed, id) < 0) {
		lb_metric_inc(LB_M_NOTIFY_SIGNALS, bd->name, "failed");
		free(id);
		return;
	}
	lb_metric_inc(LB_M_NOTIFY_SIGNALS, bd->name, "sent");
	lb_audit("notify", json_pack("{s:s,s:s,s:s,s:I}", "target", t->name, "container",
				     t->container, "signal", lb_signal_name(bd->notify_sig),
				     "generation", (json_int_t)t->generation));
}
