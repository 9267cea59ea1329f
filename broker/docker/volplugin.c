/* The VolumeDriver endpoints: Create, Get, List, Path, Mount, Unmount, Remove. Never talks
 * to dockerd: it calls Mount while it holds the container's lock. */
#include "docker_int.h"
#include "layout.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 1, 2))) static json_t *err_reply(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message is cut */
	va_end(ap);
	return json_pack("{s:s}", "Err", msg);
}

/* A volume has one Mountpoint per container, so none of its own. */
static json_t *vol_json(struct volume *v)
{
	int n = 0;

	for (struct mount *m = v->mounts; m; m = m->next)
		n++;
	return json_pack("{s:s,s:s,s:{s:s,s:i}}", "Name", v->name, "Mountpoint", "", "Status",
			 "binding", v->binding, "mounts", n);
}

static json_t *create(struct lb_docker *d, const char *name, struct volume *v, json_t *req)
{
	json_t *opts = json_object_get(req, "Opts"), *x;
	const char *binding = name, *k;

	json_object_foreach (opts, k, x) {
		if (strcmp(k, "binding") != 0 || !json_is_string(x))
			return err_reply("lockbox: unknown volume option \"%s\" (volume %s; "
					 "only binding=NAME)",
					 k, name);
		binding = json_string_value(x);
	}
	if (!lb_config_binding(lb_broker_cfg(d->b), binding))
		return err_reply("lockbox: unknown binding \"%s\" (volume %s)", binding, name);
	if (v && strcmp(v->binding, binding) != 0)
		return err_reply("lockbox: volume %s exists with binding %s, not %s (remove it "
				 "first)",
				 name, v->binding, binding);
	if (v)
		return json_object();
	if (!dk_add_volume(d, name, binding))
		return err_reply("lockbox: out of memory");
	dk_volumes_changed(d);
	lb_audit("volume_created", json_pack("{s:s,s:s}", "volume", name, "binding", binding));
	return json_object();
}

/* Each Mount ID gets its own tmpfs; a Mount again with a known ID (dockerd counts them)
 * returns the same one. */
static json_t *mount(struct lb_docker *d, struct volume *v, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "ID"));
	char refusal[700];
	char key[KEY_MAX + 1], target[LB_NAME_MAX + 1], mp[4096];
	struct mount *m;
	lb_err e = {0};

	if (!id || !*id)
		return err_reply("lockbox: volume %s: Mount without an ID", v->name);
	dk_mount_key(id, key, sizeof(key));
	snprintf(target, sizeof(target), "@%s", key);
	dk_retire_pending(d, target); /* its Unmount just ended it: a fresh one */
	m = dk_find_mount(d, target);
	if (m && m->v != v)
		return err_reply("lockbox: mount ID %.12s belongs to volume %s", id, m->v->name);
	if (!m) {
		if (dk_take_refusal(d, v, refusal, sizeof(refusal)))
			return err_reply("%s", refusal);
		if (!(m = dk_add_mount(d, v, id, &e)))
			return err_reply("lockbox: volume %s: %s", v->name, e.msg);
		/* The guess waits one loop turn: a create event already queued on the stream
		 * is read first, and its inspect holds the guess until it answers. */
		lb_timer_arm(d->early_timer, 1);
	}
	m->refs++;
	dk_save_volumes(d);
	dk_mountpoint(d, m, mp, sizeof(mp));
	return json_pack("{s:s}", "Mountpoint", mp);
}

/* The last Unmount of an ID ends its mount: the create-time copy-up's, or the container's
 * at stop (die has usually retired it already). Answered at once, retired on the next turn. */
static json_t *unmount(struct lb_docker *d, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "ID"));
	char key[KEY_MAX + 1], target[LB_NAME_MAX + 1];
	struct mount *m;

	if (!id)
		return json_object();
	dk_mount_key(id, key, sizeof(key));
	snprintf(target, sizeof(target), "@%s", key);
	if ((m = dk_find_mount(d, target)) && --m->refs <= 0)
		dk_retire_later(d, m, "unmounted");
	return json_object();
}

json_t *dk_on_plugin(void *ctx, const char *ep, json_t *req)
{
	struct lb_docker *d = ctx;
	const char *name = json_string_value(json_object_get(req, "Name"));
	struct volume *v = name ? dk_find_volume(d, name) : NULL;

	if (strcmp(ep, "Capabilities") == 0)
		return json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
	if (strcmp(ep, "List") == 0) {
		json_t *arr = json_array();
		for (struct volume *x = d->vols; x; x = x->next)
			json_array_append_new(arr, vol_json(x));
		return json_pack("{s:o}", "Volumes", arr);
	}
	if (!name || !lb_secret_name_valid(name))
		return err_reply("lockbox: bad volume name \"%s\"", name ? name : "");
	if (strcmp(ep, "Create") == 0)
		return create(d, name, v, req);
	/* Removing what is not there is done (e.g. a state_dir lost): dockerd can forget it. */
	if (!v && strcmp(ep, "Remove") == 0)
		return json_object();
	if (!v)
		return err_reply("lockbox: no such volume %s", name);
	if (strcmp(ep, "Get") == 0)
		return json_pack("{s:o}", "Volume", vol_json(v));
	if (strcmp(ep, "Path") == 0)
		return json_pack("{s:s}", "Mountpoint", "");
	if (strcmp(ep, "Mount") == 0)
		return mount(d, v, req);
	if (strcmp(ep, "Unmount") == 0)
		return unmount(d, req);
	if (strcmp(ep, "Remove") == 0) {
		dk_remove_volume(d, v, "volume removed");
		dk_volumes_changed(d);
		lb_audit("volume_removed", json_pack("{s:s}", "volume", name));
		return json_object();
	}
	return err_reply("lockbox: unsupported endpoint %s", ep);
}
