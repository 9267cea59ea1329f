/* Populating a mount before its container starts: the `create` event's inspect gives the
 * consumer ids (numeric Config.User) and the create-time gate; dockerd's remap range gives
 * the host ids. A Mount cannot tell which container it is for (dockerd holds that
 * container's lock, so no inspect; its ID is random), but when every container that may be
 * the one has the same ids and passed the gate, whichever it is gets the same files. Which
 * may be the one: dockerd's list of the containers using the volume, asked after the Mount
 * (no lock needed) — each one not holding a mount of ours yet must have been seen at create,
 * else the Mount may be for a container whose create event is still on its way, or a
 * stopped one started again, with other ids. After `start` the kernel's maps and the
 * container's own /etc/passwd decide again. */
#include "docker_int.h"
#include "log.h"
#include "userdb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool dk_early_ids(const char *user, uint32_t *uid, uint32_t *gid)
{
	const char *g = user ? strchr(user, ':') : NULL;
	int64_t u = lb_userdb_uid_hint(user);
	char *end;
	unsigned long x;

	if (u < 0)
		return false;
	*uid = *gid = (uint32_t)u;
	if (!g || !g[1])
		return true;
	if (!isdigit((unsigned char)g[1]))
		return false;
	x = strtoul(g + 1, &end, 10);
	if (*end || x > INT32_MAX)
		return false;
	*gid = (uint32_t)x;
	return true;
}

void dk_forget_created(struct lb_docker *d, const char *id)
{
	struct created **p = &d->created;
	char want[sizeof(d->created->id)];

	/* A copy: id may be an entry's own (dk_take_refusal passes refused->id), freed below
	 * while the rest of the list is still compared with it (ASan: heap-use-after-free in
	 * docker_posture). */
	snprintf(want, sizeof(want), "%s", id);
	while (*p) {
		struct created *c = *p;
		if (strcmp(c->id, want) == 0) {
			*p = c->next;
			json_decref(c->inspect);
			free(c);
			d->ncreated--;
		} else {
			p = &c->next;
		}
	}
}

/* Bounded: the oldest entries (containers created and never started) go first. */
static void trim_created(struct lb_docker *d)
{
	while (d->ncreated > CREATED_MAX) {
		struct created **p = &d->created;
		while ((*p)->next)
			p = &(*p)->next;
		json_decref((*p)->inspect);
		free(*p);
		*p = NULL;
		d->ncreated--;
	}
}

void dk_created(struct lb_docker *d, const char *id, json_t *inspect)
{
	const char *user =
	    json_string_value(json_object_get(json_object_get(inspect, "Config"), "User"));
	const char *userns = json_string_value(
	    json_object_get(json_object_get(inspect, "HostConfig"), "UsernsMode"));
	json_t *m;
	size_t i;

	dk_forget_created(d, id);
	json_array_foreach (json_object_get(inspect, "Mounts"), i, m) {
		const char *drv = json_string_value(json_object_get(m, "Driver"));
		const char *name = json_string_value(json_object_get(m, "Name"));
		struct volume *v = name ? dk_find_volume(d, name) : NULL;
		const lb_binding *bd;
		lb_posture_report rep;
		struct created *c;
		int64_t uid;

		if (!drv || strcmp(drv, d->driver) != 0 || !v ||
		    !(bd = lb_config_binding(lb_broker_cfg(d->b), v->binding)) ||
		    !(c = calloc(1, sizeof(*c))))
			continue;
		snprintf(c->id, sizeof(c->id), "%s", id);
		snprintf(c->volume, sizeof(c->volume), "%s", name);
		c->inspect = json_incref(inspect);
		c->ids_known = dk_early_ids(user, &c->uid, &c->gid);
		c->host_userns = userns && strcmp(userns, "host") == 0;
		/* A name in Config.User is resolved at start; until then it does not fail
		 * non-root (the kernel decides). */
		uid = c->ids_known ? (int64_t)c->uid : 1;
		if (dk_gate(d, inspect, bd, 0, uid, &rep, c->refusal, sizeof(c->refusal))) {
			c->refusal[0] = '\0';
		} else {
			dk_count_refusal(&rep);
			lb_audit("refused",
				 json_pack("{s:s,s:s,s:s,s:s,s:o}", "container", id, "volume", name,
					   "binding", bd->name, "reason", c->refusal, "report",
					   lb_posture_report_json(&rep)));
		}
		dk_seen_ids(v, c->ids_known && !c->host_userns, c->uid, c->gid);
		c->next = d->created;
		d->created = c;
		d->ncreated++;
	}
	trim_created(d);
}

void dk_seen_ids(struct volume *v, bool known, uint32_t uid, uint32_t gid)
{
	if (!known || (v->seen && (v->seen_uid != uid || v->seen_gid != gid)))
		v->mixed = true;
	v->seen = true;
	v->seen_uid = uid;
	v->seen_gid = gid;
}

bool dk_take_refusal(struct lb_docker *d, const struct volume *v, char *buf, size_t cap)
{
	struct created *refused = NULL;

	for (struct created *c = d->created; c; c = c->next) {
		if (strcmp(c->volume, v->name) != 0)
			continue;
		if (!c->refusal[0])
			return false;
		if (!refused)
			refused = c; /* the newest: most likely the one being started */
	}
	if (!refused)
		return false;
	snprintf(buf, cap, "%s", refused->refusal);
	/* Answered once: a refused container left in "created" must not fail the Mounts of
	 * containers created later whose create event is still on its way. */
	dk_forget_created(d, refused->id);
	return true;
}

/* The ids every container created for v and not started yet has, or NULL: none, one
 * unknown or refused, or they differ. */
static const struct created *common_ids(struct lb_docker *d, const struct volume *v)
{
	const struct created *one = NULL;

	for (const struct created *c = d->created; c; c = c->next) {
		if (strcmp(c->volume, v->name) != 0)
			continue;
		if (!c->ids_known || c->refusal[0] ||
		    (one && (c->uid != one->uid || c->gid != one->gid ||
			     c->host_userns != one->host_userns)))
			return NULL;
		one = c;
	}
	if (!one || (d->remap && !one->host_userns && !d->remap_spec[0]))
		return NULL;
	return one;
}

static bool waits(struct lb_docker *d, const struct mount *m)
{
	lb_target *t = lb_broker_target(d->b, m->target);

	return t && !t->ready && !m->container[0];
}

static void populate_mount(struct lb_docker *d, struct mount *m, const struct created *one)
{
	lb_target *t = lb_broker_target(d->b, m->target);
	const lb_binding *bd = lb_config_binding(lb_broker_cfg(d->b), m->v->binding);
	lb_err e = {0};

	if (!bd || !waits(d, m))
		return;
	t->uid = bd->has_uid ? bd->uid : one->uid;
	t->gid = bd->has_gid ? bd->gid : one->gid;
	if (lb_target_set_maps(t, d->remap && !one->host_userns ? d->remap_spec : NULL, NULL, &e)) {
		lb_log(LB_WARN, "docker: %s", e.msg);
		return;
	}
	json_decref(m->inspect);
	m->inspect = json_incref(one->inspect);
	t->pid = 0;
	t->ready = true;
	lb_log(LB_DEBUG, "docker: mount %.12s of volume %s populated before start (uid %u)", m->key,
	       m->v->name, t->uid);
	lb_broker_refresh_target(d->b, m->target, "mount");
}

static bool matched(const struct volume *v, const char *id)
{
	for (const struct mount *m = v->mounts; m; m = m->next)
		if (strcmp(m->container, id) == 0)
			return true;
	return false;
}

static bool seen_created(struct lb_docker *d, const struct volume *v, const char *id)
{
	for (struct created *c = d->created; c; c = c->next)
		if (strcmp(c->id, id) == 0 && strcmp(c->volume, v->name) == 0)
			return true;
	return false;
}

/* Every container dockerd lists for v that holds none of our mounts yet was seen at
 * create. Otherwise a Mount may be for a container whose create event is still on its way,
 * or for a stopped one started again (no create event): its ids are unknown. */
static bool all_seen(struct lb_docker *d, const struct volume *v, json_t *list)
{
	json_t *c;
	size_t i;

	if (!json_is_array(list))
		return false;
	json_array_foreach (list, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));

		if (!dk_id_ok(id) || (!matched(v, id) && !seen_created(d, v, id)))
			return false;
	}
	return true;
}

struct waiting_ctx {
	struct lb_docker *d;
	char volume[LB_NAME_MAX + 1];
	uint64_t seq; /* the Mounts this list covers: their containers were created before it */
};

static void ask_waiting(struct lb_docker *d, struct volume *v);

static void on_waiting(void *ctx, long status, json_t *body, const char *err)
{
	struct waiting_ctx *wc = ctx;
	struct lb_docker *d = wc->d;
	struct volume *v = dk_find_volume(d, wc->volume);
	const struct created *one;

	(void)err;
	if (v && v->listing) {
		v->listing = false;
		if (status == 200 && all_seen(d, v, body) && (one = common_ids(d, v)))
			for (struct mount *m = v->mounts; m; m = m->next)
				if (m->seq <= wc->seq)
					populate_mount(d, m, one);
		if (v->relist) {
			v->relist = false;
			ask_waiting(d, v);
		}
	}
	free(wc);
}

/* Ask dockerd which containers use v (its container list needs no container's lock,
 * unlike an inspect of the one being started), then guess for the mounts made so far. */
static void ask_waiting(struct lb_docker *d, struct volume *v)
{
	struct waiting_ctx *wc;
	char path[LB_NAME_MAX + 128];
	bool any = false;

	for (struct mount *m = v->mounts; m && !any; m = m->next)
		any = waits(d, m);
	if (!any || v->mixed || !common_ids(d, v))
		return;
	if (v->listing) {
		v->relist = true;
		return;
	}
	if (!(wc = calloc(1, sizeof(*wc))))
		return;
	wc->d = d;
	wc->seq = d->mount_seq;
	snprintf(wc->volume, sizeof(wc->volume), "%s", v->name);
	/* {"volume":["NAME"]}; a volume name needs no escaping (lb_secret_name_valid). */
	snprintf(path, sizeof(path),
		 "containers/json?all=1&filters=%%7B%%22volume%%22%%3A%%5B%%22%s%%22%%5D%%7D",
		 v->name);
	if (lb_engine_call(d->en, "GET", path, on_waiting, wc) < 0) {
		free(wc);
		return;
	}
	v->listing = true;
}

void dk_populate_early(struct lb_docker *d)
{
	/* A container created just now may be the one its Mount is for: wait for its inspect
	 * (its answer calls this again). */
	if (d->inflight)
		return;
	for (struct volume *v = d->vols; v; v = v->next)
		ask_waiting(d, v);
}

void dk_on_early(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	dk_populate_early(ctx);
}
