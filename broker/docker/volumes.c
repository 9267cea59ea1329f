/* Docker volume records (state_dir/docker-volumes.json) and their mounts
 * (run_dir/docker-mounts.json), each mount's tmpfs and the read-only bind dockerd gets. */
#include "docker_int.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct volume *dk_find_volume(struct lb_docker *d, const char *name)
{
	for (struct volume *v = d->vols; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

struct volume *dk_add_volume(struct lb_docker *d, const char *name, const char *binding)
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

void dk_remove_volume(struct lb_docker *d, struct volume *v, const char *reason)
{
	struct volume **p;
	struct mount *m;

	while ((m = v->mounts)) {
		v->mounts = m->next; /* off the list here: v goes next */
		m->v = NULL;
		dk_retire_later(d, m, reason);
	}
	for (p = &d->vols; *p && *p != v; p = &(*p)->next)
		;
	if (*p)
		*p = v->next;
	free(v);
}

struct mount *dk_find_mount(struct lb_docker *d, const char *target)
{
	for (struct volume *v = d->vols; v; v = v->next)
		for (struct mount *m = v->mounts; m; m = m->next)
			if (strcmp(m->target, target) == 0)
				return m;
	return NULL;
}

struct mount *dk_mount_by_dev(struct lb_docker *d, unsigned major, unsigned minor)
{
	for (struct volume *v = d->vols; v; v = v->next)
		for (struct mount *m = v->mounts; m; m = m->next)
			if (m->dev && major(m->dev) == major && minor(m->dev) == minor)
				return m;
	return NULL;
}

static dev_t dev_of(lb_target *t)
{
	struct stat st;

	return t && fstat(t->dirfd, &st) == 0 ? st.st_dev : 0;
}

bool dk_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)id[i]))
			return false;
	return true;
}

/* dockerd's mount IDs are 64 hex digits; anything else is named by a digest of it. */
void dk_mount_key(const char *id, char *key, size_t cap)
{
	unsigned char h[16];

	if (dk_id_ok(id)) {
		snprintf(key, cap, "%s", id);
		return;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)id, strlen(id), NULL, 0);
	sodium_bin2hex(key, cap, h, sizeof(h));
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
	_cleanup_close_ int fd = -1;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
	_cleanup_close_ int tdirfd = -1;

	if (is_mount_root(d->mdirfd, name))
		return 0;
	if (mkdirat(d->mdirfd, name, 0755) < 0 && errno != EEXIST)
		return lb_fail_errno(e, "mkdir %s/%s", MOUNTS_DIR, name);
	tdirfd = openat(lb_broker_run_dirfd(d->b), LB_TARGETS_SUBDIR,
			O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
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

void dk_mountpoint(struct lb_docker *d, const struct mount *m, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" MOUNTS_DIR "/%s", lb_broker_cfg(d->b)->run_dir, m->target);
}

static void free_mount(struct mount *m)
{
	dk_gate_forget(m);
	json_decref(m->inspect);
	free(m);
}

struct mount *dk_add_mount(struct lb_docker *d, struct volume *v, const char *id, lb_err *e)
{
	struct mount *m = calloc(1, sizeof(*m));
	lb_target *t;

	if (!m)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	dk_mount_key(id, m->key, sizeof(m->key));
	snprintf(m->target, sizeof(m->target), "@%s", m->key);
	m->v = v;
	t = lb_broker_add_dynamic(d->b, m->target, v->binding, e);
	if (!t ||
	    lb_target_status(t, lb_config_binding(lb_broker_cfg(d->b), v->binding), NULL, e) ||
	    bind_readonly(d, m->target, e)) {
		if (t)
			lb_broker_drop_dynamic(d->b, m->target, "mount failed");
		unbind(d, m->target);
		free_mount(m);
		return NULL;
	}
	m->dev = dev_of(t);
	m->seq = ++d->mount_seq;
	m->next = v->mounts;
	v->mounts = m;
	return m;
}

/* Off its volume's list; the mount itself stays. */
static void detach(struct mount *m)
{
	struct mount **p;

	if (!m->v)
		return;
	for (p = &m->v->mounts; *p && *p != m; p = &(*p)->next)
		;
	if (*p)
		*p = m->next;
	m->v = NULL;
	m->next = NULL;
}

static void retire_now(struct lb_docker *d, struct mount *m, const char *reason)
{
	unbind(d, m->target);
	lb_broker_drop_dynamic(d->b, m->target, reason);
	free_mount(m);
}

void dk_retire(struct lb_docker *d, struct mount *m, const char *reason)
{
	detach(m);
	retire_now(d, m, reason);
}

void dk_save_later(struct lb_docker *d)
{
	d->save_pending = true;
	lb_timer_arm(d->retire_timer, 1);
}

void dk_retire_later(struct lb_docker *d, struct mount *m, const char *reason)
{
	detach(m);
	snprintf(m->retire_reason, sizeof(m->retire_reason), "%s", reason);
	m->next = d->retiring;
	d->retiring = m;
	dk_save_later(d);
}

void dk_retire_pending(struct lb_docker *d, const char *target)
{
	struct mount **p = &d->retiring, *m;

	while ((m = *p)) {
		if (target && strcmp(m->target, target) != 0) {
			p = &m->next;
			continue;
		}
		*p = m->next;
		retire_now(d, m, m->retire_reason);
	}
	if (!target && d->save_pending)
		dk_save_volumes(d);
}

void dk_on_retire(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	dk_retire_pending(ctx, NULL);
}

static int write_json(int dirfd, const char *name, const json_t *root, bool durable)
{
	char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	lb_err e = {0};
	int r;

	if (!text) {
		lb_log(LB_ERROR, "docker: cannot save %s: out of memory", name);
		return -1;
	}
	r = (durable ? lb_write_replace_at : lb_write_cache_at)(dirfd, name, text, strlen(text),
								0600, &e);
	if (r)
		lb_log(LB_ERROR, "docker: cannot save %s: %s", name, e.msg);
	lb_json_free(text);
	return r;
}

/* The durable file is only ever replaced by one that was fsync'd: an unsynced copy renamed
 * over it could leave, after a power loss, an empty or partial file where the last synced
 * records were. So the unsynced write goes beside it, to run_dir (gone with the tmpfs at a
 * reboot, so a power loss never meets it), and the durable write removes it afterwards. */
int dk_volume_records_write(int state_dirfd, int run_dirfd, const json_t *records, bool durable)
{
	if (!durable)
		return write_json(run_dirfd, VOLUMES_PENDING_FILE, records, false);
	if (write_json(state_dirfd, VOLUMES_FILE, records, true))
		return -1;
	if (unlinkat(run_dirfd, VOLUMES_PENDING_FILE, 0) < 0 && errno != ENOENT)
		lb_log(LB_WARN, "docker: cannot remove %s: %s", VOLUMES_PENDING_FILE,
		       strerror(errno));
	return 0;
}

/* A JSON object from name under dirfd, or NULL (missing, unreadable, not an object). */
static json_t *read_object(int dirfd, const char *name)
{
	_cleanup_free_ char *text = NULL;
	json_t *j;
	lb_err e = {0};

	if (lb_read_at(dirfd, name, 4 * 1024 * 1024, &text, NULL, &e))
		return NULL;
	j = json_loads(text, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

json_t *dk_volume_records_read(int state_dirfd, int run_dirfd, bool *pending)
{
	/* An unsynced copy is newer than the durable file: lockboxd stopped before its fsync.
	 * One that does not parse (a run_dir on disk and a power loss) is not used. */
	json_t *j = read_object(run_dirfd, VOLUMES_PENDING_FILE);

	*pending = j != NULL;
	return j ? j : read_object(state_dirfd, VOLUMES_FILE);
}

/* Volumes (name -> binding) must outlive a reboot, as dockerd's own volume records do:
 * state_dir, fsync'd (see dk_volume_records_write). */
static void save_volume_records(struct lb_docker *d, bool durable)
{
	_cleanup_json_ json_t *root = json_object();

	if (!root)
		return;
	for (struct volume *v = d->vols; v; v = v->next)
		json_object_set_new(root, v->name, json_pack("{s:s}", "binding", v->binding));
	if (dk_volume_records_write(lb_broker_state_dirfd(d->b), lb_broker_run_dirfd(d->b), root,
				    durable) == 0 &&
	    durable)
		d->volumes_dirty = false;
}

/* Mounts live no longer than their tmpfs: run_dir, no fsync (a crashed lockboxd finds them
 * in the page cache; after a reboot they are gone with the tmpfs). */
static void save_mount_records(struct lb_docker *d)
{
	_cleanup_json_ json_t *root = json_object();

	for (struct volume *v = d->vols; v; v = v->next)
		for (struct mount *m = v->mounts; m; m = m->next)
			json_object_set_new(
			    root, m->key,
			    json_pack("{s:s,s:s?,s:s?,s:i}", "volume", v->name, "container",
				      m->container[0] ? m->container : NULL, "name",
				      m->cname[0] ? m->cname : NULL, "refs", m->refs));
	write_json(lb_broker_run_dirfd(d->b), MOUNTS_FILE, root, false);
}

void dk_save_volumes(struct lb_docker *d)
{
	d->save_pending = false;
	save_mount_records(d);
	if (d->volumes_dirty)
		save_volume_records(d, true);
}

void dk_volumes_changed(struct lb_docker *d)
{
	d->volumes_dirty = true;
	save_volume_records(d, false);
	dk_save_later(d);
}

/* A mount whose read-only bind is still attached is reused (dockerd still holds it); the
 * reconcile decides whether its container lives. */
static void load_mount(struct lb_docker *d, struct volume *v, const char *key, json_t *j)
{
	const char *container = json_string_value(json_object_get(j, "container"));
	const char *cname = json_string_value(json_object_get(j, "name"));
	struct mount *m;
	lb_target *t;
	lb_err e = {0};
	char target[LB_NAME_MAX + 1];

	if (!dk_id_ok(key))
		return;
	snprintf(target, sizeof(target), "@%s", key);
	if (!is_mount_root(d->mdirfd, target) || !(m = calloc(1, sizeof(*m))))
		return;
	t = lb_broker_add_dynamic(d->b, target, v->binding, &e);
	if (!t) {
		lb_log(LB_ERROR, "docker: volume %s: %s", v->name, e.msg);
		free(m);
		return;
	}
	snprintf(m->key, sizeof(m->key), "%s", key);
	snprintf(m->target, sizeof(m->target), "%s", target);
	if (container && dk_id_ok(container)) {
		snprintf(m->container, sizeof(m->container), "%s", container);
		snprintf(t->container, sizeof(t->container), "%s", container);
	}
	snprintf(m->cname, sizeof(m->cname), "%s", cname ? cname : "");
	m->refs = (int)json_integer_value(json_object_get(j, "refs"));
	m->dev = dev_of(t);
	m->v = v;
	m->next = v->mounts;
	v->mounts = m;
}

/* Binds under RUN_DIR/m that no known mount claims are left by an earlier run. */
static void remove_stale_binds(struct lb_docker *d)
{
	int fd = openat(d->mdirfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	_cleanup_dir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.' && !dk_find_mount(d, de->d_name))
			unbind(d, de->d_name);
}

void dk_load_volumes(struct lb_docker *d)
{
	_cleanup_free_ char *mtext = NULL;
	_cleanup_json_ json_t *root = NULL, *mounts = NULL;
	const char *name, *key;
	json_t *v, *m;
	lb_err e = {0};
	bool pending = false;

	root = dk_volume_records_read(lb_broker_state_dirfd(d->b), lb_broker_run_dirfd(d->b),
				      &pending);
	if (pending) { /* made durable on the next loop turn */
		d->volumes_dirty = true;
		dk_save_later(d);
	}
	if (lb_read_at(lb_broker_run_dirfd(d->b), MOUNTS_FILE, 4 * 1024 * 1024, &mtext, NULL, &e) ==
	    0)
		mounts = json_loads(mtext, 0, NULL);
	json_object_foreach (root, name, v) {
		const char *binding = json_string_value(json_object_get(v, "binding"));
		struct volume *vol;

		if (!lb_secret_name_valid(name) || !binding ||
		    !(vol = dk_add_volume(d, name, binding)))
			continue;
		/* Before 0.1.x's split the mounts were kept here: rewritten without them. */
		json_object_foreach (json_object_get(v, "mounts"), key, m) {
			d->volumes_dirty = true;
			load_mount(d, vol, key, m);
		}
	}
	json_object_foreach (mounts, key, m) {
		const char *vname = json_string_value(json_object_get(m, "volume"));
		struct volume *vol = vname ? dk_find_volume(d, vname) : NULL;
		char target[LB_NAME_MAX + 1];

		snprintf(target, sizeof(target), "@%.*s", KEY_MAX, key);
		if (vol && !dk_find_mount(d, target))
			load_mount(d, vol, key, m);
	}
	remove_stale_binds(d);
}
