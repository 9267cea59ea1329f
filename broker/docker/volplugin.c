/* The VolumeDriver endpoints: Create, Get, List, Path, Mount, Unmount, Remove. */
#include "docker_int.h"
#include "layout.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the volume plugin --- */

__attribute__((format(printf, 1, 2))) static json_t *err_reply(const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "Err", msg);
}

static json_t *vol_json(struct lb_docker *d, struct volume *v)
{
	char mp[4096] = "";

	if (dk_is_mount_root(d->mdirfd, v->name))
		dk_mountpoint(d, v->name, mp, sizeof(mp));
	return json_pack("{s:s,s:s,s:{s:s}}", "Name", v->name, "Mountpoint", mp, "Status",
			 "binding", v->binding);
}

json_t *dk_on_plugin(void *ctx, const char *ep, json_t *req)
{
	struct lb_docker *d = ctx;
	const char *name = json_string_value(json_object_get(req, "Name"));
	struct volume *v = name ? dk_find_volume(d, name) : NULL;
	char mp[4096];
	lb_err e = {0};

	if (strcmp(ep, "Capabilities") == 0)
		return json_pack("{s:{s:s}}", "Capabilities", "Scope", "local");
	if (strcmp(ep, "List") == 0) {
		json_t *arr = json_array();
		for (struct volume *x = d->vols; x; x = x->next)
			json_array_append_new(arr, vol_json(d, x));
		return json_pack("{s:o}", "Volumes", arr);
	}
	if (!name || !lb_secret_name_valid(name))
		return err_reply("lockbox: bad volume name \"%s\"", name ? name : "");
	if (strcmp(ep, "Create") == 0) {
		json_t *opts = json_object_get(req, "Opts"), *x;
		const char *binding = name, *k;

		json_object_foreach (opts, k, x) {
			if (strcmp(k, "binding") != 0 || !json_is_string(x))
				return err_reply(
				    "lockbox: unknown volume option \"%s\" (volume %s; "
				    "only binding=NAME)",
				    k, name);
			binding = json_string_value(x);
		}
		if (!lb_config_binding(lb_broker_cfg(d->b), binding))
			return err_reply("lockbox: unknown binding \"%s\" (volume %s)", binding,
					 name);
		if (lb_config_target(lb_broker_cfg(d->b), name))
			return err_reply("lockbox: volume name %s is a static target", name);
		if (!v && !dk_add_volume(d, name, binding))
			return err_reply("lockbox: out of memory");
		dk_save_volumes(d);
		lb_audit("volume_created",
			 json_pack("{s:s,s:s}", "volume", name, "binding", binding));
		return json_object();
	}
	if (!v)
		return err_reply("lockbox: no such volume %s", name);
	if (strcmp(ep, "Get") == 0)
		return json_pack("{s:o}", "Volume", vol_json(d, v));
	if (strcmp(ep, "Path") == 0) {
		/* Not through vol_json: its object leaked here (issue 13 defect 10, LSan). */
		mp[0] = '\0';
		if (dk_is_mount_root(d->mdirfd, v->name))
			dk_mountpoint(d, v->name, mp, sizeof(mp));
		return json_pack("{s:s}", "Mountpoint", mp);
	}
	if (strcmp(ep, "Mount") == 0) {
		/* Never inspect the container here: dockerd holds its lock during Mount. */
		if (v->refusal[0])
			return err_reply("%s", v->refusal);
		if (!lb_broker_add_dynamic(d->b, name, v->binding, &e) ||
		    dk_bind_readonly(d, name, &e))
			return err_reply("lockbox: volume %s: %s", name, e.msg);
		dk_mountpoint(d, name, mp, sizeof(mp));
		return json_pack("{s:s}", "Mountpoint", mp);
	}
	if (strcmp(ep, "Unmount") == 0)
		return json_object(); /* die/destroy retire the target; a restart mounts again */
	if (strcmp(ep, "Remove") == 0) {
		struct volume **p;
		dk_retire(d, name, "volume removed");
		for (p = &d->vols; *p != v; p = &(*p)->next)
			;
		*p = v->next;
		json_decref(v->inspect);
		free(v);
		dk_save_volumes(d);
		lb_audit("volume_removed", json_pack("{s:s}", "volume", name));
		return json_object();
	}
	return err_reply("lockbox: unsupported endpoint %s", ep);
}
