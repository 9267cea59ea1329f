#include "docker.h"
#include "cleanup.h"
#include "engine.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"
#include "control.h"
#include "plugin.h"
#include "posture_eval.h"
#include "procfacts.h"
#include "units.h"

#include <ctype.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define VOLUMES_FILE "docker-volumes.json"
#define MOUNTS_DIR   "m" /* RUN_DIR/m/NAME: the read-only bind dockerd gets */
#define PASSWD_MAX   (256 * 1024)

struct volume {
	char name[LB_NAME_MAX + 1];
	char binding[LB_NAME_MAX + 1];
	json_t *inspect;   /* the container using it, as dockerd described it at start */
	char refusal[700]; /* set when the create-time inspect already fails the gate */
	struct volume *next;
};

struct lb_docker {
	lb_broker *b;
	lb_engine *en;
	lb_plugin *pl;
	char driver[64];
	int mdirfd;
	struct volume *vols;
	bool remap;	/* dockerd runs with --userns-remap (GET /info) */
	json_t *doomed; /* targets refused from inside a refresh pass, retired next tick */
	lb_timer *doom_timer;
};

static struct volume *find_volume(struct lb_docker *d, const char *name)
{
	for (struct volume *v = d->vols; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

static void save_volumes(struct lb_docker *d)
{
	_cleanup_json_ json_t *root = json_object();
	lb_err e = {0};
	char *text;

	for (struct volume *v = d->vols; v; v = v->next) {
		lb_target *t = lb_broker_target(d->b, v->name);
		json_object_set_new(root, v->name,
				    json_pack("{s:s,s:s?}", "binding", v->binding, "container",
					      t && t->container[0] ? t->container : NULL));
	}
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return;
	if (lb_write_replace_at(lb_broker_state_dirfd(d->b), VOLUMES_FILE, text, strlen(text), 0600,
				&e))
		lb_log(LB_ERROR, "docker: cannot save %s: %s", VOLUMES_FILE, e.msg);
	lb_json_free(text);
}

static struct volume *add_volume(struct lb_docker *d, const char *name, const char *binding)
{
	struct volume *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(v->binding, sizeof(v->binding), "%s", binding);
	v->next = d->vols;
	d->vols = v;
	return v;
}

static bool is_mount_root(int dirfd, const char *name)
{
	struct statx stx;

	return statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* RUN_DIR/m/NAME: a read-only clone of the target's tmpfs, made with open_tree and
 * mount_setattr on fds. A read-only bind used as a mount source stays read-only in the
 * container, even for its root. */
static int bind_readonly(struct lb_docker *d, const char *name, lb_err *e)
{
	int tdirfd = -1;
	_cleanup_close_ int fd = -1;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
	_cleanup_close_ int tfd = openat(lb_broker_run_dirfd(d->b), LB_TARGETS_SUBDIR,
					 O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	tdirfd = tfd;
	if (is_mount_root(d->mdirfd, name))
		return 0;
	if (mkdirat(d->mdirfd, name, 0755) < 0 && errno != EEXIST)
		return lb_fail_errno(e, "mkdir %s/%s", MOUNTS_DIR, name);
	fd = (int)syscall(SYS_open_tree, tdirfd, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (fd < 0)
		return lb_fail_errno(e, "clone the tmpfs of %s", name);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return lb_fail_errno(e, "make the bind of %s read-only", name);
	if (move_mount(fd, "", d->mdirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return lb_fail_errno(e, "attach the read-only bind of %s", name);
	return 0;
}

static void unbind(struct lb_docker *d, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/" MOUNTS_DIR "/%s", lb_broker_cfg(d->b)->run_dir, name);
	while (is_mount_root(d->mdirfd, name))
		if (umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH) < 0) {
			lb_log(LB_ERROR, "docker: unmount %s: %s", path, strerror(errno));
			break;
		}
	unlinkat(d->mdirfd, name, AT_REMOVEDIR);
}

static void mountpoint(struct lb_docker *d, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" MOUNTS_DIR "/%s", lb_broker_cfg(d->b)->run_dir, name);
}

/* Wipe and unmount what a container had; the volume stays known for a restart. */
static void retire(struct lb_docker *d, const char *name, const char *reason)
{
	unbind(d, name);
	lb_broker_drop_dynamic(d->b, name, reason);
}

/* --- consumer identity --- */

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Looks name (or a numeric id) up in the container's own passwd or group file, resolved
 * inside its root. field: the numeric column wanted (2 = uid/gid, 3 = primary gid). */
static int lookup_in_root(int pid, const char *file, const char *name, int field, uint32_t *out)
{
	char path[64];
	_cleanup_close_ int rootfd = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len;
	lb_err e;

	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || (fd = open_in_root(rootfd, file)) < 0)
		return -1;
	if (lb_read_fd(fd, file, PASSWD_MAX, &text, &len, &e) < 0)
		return -1;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *cols[4] = {0};
		int n = 0;
		for (char *p = line; n < 4 && p; n++) {
			cols[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (n < 4 || !cols[field])
			continue;
		if (strcmp(cols[0], name) == 0 || strcmp(cols[2], name) == 0) {
			char *end;
			unsigned long v = strtoul(cols[field], &end, 10);
			if (*end || v > UINT32_MAX)
				return -1;
			*out = (uint32_t)v;
			return 0;
		}
	}
	return -1;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Config.User: "", "uid", "uid:gid", "name", "name:group". */
static int consumer_ids(int pid, const char *user, uint32_t *uid, uint32_t *gid, lb_err *e)
{
	char u[256], *g;

	snprintf(u, sizeof(u), "%s", user ? user : "");
	g = strchr(u, ':');
	if (g)
		*g++ = '\0';
	*uid = 0;
	*gid = 0;
	if (u[0]) {
		if (all_digits(u))
			*uid = (uint32_t)strtoul(u, NULL, 10);
		else if (lookup_in_root(pid, "etc/passwd", u, 2, uid) < 0)
			return lb_fail(e, 0, "user \"%s\" not found in the container's /etc/passwd",
				       u);
		if (!g && lookup_in_root(pid, "etc/passwd", u, 3, gid) < 0)
			*gid = 0;
	}
	if (g && *g) {
		if (all_digits(g))
			*gid = (uint32_t)strtoul(g, NULL, 10);
		else if (lookup_in_root(pid, "etc/group", g, 2, gid) < 0)
			return lb_fail(e, 0, "group \"%s\" not found in the container's /etc/group",
				       g);
	}
	return 0;
}

/* --- the posture gate --- */

/* Evaluates the binding's requirements for a container: from inspect alone (pid 0, before
 * it runs) or from inspect and the kernel. Returns true when admitted; line gets the
 * refusal line and rep the whole report. */
static bool gate(struct lb_docker *d, json_t *inspect, const lb_binding *bd, int pid, int64_t uid,
		 lb_posture_report *rep, char *line, size_t cap)
{
	lb_inspect_facts in = {0};
	lb_kernel_facts k;
	lb_err e = {0};
	uint32_t failed;

	line[0] = '\0';
	lb_kernel_facts_init(&k);
	if (lb_inspect_facts_from_json(inspect, d->remap, &in, &e)) {
		snprintf(line, cap, "lockbox: binding %s refused container: %s", bd->name, e.msg);
		memset(rep, 0, sizeof(*rep));
		lb_kernel_facts_clear(&k);
		return false;
	}
	if (uid >= 0)
		in.uid = uid;
	if (pid > 0 && lb_procfacts_read(pid, &k, &e)) {
		snprintf(line, cap,
			 "lockbox: binding %s refused container: kernel facts unreadable: %s",
			 bd->name, e.msg);
		lb_inspect_facts_clear(&in);
		lb_kernel_facts_clear(&k);
		memset(rep, 0, sizeof(*rep));
		return false;
	}
	failed =
	    lb_posture_evaluate(bd->require, &in, pid > 0 ? &k : NULL, lb_broker_hashes(d->b), rep);
	if (failed)
		lb_posture_refusal_line(rep, bd->name, line, cap);
	lb_inspect_facts_clear(&in);
	lb_kernel_facts_clear(&k);
	return failed == 0;
}

static void on_stopped(void *ctx, long status, json_t *body, const char *err)
{
	char *id = ctx;

	(void)body;
	if (status != 204 && status != 304)
		lb_log(LB_WARN, "docker: stopping refused container %.12s failed: %s", id,
		       status ? "unexpected status" : err);
	free(id);
}

/* One audit event with every reason; on_refuse stop (default) stops the container. */
static void refuse(struct lb_docker *d, const char *volume, const char *id, const lb_binding *bd,
		   const lb_posture_report *rep, const char *line)
{
	char path[160];
	char *cid;

	lb_log(LB_ERROR, "%s (container %.12s, volume %s)", line, id, volume);
	lb_audit("refused", json_pack("{s:s,s:s,s:s,s:s,s:s,s:o}", "container", id, "volume",
				      volume, "binding", bd->name, "reason", line, "on_refuse",
				      bd->on_refuse_warn ? "warn" : "stop", "report",
				      lb_posture_report_json(rep)));
	if (bd->on_refuse_warn || !(cid = strdup(id)))
		return;
	snprintf(path, sizeof(path), "containers/%s/stop?t=10", id);
	if (lb_engine_call(d->en, "POST", path, on_stopped, cid) < 0)
		free(cid);
}

static void on_doom(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct lb_docker *d = ctx;
	size_t i;
	json_t *n;

	(void)loop;
	(void)t;
	json_array_foreach (d->doomed, i, n)
		retire(d, json_string_value(n), "refused");
	json_array_clear(d->doomed);
}

bool lb_docker_admit(struct lb_docker *d, lb_target *t)
{
	struct volume *v = d ? find_volume(d, t->name) : NULL;
	const lb_binding *bd = v ? lb_config_binding(lb_broker_cfg(d->b), v->binding) : NULL;
	lb_posture_report rep;
	char line[700];

	if (!v || !bd || !v->inspect)
		return true;
	if (gate(d, v->inspect, bd, t->pid, t->uid, &rep, line, sizeof(line)))
		return true;
	refuse(d, v->name, t->container, bd, &rep, line);
	if (bd->on_refuse_warn)
		return true;
	/* We are inside a refresh pass that holds t: retire it on the next tick. */
	json_array_append_new(d->doomed, json_string(v->name));
	lb_timer_arm(d->doom_timer, 1);
	return false;
}

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

		if (!drv || !name || strcmp(drv, d->driver) != 0 || !(v = find_volume(d, name)))
			continue;
		if (!running || pid <= 0) {
			retire(d, name, "container not running");
			continue;
		}
		t = lb_broker_add_dynamic(d->b, name, v->binding, &e);
		bd = lb_config_binding(lb_broker_cfg(d->b), v->binding);
		if (!t || !bd) {
			lb_log(LB_ERROR, "docker: volume %s: %s", name, t ? "binding gone" : e.msg);
			continue;
		}
		if (consumer_ids(pid, user, &uid, &gid, &e)) {
			lb_audit("refused", json_pack("{s:s,s:s,s:s}", "target", name, "container",
						      ic->id, "reason", e.msg));
			continue;
		}
		{
			lb_posture_report rep;
			char line[700];

			if (!gate(d, body, bd, pid, uid, &rep, line, sizeof(line))) {
				refuse(d, name, ic->id, bd, &rep, line);
				if (!bd->on_refuse_warn) {
					retire(d, name, "refused");
					continue;
				}
			}
		}
		json_decref(v->inspect);
		v->inspect = json_incref(body);
		t->uid = bd->has_uid ? bd->uid : uid;
		t->gid = bd->has_gid ? bd->gid : gid;
		/* The running process's maps are authoritative. */
		snprintf(t->uid_map, sizeof(t->uid_map), "pid:%d", pid);
		snprintf(t->gid_map, sizeof(t->gid_map), "pid:%d", pid);
		/* Same container as before a broker restart: what it holds was delivered. */
		t->first_gen = strcmp(t->container, ic->id) == 0 ? t->generation : 0;
		snprintf(t->container, sizeof(t->container), "%s", ic->id);
		t->pid = pid;
		t->ready = true;
		lb_log(LB_INFO, "docker: container %.12s uses volume %s (binding %s, uid %u)",
		       ic->id, name, v->binding, t->uid);
		lb_broker_refresh_target(d->b, name, "container-start");
	}
	save_volumes(d);
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
			struct volume *v = name ? find_volume(d, name) : NULL;
			const lb_binding *bd;
			const char *user = json_string_value(
			    json_object_get(json_object_get(body, "Config"), "User"));
			char u[64];
			lb_posture_report rep;
			int64_t uid = -1;

			if (!drv || strcmp(drv, d->driver) != 0 || !v ||
			    !(bd = lb_config_binding(lb_broker_cfg(d->b), v->binding)))
				continue;
			snprintf(u, sizeof(u), "%s", user ? user : "");
			if (strchr(u, ':'))
				*strchr(u, ':') = '\0';
			if (!u[0])
				uid = 0;
			else if (all_digits(u))
				uid = (int64_t)strtoul(u, NULL, 10);
			else
				uid = 1; /* resolved at start, from the container's own passwd */
			if (gate(d, body, bd, 0, uid, &rep, v->refusal, sizeof(v->refusal)))
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

static bool id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]))
			return false;
	return true;
}

static void on_event(void *ctx, json_t *ev)
{
	struct lb_docker *d = ctx;
	const char *action = json_string_value(json_object_get(ev, "Action"));
	const char *id = json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID"));

	if (!action || !id_ok(id))
		return;
	if (strcmp(action, "create") == 0) {
		inspect_with(d, id, on_inspect_created);
	} else if (strcmp(action, "start") == 0) {
		inspect(d, id);
	} else if (strcmp(action, "die") == 0 || strcmp(action, "destroy") == 0) {
		for (struct volume *v = d->vols; v; v = v->next) {
			lb_target *t = lb_broker_target(d->b, v->name);
			if (t && strcmp(t->container, id) == 0)
				retire(d, v->name, action);
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
			retire(d, v->name, "no running container");
	}
	/* Running containers are inspected again: they resume with fresh pids and maps. */
	json_array_foreach (body, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *state = json_string_value(json_object_get(c, "State"));
		json_t *mounts = json_object_get(c, "Mounts"), *m;
		size_t j;
		bool ours = false;

		if (!id_ok(id) || !state || strcmp(state, "running") != 0)
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

static void on_connected(void *ctx)
{
	struct lb_docker *d = ctx;

	lb_log(LB_INFO, "docker: connected to dockerd; reconciling");
	lb_engine_call(d->en, "GET", "info", on_info, d);
}

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

	if (is_mount_root(d->mdirfd, v->name))
		mountpoint(d, v->name, mp, sizeof(mp));
	return json_pack("{s:s,s:s,s:{s:s}}", "Name", v->name, "Mountpoint", mp, "Status",
			 "binding", v->binding);
}

static json_t *on_plugin(void *ctx, const char *ep, json_t *req)
{
	struct lb_docker *d = ctx;
	const char *name = json_string_value(json_object_get(req, "Name"));
	struct volume *v = name ? find_volume(d, name) : NULL;
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
		if (!v && !add_volume(d, name, binding))
			return err_reply("lockbox: out of memory");
		save_volumes(d);
		lb_audit("volume_created",
			 json_pack("{s:s,s:s}", "volume", name, "binding", binding));
		return json_object();
	}
	if (!v)
		return err_reply("lockbox: no such volume %s", name);
	if (strcmp(ep, "Get") == 0)
		return json_pack("{s:o}", "Volume", vol_json(d, v));
	if (strcmp(ep, "Path") == 0)
		return json_pack("{s:O}", "Mountpoint",
				 json_object_get(vol_json(d, v), "Mountpoint"));
	if (strcmp(ep, "Mount") == 0) {
		/* Never inspect the container here: dockerd holds its lock during Mount. */
		if (v->refusal[0])
			return err_reply("%s", v->refusal);
		if (!lb_broker_add_dynamic(d->b, name, v->binding, &e) ||
		    bind_readonly(d, name, &e))
			return err_reply("lockbox: volume %s: %s", name, e.msg);
		mountpoint(d, name, mp, sizeof(mp));
		return json_pack("{s:s}", "Mountpoint", mp);
	}
	if (strcmp(ep, "Unmount") == 0)
		return json_object(); /* die/destroy retire the target; a restart mounts again */
	if (strcmp(ep, "Remove") == 0) {
		struct volume **p;
		retire(d, name, "volume removed");
		for (p = &d->vols; *p != v; p = &(*p)->next)
			;
		*p = v->next;
		json_decref(v->inspect);
		free(v);
		save_volumes(d);
		lb_audit("volume_removed", json_pack("{s:s}", "volume", name));
		return json_object();
	}
	return err_reply("lockbox: unsupported endpoint %s", ep);
}

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
		struct volume *v = name ? find_volume(d, name) : NULL;
		if (drv && strcmp(drv, d->driver) == 0 && v)
			bd = lb_config_binding(lb_broker_cfg(d->b), v->binding);
	}
	pid = json_is_true(json_object_get(json_object_get(body, "State"), "Running"))
		  ? (int)json_integer_value(json_object_get(json_object_get(body, "State"), "Pid"))
		  : 0;
	user = json_string_value(json_object_get(json_object_get(body, "Config"), "User"));
	if (pid > 0 && consumer_ids(pid, user, &uid, &gid, &e) == 0)
		uid_known = uid;
	ok = gate(d, body, bd ? bd : &dflt, pid, uid_known, &rep, line, sizeof(line));
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

static void audit_container(struct audit *a, const char *ref)
{
	struct audit_one *o = calloc(1, sizeof(*o));
	char *enc, path[400];

	a->pending++;
	if (!o) {
		audit_done(a);
		return;
	}
	o->a = a;
	snprintf(o->ref, sizeof(o->ref), "%s", ref);
	enc = curl_easy_escape(NULL, ref, 0);
	snprintf(path, sizeof(path), "containers/%s/json", enc ? enc : "");
	curl_free(enc);
	if (lb_engine_call(a->d->en, "GET", path, on_audit_inspect, o) < 0) {
		free(o);
		audit_done(a);
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
		if (id_ok(id))
			audit_container(a, id);
	}
	audit_done(a);
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

/* --- lifecycle --- */

static void load_volumes(struct lb_docker *d)
{
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *root = NULL;
	const char *name;
	json_t *v;
	lb_err e = {0};

	if (lb_read_at(lb_broker_state_dirfd(d->b), VOLUMES_FILE, 4 * 1024 * 1024, &text, NULL,
		       &e) < 0)
		return;
	root = json_loads(text, 0, NULL);
	json_object_foreach (root, name, v) {
		const char *binding = json_string_value(json_object_get(v, "binding"));
		const char *container = json_string_value(json_object_get(v, "container"));
		lb_target *t;

		if (!lb_secret_name_valid(name) || !binding || !add_volume(d, name, binding))
			continue;
		/* A live tmpfs is reused; the reconcile decides whether its container lives. */
		if (!is_mount_root(d->mdirfd, name))
			continue;
		t = lb_broker_add_dynamic(d->b, name, binding, &e);
		if (t && container && id_ok(container))
			snprintf(t->container, sizeof(t->container), "%s", container);
	}
}

struct lb_docker *lb_docker_new(lb_broker *b, lb_err *e)
{
	const lb_config *cfg = lb_broker_cfg(b);
	struct lb_docker *d = calloc(1, sizeof(*d));
	lb_engine_handlers h = {.on_event = on_event, .on_connected = on_connected};
	const char *base = strrchr(cfg->plugin_socket, '/') + 1;
	size_t n = strlen(base);

	if (!d)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	d->b = b;
	d->doomed = json_array();
	d->doom_timer = lb_timer_new(lb_broker_loop(b), on_doom, d);
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
	load_volumes(d);
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
	lb_engine_free(d->en);
	lb_plugin_free(d->pl);
	while (d->vols) {
		struct volume *v = d->vols;
		d->vols = v->next;
		json_decref(v->inspect);
		free(v);
	}
	json_decref(d->doomed);
	lb_timer_free(d->doom_timer);
	if (d->mdirfd > 0)
		close(d->mdirfd);
	free(d);
}

bool lb_docker_claims(struct lb_docker *d, const char *name)
{
	return d && find_volume(d, name);
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
	if (lb_engine_call(d->en, "POST", path, on_killed, id) < 0)
		free(id);
	else
		lb_audit("notify", json_pack("{s:s,s:s,s:s,s:I}", "target", t->name, "container",
					     t->container, "signal", lb_signal_name(bd->notify_sig),
					     "generation", (json_int_t)t->generation));
}
