/* Docker volume records (state_dir/docker-volumes.json) and the read-only binds dockerd gets. */
#include "docker_int.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"
#include "log.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

struct volume *dk_find_volume(struct lb_docker *d, const char *name)
{
	for (struct volume *v = d->vols; v; v = v->next)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

void dk_save_volumes(struct lb_docker *d)
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

bool dk_is_mount_root(int dirfd, const char *name)
{
	struct statx stx;

	return statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* RUN_DIR/m/NAME: a read-only clone of the target's tmpfs, made with open_tree and
 * mount_setattr on fds. A read-only bind used as a mount source stays read-only in the
 * container, even for its root. */
int dk_bind_readonly(struct lb_docker *d, const char *name, lb_err *e)
{
	int tdirfd = -1;
	_cleanup_close_ int fd = -1;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
					      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
	_cleanup_close_ int tfd = openat(lb_broker_run_dirfd(d->b), LB_TARGETS_SUBDIR,
					 O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	tdirfd = tfd;
	if (dk_is_mount_root(d->mdirfd, name))
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

void dk_unbind(struct lb_docker *d, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/" MOUNTS_DIR "/%s", lb_broker_cfg(d->b)->run_dir, name);
	while (dk_is_mount_root(d->mdirfd, name))
		if (umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH) < 0) {
			lb_log(LB_ERROR, "docker: unmount %s: %s", path, strerror(errno));
			break;
		}
	unlinkat(d->mdirfd, name, AT_REMOVEDIR);
}

void dk_mountpoint(struct lb_docker *d, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/" MOUNTS_DIR "/%s", lb_broker_cfg(d->b)->run_dir, name);
}

/* Wipe and unmount what a container had; the volume stays known for a restart. */
void dk_retire(struct lb_docker *d, const char *name, const char *reason)
{
	dk_unbind(d, name);
	lb_broker_drop_dynamic(d->b, name, reason);
}

void dk_load_volumes(struct lb_docker *d)
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

		if (!lb_secret_name_valid(name) || !binding || !dk_add_volume(d, name, binding))
			continue;
		/* A live tmpfs is reused; the reconcile decides whether its container lives. */
		if (!dk_is_mount_root(d->mdirfd, name))
			continue;
		t = lb_broker_add_dynamic(d->b, name, binding, &e);
		if (t && container && dk_id_ok(container))
			snprintf(t->container, sizeof(t->container), "%s", container);
	}
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
