#include "target.h"
#include "cleanup.h"
#include "fsutil.h"
#include "idmap.h"
#include "jsonw.h"
#include "layout.h"
#include "log.h"
#include "loop.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

static bool noswap_warned;

static bool is_our_tmpfs(int fd)
{
	struct statfs sfs;
	struct statx stx;

	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		return false;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) < 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int fsconfig_str(int fsfd, const char *key, const char *val, lb_err *e)
{
	if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0) < 0)
		return lb_fail_errno(e, "tmpfs option %s=%s", key, val);
	return 0;
}

/* The attached mount at RUN_DIR/t/NAME is read-only: the consumer owns its files and could
 * otherwise chmod one, rewrite it and chmod it back, and the next generation would link the
 * tampered inode as "unchanged" (issue 13 defect 8). The broker writes through a private,
 * detached writable clone of the same tmpfs, held by the returned fd and nowhere attached. */
static int set_attr(int fd, uint64_t set, uint64_t clr)
{
	struct mount_attr attr = {.attr_set = set, .attr_clr = clr};

	return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr));
}

/* A writable detached clone of the mount whose root fd is (the broker's handle). */
static int writable_clone(int fd, const char *name, lb_err *e)
{
	int wfd = (int)syscall(SYS_open_tree, fd, "",
			       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);

	if (wfd < 0)
		return lb_fail_errno(e, "target %s: clone its tmpfs", name);
	if (set_attr(wfd, 0, MOUNT_ATTR_RDONLY) < 0) {
		lb_fail_errno(e, "target %s: make the broker's clone writable", name);
		close(wfd);
		return -1;
	}
	return wfd;
}

/* A fresh tmpfs attached read-only at tdirfd/name with the new mount API (no path strings);
 * returns the broker's writable handle. */
static int mount_tmpfs(int tdirfd, const char *name, uint64_t size, lb_err *e)
{
	_cleanup_close_ int fsfd = fsopen("tmpfs", FSOPEN_CLOEXEC);
	_cleanup_close_ int rofd = -1;
	int mfd = -1;
	char sz[32];

	if (fsfd < 0)
		return lb_fail_errno(e, "fsopen tmpfs for target %s", name);
	snprintf(sz, sizeof(sz), "%" PRIu64, size);
	if (fsconfig_str(fsfd, "size", sz, e) || fsconfig_str(fsfd, "mode", "0755", e) ||
	    fsconfig_str(fsfd, "uid", "0", e) || fsconfig_str(fsfd, "gid", "0", e))
		return lb_fail_wrap(e, "target %s", name);
	/* noswap (Linux ≥ 6.4) keeps secret pages off swap. */
	if (fsconfig(fsfd, FSCONFIG_SET_FLAG, "noswap", NULL, 0) < 0 && !noswap_warned) {
		noswap_warned = true;
		lb_log(LB_WARN, "tmpfs noswap is not supported by this kernel (needs Linux 6.4): "
				"secret pages of targets may be swapped out");
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return lb_fail_errno(e, "create tmpfs for target %s", name);
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC,
		      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (mfd < 0)
		return lb_fail_errno(e, "fsmount tmpfs for target %s", name);
	rofd = (int)syscall(SYS_open_tree, mfd, "",
			    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (rofd < 0 || set_attr(rofd, MOUNT_ATTR_RDONLY, 0) < 0) {
		lb_fail_errno(e, "read-only clone of the tmpfs of target %s", name);
		goto fail;
	}
	if (move_mount(rofd, "", tdirfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
		lb_fail_errno(e, "attach tmpfs of target %s", name);
		goto fail;
	}
	return mfd;
fail:
	close(mfd);
	return -1;
}

/* The live tmpfs of an earlier run: the broker's handle is a writable clone, and the attached
 * mount becomes read-only if an older version left it writable. */
static int reuse_tmpfs(int fd, const char *name, lb_err *e)
{
	int wfd = writable_clone(fd, name, e);

	if (wfd < 0)
		return -1;
	if (set_attr(fd, MOUNT_ATTR_RDONLY, 0) < 0) {
		lb_fail_errno(e, "target %s: make its mount read-only", name);
		close(wfd);
		return -1;
	}
	return wfd;
}

static void held_set(lb_target *t, lb_held *h, uint64_t *batches, size_t n)
{
	lb_held_release(t->held);
	free(t->held_batch);
	t->held = h;
	t->held_batch = batches;
	t->nheld = n;
}

const lb_held *lb_target_held(const lb_target *t, const char *name)
{
	for (size_t i = 0; i < t->nheld; i++)
		if (strcmp(t->held[i].name, name) == 0)
			return &t->held[i];
	return NULL;
}

uint64_t lb_target_held_batch(const lb_target *t, const lb_held *h)
{
	return t->held_batch && h ? t->held_batch[h - t->held] : 0;
}

void lb_target_note_batch(lb_target *t, const char *name, uint64_t batch)
{
	const lb_held *h = lb_target_held(t, name);

	if (!h)
		return;
	if (!t->held_batch && !(t->held_batch = calloc(t->nheld, sizeof(uint64_t))))
		return; /* out of memory: it counts as from before (an older answer may land) */
	t->held_batch[h - t->held] = batch;
}

json_t *lb_target_secrets_json(const lb_target *t)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < t->nheld; i++) {
		const lb_held *h = &t->held[i];
		json_t *s = json_pack("{s:s,s:s,s:i}", "version", h->version, "source", h->source,
				      "mode", (int)h->mode);
		if (s && h->not_after)
			json_object_set_new(s, "not_after", json_integer(h->not_after));
		json_object_set_new(o, h->name, s);
	}
	return o;
}

/* Reads ..data and its manifest; a missing ..data means no generation yet. */
static int load_current(lb_target *t, lb_err *e)
{
	char link[64];
	ssize_t n = readlinkat(t->dirfd, LB_DATA_LINK, link, sizeof(link) - 1);
	_cleanup_close_ int gfd = -1;
	_cleanup_free_ char *text = NULL;
	_cleanup_json_ json_t *m = NULL;
	_cleanup_free_ lb_publish_item *items = NULL;
	json_t *secrets, *v;
	const char *key;
	size_t ni = 0;
	lb_held *h;
	uint64_t gen;

	if (n < 0)
		return errno == ENOENT ? 0 : lb_fail_errno(e, "target %s: read ..data", t->name);
	link[n] = '\0';
	if (!lb_gen_parse(link, &gen))
		return lb_fail(e, 0, "target %s: ..data points at \"%s\", not a generation",
			       t->name, link);
	gfd = lb_open_dir_at(t->dirfd, link, e);
	if (gfd < 0 || lb_read_at(gfd, LB_MANIFEST, LB_MANIFEST_MAX, &text, NULL, e))
		return lb_fail_wrap(e, "target %s", t->name);
	m = json_loads(text, 0, NULL);
	secrets = json_object_get(m, "secrets");
	if (!json_is_object(secrets))
		return lb_fail(e, 0, "target %s: malformed %s in %s", t->name, LB_MANIFEST, link);
	items = calloc(json_object_size(secrets) + 1, sizeof(*items));
	if (!items)
		return lb_fail(e, ENOMEM, "out of memory");
	json_object_foreach (secrets, key, v) {
		lb_publish_item *it = &items[ni];
		it->name = key;
		it->version = json_string_value(json_object_get(v, "version"));
		it->source = json_string_value(json_object_get(v, "source"));
		it->mode = (unsigned)json_integer_value(json_object_get(v, "mode"));
		it->not_after = json_integer_value(json_object_get(v, "not_after"));
		/* An entry without them is not held: its file is rewritten, never linked. */
		if (it->version && it->source)
			ni++;
	}
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees items
	h = lb_held_new(items, ni);
	if (!h)
		return lb_fail(e, ENOMEM, "out of memory");
	t->generation = gen;
	held_set(t, h, NULL, ni); /* no batch yet: from before this broker started */
	return 0;
}

/* Room for one more retired generation (false when out of memory). */
static bool retired_room(lb_target *t)
{
	lb_retired *grown;

	if (t->nretired && (t->nretired & (t->nretired - 1)) != 0)
		return true; /* 3, 5, 6, 7, 9..15: the block has room */
	if (t->nretired >= LB_RETIRED_MAX)
		return true;
	grown = realloc(t->retired, (t->nretired ? 2 * t->nretired : 1) * sizeof(*grown));
	if (!grown)
		return false;
	t->retired = grown;
	return true;
}

/* The replaced generation stays for the grace period, at most LB_RETIRED_MAX of them: the
 * oldest goes first (and when out of memory; with none tracked, this one goes at once). */
static void retire(lb_target *t, uint64_t gen)
{
	char g[64];
	lb_err ignored;

	if (t->nretired == LB_RETIRED_MAX || (!retired_room(t) && t->nretired)) {
		lb_gen_name(t->retired[0].gen, g, sizeof(g));
		lb_remove_tree_at(t->dirfd, g, true, &ignored);
		memmove(t->retired, t->retired + 1, (t->nretired - 1) * sizeof(t->retired[0]));
		t->nretired--;
	}
	if (!t->retired) {
		lb_gen_name(gen, g, sizeof(g));
		lb_remove_tree_at(t->dirfd, g, true, &ignored);
		return;
	}
	t->retired[t->nretired].gen = gen;
	t->retired[t->nretired].at_ms = lb_now_ms();
	t->nretired++;
}

/* Generations other than the current one, left by a crash or by an earlier run, become
 * retired now so that the grace period still applies to them. */
static void retire_leftovers(lb_target *t)
{
	int fd = openat(t->dirfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	_cleanup_dir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint64_t now = lb_now_ms(), gen;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (lb_gen_parse(de->d_name, &gen) && gen != t->generation &&
		    t->nretired < LB_RETIRED_MAX && retired_room(t)) {
			t->retired[t->nretired].gen = gen;
			t->retired[t->nretired].at_ms = now;
			t->nretired++;
		}
}

lb_target *lb_target_open(int tdirfd, const char *name, uint64_t size, lb_err *e)
{
	lb_target *t;
	int fd;

	/* "@KEY" names Docker mounts: no configured target can have that name. */
	if (!lb_secret_name_valid(name[0] == '@' ? name + 1 : name))
		return lb_fail(e, 0, "bad target name \"%s\"", name), NULL;
	if (mkdirat(tdirfd, name, 0700) < 0 && errno != EEXIST)
		return lb_fail_errno(e, "mkdir target %s", name), NULL;
	fd = openat(tdirfd, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lb_fail_errno(e, "open target %s", name), NULL;
	if (is_our_tmpfs(fd)) {
		int live = fd;
		fd = reuse_tmpfs(live, name, e);
		close(live);
	} else {
		close(fd);
		fd = mount_tmpfs(tdirfd, name, size, e);
	}
	if (fd < 0)
		return NULL;
	if (!is_our_tmpfs(fd)) {
		close(fd);
		return lb_fail(e, 0, "target %s: tmpfs not visible after mount", name), NULL;
	}
	t = calloc(1, sizeof(*t) + strlen(name) + 1);
	if (!t) {
		close(fd);
		return NULL;
	}
	memcpy(t->name, name, strlen(name) + 1);
	t->dirfd = fd;
	if (load_current(t, e)) {
		lb_target_free(t);
		return NULL;
	}
	retire_leftovers(t);
	return t;
}

void lb_target_free(lb_target *t)
{
	if (!t)
		return;
	if (t->dirfd >= 0)
		close(t->dirfd);
	held_set(t, NULL, NULL, 0);
	free(t->uid_map);
	free(t->gid_map);
	free(t->retired);
	json_decref(t->status);
	free(t);
}

static char *map_dup(const char *spec, bool *oom)
{
	char *c;

	if (!spec || !spec[0])
		return NULL;
	c = strdup(spec);
	*oom |= !c;
	return c;
}

int lb_target_set_maps(lb_target *t, const char *uid_map, const char *gid_map, lb_err *e)
{
	bool oom = false;
	char *u = map_dup(uid_map, &oom), *g = map_dup(gid_map, &oom);

	if (oom) {
		free(u);
		free(g);
		return lb_fail(e, ENOMEM, "target %s: out of memory for its id maps", t->name);
	}
	free(t->uid_map);
	free(t->gid_map);
	t->uid_map = u;
	t->gid_map = g;
	return 0;
}

int lb_target_status(lb_target *t, const lb_binding *bd, json_t *errors, lb_err *e)
{
	_cleanup_json_ json_t *root = json_object();
	json_t *secrets = json_object();
	char *text;
	int rc;

	for (size_t i = 0; bd && i < bd->nsecrets; i++) {
		const char *name = bd->secrets[i].name;
		json_t *err = json_object_get(errors, name);
		json_t *s = json_pack("{s:s}", "state",
				      err			? "failed"
				      : lb_target_held(t, name) ? "ok"
								: "pending");
		if (json_is_string(err))
			json_object_set(s, "error", err);
		json_object_set_new(secrets, name, s);
	}
	json_object_set_new(root, "generation", json_integer((json_int_t)t->generation));
	json_object_set_new(root, "secrets", secrets);
	if (json_equal(root, t->status))
		return 0;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	if (!text)
		return lb_fail(e, ENOMEM, "out of memory");
	rc = lb_write_cache_at(t->dirfd, LB_STATUS_FILE, text, strlen(text), 0444, e);
	lb_json_free(text);
	if (rc == 0) {
		json_decref(t->status);
		t->status = json_incref(root);
	}
	return rc;
}

int lb_target_host_ids(const lb_target *t, uint32_t *uid, uint32_t *gid, lb_err *e)
{
	const char *gspec = t->gid_map ? t->gid_map : t->uid_map;
	lb_idmap *m;
	int rc = -1;

	if (!t->uid_map && !t->gid_map) {
		*uid = t->uid; /* no map: the ids are the host's (most static targets) */
		*gid = t->gid;
		return 0;
	}
	m = malloc(sizeof(*m));
	if (!m)
		return lb_fail(e, ENOMEM, "out of memory");
	if (lb_idmap_load(t->uid_map, false, m, e) || lb_idmap_to_host(m, t->uid, uid, e)) {
		lb_fail_wrap(e, "target %s: uid %u", t->name, t->uid);
		goto out;
	}
	if (lb_idmap_load(gspec, true, m, e) || lb_idmap_to_host(m, t->gid, gid, e)) {
		lb_fail_wrap(e, "target %s: gid %u", t->name, t->gid);
		goto out;
	}
	rc = 0;
out:
	free(m);
	return rc;
}

static bool ts_after(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec > b->tv_nsec);
}

/* GEN/NAME of the current generation, and its lstat. */
static void current_path(const lb_target *t, const char *name, char *path, size_t cap)
{
	size_t len;

	lb_gen_name(t->generation, path, cap);
	len = strlen(path);
	snprintf(path + len, cap - len, "/%s", name);
}

static bool current_stat(const lb_target *t, const char *name, struct stat *st)
{
	char path[LB_NAME_MAX + 64];

	current_path(t, name, path, sizeof(path));
	return fstatat(t->dirfd, path, st, AT_SYMLINK_NOFOLLOW) == 0;
}

bool lb_target_unchanged(const lb_target *t, const char *name, const char *version,
			 const char *source, int64_t not_after, unsigned mode, uint32_t huid,
			 uint32_t hgid)
{
	const lb_held *cur = lb_target_held(t, name);
	struct stat st;

	if (!cur || !t->generation)
		return false;
	if (t->owner_known) {
		if (t->owner_uid != huid || t->owner_gid != hgid)
			return false;
	} else {
		/* After a restart: ask the file itself. An older version left the mount
		 * writable for the consumer, who owns the file: a file changed (chmod, write)
		 * after its generation's manifest was written is never linked again. */
		struct stat man;

		if (!current_stat(t, LB_MANIFEST, &man))
			return false;
		if (!current_stat(t, name, &st) || !S_ISREG(st.st_mode) || st.st_uid != huid ||
		    st.st_gid != hgid || ts_after(&st.st_ctim, &man.st_ctim))
			return false;
	}
	return strcmp(cur->version, version) == 0 && strcmp(cur->source, source) == 0 &&
	       cur->not_after == not_after && cur->mode == mode;
}

bool lb_target_owned_by(const lb_target *t, uint32_t huid, uint32_t hgid)
{
	struct stat st;

	if (!t->generation)
		return false;
	if (t->owner_known)
		return t->owner_uid == huid && t->owner_gid == hgid;
	if (!t->nheld)
		return false;
	return current_stat(t, t->held[0].name, &st) && S_ISREG(st.st_mode) && st.st_uid == huid &&
	       st.st_gid == hgid;
}

static bool names_equal(const lb_target *t, const lb_publish_item *items, size_t n)
{
	if (t->nheld != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!lb_target_held(t, items[i].name))
			return false;
	return true;
}

/* The held block for items (lb_held_new) of generation gen is now the target's. */
void lb_target_commit(lb_target *t, uint64_t gen, lb_held *held, uint64_t *batches, size_t n,
		      uint32_t huid, uint32_t hgid)
{
	static bool acl_warned;

	if (t->generation)
		retire(t, t->generation);
	t->generation = gen;
	held_set(t, held, batches, n); /* items may point into the old block: replaced now */
	/* Files linked from the previous generation may still belong to an older owner
	 * only if the owner changed, and then nothing was linked (unchanged() said no). */
	t->owner_known = true;
	t->owner_uid = huid;
	t->owner_gid = hgid;
	if (!acl_warned && lb_gen_acl_unsupported()) {
		acl_warned = true;
		lb_log(LB_WARN, "tmpfs without POSIX ACLs: manifests are readable by the target's "
				"group only, not by an owner outside it");
	}
}

bool lb_target_names_changed(const lb_target *t, const lb_publish_item *items, size_t n)
{
	return !t->generation || !names_equal(t, items, n);
}

static int publish_once(lb_target *t, const lb_publish_item *items, size_t n, uint32_t huid,
			uint32_t hgid, lb_err *e)
{
	lb_held *held = lb_held_new(items, n);
	uint64_t *batches = NULL;

	if (!held || lb_held_batches(items, n, &batches)) {
		lb_held_release(held);
		return lb_fail(e, ENOMEM, "target %s: out of memory", t->name);
	}
	if (lb_gen_write(t->dirfd, t->name, t->generation + 1, t->generation, items, n, huid, hgid,
			 lb_target_names_changed(t, items, n), e)) {
		lb_held_release(held);
		free(batches);
		return -1;
	}
	lb_target_commit(t, t->generation + 1, held, batches, n, huid, hgid);
	return 0;
}

int lb_target_publish_as(lb_target *t, const lb_publish_item *items, size_t n, uint32_t huid,
			 uint32_t hgid, lb_err *e)
{
	if (publish_once(t, items, n, huid, hgid, e) == 0)
		return 0;
	if (e->sys != ENOSPC || t->nretired == 0)
		return -1;
	/* A new generation matters more than readers still inside replaced ones. */
	lb_log(LB_WARN, "target %s: tmpfs full, dropping %zu replaced generation(s) early", t->name,
	       t->nretired);
	lb_target_gc(t, 0);
	return publish_once(t, items, n, huid, hgid, e);
}

int lb_target_publish(lb_target *t, const lb_publish_item *items, size_t n, lb_err *e)
{
	uint32_t huid, hgid;

	if (lb_target_host_ids(t, &huid, &hgid, e))
		return -1;
	return lb_target_publish_as(t, items, n, huid, hgid, e);
}

/* Removing an old generation unlinks the second name of each file the current one linked
 * from it, which moves that file's ctime past its manifest's: after a restart,
 * lb_target_unchanged would take it for a file changed after its manifest was written and
 * publish a new generation, and signal the app, for nothing (CI saw it when a restart came
 * after the collection). The manifest's ctime moves along — unless this broker has not
 * published the target yet and one of its files already changed after its manifest (through
 * an older version's writable mount): the touch would hide that from the next restart. */
static bool files_not_after_manifest(const lb_target *t)
{
	struct stat man, st;

	if (!current_stat(t, LB_MANIFEST, &man))
		return false;
	for (size_t i = 0; i < t->nheld; i++)
		if (current_stat(t, t->held[i].name, &st) && ts_after(&st.st_ctim, &man.st_ctim))
			return false;
	return true;
}

static void manifest_touch(const lb_target *t)
{
	char path[LB_NAME_MAX + 64];

	current_path(t, LB_MANIFEST, path, sizeof(path));
	if (utimensat(t->dirfd, path, NULL, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
		lb_log(LB_WARN, "target %s: cannot touch %s: %s", t->name, path, strerror(errno));
}

uint64_t lb_target_gc(lb_target *t, uint64_t grace_ms)
{
	uint64_t now = lb_now_ms(), next = 0;
	size_t keep = 0, removed = 0;
	bool touch;

	/* A publisher child links the files of its next generation now: a collection would
	 * move their ctime past a manifest this call cannot touch (the child's). Later. */
	if (t->publishing)
		return t->nretired ? 100 : 0;
	touch = t->generation && (t->owner_known || files_not_after_manifest(t));
	for (size_t i = 0; i < t->nretired; i++) {
		if (t->retired[i].at_ms + grace_ms <= now) {
			char g[64];
			lb_err e;
			lb_gen_name(t->retired[i].gen, g, sizeof(g));
			if (lb_remove_tree_at(t->dirfd, g, true, &e))
				lb_log(LB_WARN, "%s", e.msg);
			removed++;
			continue;
		}
		if (!next || t->retired[i].at_ms + grace_ms - now < next)
			next = t->retired[i].at_ms + grace_ms - now;
		t->retired[keep++] = t->retired[i];
	}
	t->nretired = keep;
	if (!keep) {
		free(t->retired);
		t->retired = NULL;
	}
	if (removed && touch)
		manifest_touch(t);
	return next;
}

static int wipe_and_unmount(int tdirfd, const char *run_dir, const char *name, int fd, lb_err *e)
{
	char path[4096];
	int fl = UMOUNT_NOFOLLOW;

	if (fd >= 0) {
		int dup_fd = openat(fd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
		_cleanup_dir_ DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
		struct dirent *de;
		/* Generations first (files are wiped), then the links. */
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				lb_remove_tree_at(fd, de->d_name, true, e);
		if (!d && dup_fd >= 0)
			close(dup_fd);
	}
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/%s", run_dir, name);
	if (fd >= 0 && is_our_tmpfs(fd)) {
		if (umount2(path, fl) < 0 && (errno != EBUSY || umount2(path, fl | MNT_DETACH) < 0))
			return lb_fail_errno(e, "unmount target %s", name);
	}
	if (unlinkat(tdirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return lb_fail_errno(e, "rmdir target %s", name);
	return 0;
}

int lb_target_destroy(lb_target *t, int tdirfd, const char *run_dir, lb_err *e)
{
	int rc = wipe_and_unmount(tdirfd, run_dir, t->name, t->dirfd, e);

	lb_target_free(t);
	return rc;
}

int lb_target_remove_stale(int tdirfd, const char *run_dir, const char *name, lb_err *e)
{
	_cleanup_close_ int fd = openat(tdirfd, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_close_ int wfd = -1;

	if (fd < 0)
		return errno == ENOENT ? 0 : lb_fail_errno(e, "open stale target %s", name);
	if (!is_our_tmpfs(fd))
		return unlinkat(tdirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT
			   ? lb_fail_errno(e, "rmdir %s (not a lockbox tmpfs, left alone)", name)
			   : 0;
	/* The attached mount is read-only: wipe through a writable clone. */
	wfd = writable_clone(fd, name, e);
	if (wfd < 0)
		return -1;
	return wipe_and_unmount(tdirfd, run_dir, name, wfd, e);
}
