/* The files of one generation of a target (see docs/design.md, "Targets and generations"):
 * built beside the current one, then swapped in with one rename of ..data. Runs in lockboxd
 * and in its publisher child (pubfork.c): no broker state, no log or audit line (a child's
 * line would also flush the parent's held audit lines a second time). */
#include "generation.h"
#include "fsutil.h"
#include "jsonw.h"
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* Set when a tmpfs refused the manifest's ACL (the caller warns once). */
static bool acl_unsupported;

/* Formatted by hand: it runs several times per target per rotation, where snprintf showed
 * up in the profile. buf holds at least 64 bytes (every caller's). */
void lb_gen_name(uint64_t gen, char *buf, size_t cap)
{
	char text[64]; /* prefix + at most 20 digits + NUL */
	size_t i = sizeof(text), np = strlen(LB_GEN_PREFIX);

	text[--i] = '\0';
	do {
		text[--i] = (char)('0' + gen % 10);
		gen /= 10;
	} while (gen && i > np);
	i -= np;
	memcpy(text + i, LB_GEN_PREFIX, np);
	if (sizeof(text) - i > cap) {
		buf[0] = '\0';
		return;
	}
	memcpy(buf, text + i, sizeof(text) - i);
}

bool lb_gen_parse(const char *s, uint64_t *gen)
{
	char *end;
	unsigned long long v;

	if (strncmp(s, LB_GEN_PREFIX, strlen(LB_GEN_PREFIX)) != 0)
		return false;
	s += strlen(LB_GEN_PREFIX);
	if (*s < '1' || *s > '9')
		return false;
	v = strtoull(s, &end, 10);
	if (*end)
		return false;
	*gen = v;
	return true;
}

/* The process umask and ids, read once: a file created with a mode the umask does not mask
 * needs no fchmod, and one created with our own ids no fchown. */
static mode_t self_umask = (mode_t)-1;
static uid_t self_uid;
static gid_t self_gid;

static void read_self(void)
{
	if (self_umask != (mode_t)-1)
		return;
	self_umask = umask(0);
	umask(self_umask);
	self_uid = geteuid();
	self_gid = getegid();
}

/* A new file of a generation that is still being written: its directory (0700, root's) is
 * opened to readers only once it is complete, so the file is created with its final mode
 * and owner straight away (no 0600 stage, no fchmod unless the umask masks a bit). path is
 * GEN/NAME under the target root. */
static int create_gen_file(int dirfd, const char *path, const void *data, size_t len, unsigned mode,
			   uint32_t uid, uint32_t gid, lb_err *e)
{
	int fd =
	    openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	size_t off = 0;

	if (fd < 0)
		return lb_fail_errno(e, "create %s", path);
	while (off < len) {
		ssize_t w = write(fd, (const char *)data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			lb_fail_errno(e, "write %s", path);
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	read_self();
	if ((uid != self_uid || gid != self_gid) && fchown(fd, uid, gid) < 0) {
		lb_fail_errno(e, "chown %s to %u:%u", path, uid, gid);
		close(fd);
		return -1;
	}
	if ((mode & self_umask) && fchmod(fd, (mode_t)mode) < 0) {
		lb_fail_errno(e, "chmod %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* The manifest names store paths, versions and expiry: root's, readable by the consumer
 * only (issue 13 defect 11: it was 0444 for every local user). Mode 0440 root:hgid, and a
 * POSIX ACL entry for huid so that an owner outside that group reads it too. */
static int restrict_manifest(int fd, uint32_t huid, lb_err *e)
{
	struct {
		uint32_t version;
		struct {
			uint16_t tag, perm;
			uint32_t id;
		} __attribute__((packed)) ent[5];
	} __attribute__((packed)) acl = {.version = 2, /* POSIX_ACL_XATTR_VERSION */
					 .ent = {{0x01, 4, UINT32_MAX},	  /* USER_OBJ r */
						 {0x02, 4, huid},	  /* USER huid r */
						 {0x04, 4, UINT32_MAX},	  /* GROUP_OBJ r */
						 {0x10, 4, UINT32_MAX},	  /* MASK r */
						 {0x20, 0, UINT32_MAX}}}; /* OTHER - */

	if (huid == 0)
		return 0;
	if (fsetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl), 0) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return lb_fail_errno(e, "set the ACL of %s", LB_MANIFEST);
	acl_unsupported = true;
	return 0;
}

/* Written by hand, not through a jansson tree: this runs for every target at every rotation.
 * Keys in the order jansson's JSON_SORT_KEYS gave. path is GEN/.manifest.json. */
static int write_manifest(int dirfd, const char *path, uint64_t gen, const lb_publish_item *items,
			  size_t n, uint32_t huid, uint32_t hgid, lb_err *e)
{
	lb_jsonw w = {0};
	int fd, rc;

	lb_jsonw_raw(&w, "{\"generation\":");
	lb_jsonw_int(&w, (int64_t)gen);
	lb_jsonw_raw(&w, ",\"secrets\":{");
	for (size_t i = 0; i < n; i++) {
		lb_jsonw_raw(&w, i ? "," : "");
		lb_jsonw_str(&w, items[i].name);
		lb_jsonw_raw(&w, ":{\"mode\":");
		lb_jsonw_int(&w, items[i].mode);
		if (items[i].not_after) {
			lb_jsonw_raw(&w, ",\"not_after\":");
			lb_jsonw_int(&w, items[i].not_after);
		}
		lb_jsonw_raw(&w, ",\"source\":");
		lb_jsonw_str(&w, items[i].source);
		lb_jsonw_raw(&w, ",\"version\":");
		lb_jsonw_str(&w, items[i].version);
		lb_jsonw_raw(&w, "}");
	}
	lb_jsonw_raw(&w, "},\"written_at\":");
	lb_jsonw_int(&w, (int64_t)time(NULL));
	lb_jsonw_raw(&w, "}");
	if (w.oom) {
		lb_jsonw_free(&w);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	fd = create_gen_file(dirfd, path, w.buf, w.len, 0440, 0, hgid, e);
	lb_jsonw_free(&w);
	if (fd < 0)
		return -1;
	rc = restrict_manifest(fd, huid, e);
	close(fd);
	return rc;
}

/* Top-level NAME -> ..data/NAME links. New names get theirs before ..data swaps (they
 * dangle for a moment; a client waiting for NAME then finds it with the generation), and
 * names that are gone lose theirs after the swap. */
static int add_links(int dirfd, const char *tname, const lb_publish_item *items, size_t n,
		     lb_err *e)
{
	for (size_t i = 0; i < n; i++) {
		char target[LB_NAME_MAX + 16];
		snprintf(target, sizeof(target), LB_DATA_LINK "/%s", items[i].name);
		if (symlinkat(target, dirfd, items[i].name) < 0 && errno != EEXIST)
			return lb_fail_errno(e, "target %s: link %s", tname, items[i].name);
	}
	return 0;
}

int lb_gen_prune_links(int dirfd, const char *tname, const lb_publish_item *items, size_t n,
		       lb_err *e)
{
	int fd = openat(dirfd, ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	_cleanup_dir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return lb_fail_errno(e, "target %s: list", tname);
	}
	while ((de = readdir(d))) {
		bool keep = de->d_name[0] == '.';
		for (size_t i = 0; i < n && !keep; i++)
			keep = strcmp(de->d_name, items[i].name) == 0;
		if (!keep)
			unlinkat(dirfd, de->d_name, 0);
	}
	return 0;
}

static void remove_unpublished(int dirfd, const char *gname)
{
	lb_err ignored;

	lb_remove_tree_at(dirfd, gname, true, &ignored);
}

/* GEN/NAME into buf (the generation's directory is reached by path from the target root: no
 * fd per generation). */
static void gen_path(char *buf, size_t cap, const char *gname, const char *name)
{
	size_t lg = strlen(gname), ln = strlen(name);

	if (lg + ln + 2 > cap) {
		buf[0] = '\0'; /* not a name of ours: the call on it fails */
		return;
	}
	memcpy(buf, gname, lg);
	buf[lg] = '/';
	memcpy(buf + lg + 1, name, ln + 1);
}

int lb_gen_write(int dirfd, const char *tname, uint64_t gen, uint64_t prev,
		 const lb_publish_item *items, size_t n, uint32_t huid, uint32_t hgid,
		 bool names_changed, lb_err *e)
{
	char gname[64], oldname[64], from[LB_NAME_MAX + 96], to[LB_NAME_MAX + 96];

	lb_gen_name(gen, gname, sizeof(gname));
	oldname[0] = '\0';
	if (prev)
		lb_gen_name(prev, oldname, sizeof(oldname));
	/* A leftover of a crash between mkdir and the swap is never visible: remove it (only
	 * when there is one: no extra syscall per target per rotation). 0700 until the
	 * generation is complete: nobody else can open a file of it before then. */
	if (mkdirat(dirfd, gname, 0700) < 0 &&
	    (errno != EEXIST || lb_remove_tree_at(dirfd, gname, true, e) ||
	     mkdirat(dirfd, gname, 0700) < 0))
		return lb_fail_errno(e, "target %s: mkdir %s", tname, gname);
	for (size_t i = 0; i < n; i++) {
		gen_path(to, sizeof(to), gname, items[i].name);
		if (!items[i].value) {
			gen_path(from, sizeof(from), oldname, items[i].name);
			if (!oldname[0] || linkat(dirfd, from, dirfd, to, 0) < 0) {
				lb_fail_errno(e, "link unchanged %s from %s", items[i].name,
					      oldname);
				goto fail;
			}
		} else {
			int fd = create_gen_file(dirfd, to, items[i].value->data,
						 items[i].value->len, items[i].mode, huid, hgid, e);
			if (fd < 0)
				goto fail;
			close(fd);
		}
	}
	gen_path(to, sizeof(to), gname, LB_MANIFEST);
	if ((names_changed && add_links(dirfd, tname, items, n, e)) ||
	    write_manifest(dirfd, to, gen, items, n, huid, hgid, e))
		goto fail;
	if (fchmodat(dirfd, gname, 0755, 0) < 0) {
		lb_fail_errno(e, "chmod %s", gname);
		goto fail;
	}
	/* A ..data.tmp left by a crash is replaced. */
	if ((symlinkat(gname, dirfd, LB_DATA_LINK_TMP) < 0 &&
	     (errno != EEXIST || unlinkat(dirfd, LB_DATA_LINK_TMP, 0) < 0 ||
	      symlinkat(gname, dirfd, LB_DATA_LINK_TMP) < 0)) ||
	    renameat(dirfd, LB_DATA_LINK_TMP, dirfd, LB_DATA_LINK) < 0) {
		lb_fail_errno(e, "swap ..data to %s", gname);
		goto fail;
	}
	/* Published. Links only change when the set of names does; one left behind dangles
	 * (the next change of names removes it). */
	if (names_changed) {
		lb_err ignored;
		lb_gen_prune_links(dirfd, tname, items, n, &ignored);
	}
	return 0;
fail:
	remove_unpublished(dirfd, gname);
	return lb_fail_wrap(e, "target %s: generation %" PRIu64 " not published", tname, gen);
}

bool lb_gen_current(int dirfd, uint64_t *gen)
{
	char link[64];
	ssize_t n = readlinkat(dirfd, LB_DATA_LINK, link, sizeof(link) - 1);

	if (n < 0)
		return false;
	link[n] = '\0';
	return lb_gen_parse(link, gen);
}

void lb_gen_remove(int dirfd, uint64_t gen)
{
	char g[64];

	lb_gen_name(gen, g, sizeof(g));
	remove_unpublished(dirfd, g);
}

bool lb_gen_acl_unsupported(void)
{
	return acl_unsupported;
}
