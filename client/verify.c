/* The checks that stand between the client and a secret file (DESIGN.md, "The client").
 * Shared by the static binary and liblockbox-client.a: no stdio, no malloc, libc only. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "lb.h"

/* musl ships no linux/ headers; these values are kernel ABI. */
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#define LB_RESOLVE_NO_MAGICLINKS 0x02
#define LB_RESOLVE_NO_SYMLINKS	 0x04
#define LB_RESOLVE_BENEATH	 0x08

/* The kernel's struct open_how (openat2(2)): set by designated initializers, read by the kernel. */
struct lb_open_how {
	uint64_t flags;	  // cppcheck-suppress unusedStructMember ; read by the kernel
	uint64_t mode;	  // cppcheck-suppress unusedStructMember ; read by the kernel
	uint64_t resolve; // cppcheck-suppress unusedStructMember ; read by the kernel
};

/* Large enough for any realistic supplementary group list; more is refused, not truncated. */
#define LB_GROUPS_MAX 1024

static void msg_cat(lb_err *err, size_t *off, const char *s)
{
	size_t n = strlen(s);

	if (n > sizeof(err->msg) - 1 - *off)
		n = sizeof(err->msg) - 1 - *off;
	memcpy(err->msg + *off, s, n);
	*off += n;
	err->msg[*off] = '\0';
}

int lb_fail(lb_err *err, int code, const char *check, const char *dir, const char *rel, ...)
{
	const char *piece;
	size_t off = 0;
	va_list ap;

	err->code = code;
	err->msg[0] = '\0';
	msg_cat(err, &off, check);
	msg_cat(err, &off, " check failed on ");
	msg_cat(err, &off, dir);
	if (rel) {
		msg_cat(err, &off, "/");
		msg_cat(err, &off, rel);
	}
	msg_cat(err, &off, ": ");
	va_start(ap, rel);
	while ((piece = va_arg(ap, const char *)))
		msg_cat(err, &off, piece);
	va_end(ap);
	return code;
}

/* The errors these paths can really meet, in words; musl's full strerror table would be
 * 2 KiB of a 32 KiB budget. Each entry is one errno byte and its text; anything else is
 * printed as its number. One char array, so no relocated pointers. */
static const char errno_text[] = "\x02No such file or directory\0"
				 "\x0dPermission denied\0"
				 "\x01Operation not permitted\0"
				 "\x14Not a directory\0"
				 "\x28Too many symbolic links\0"
				 "\x12Resolves outside the directory\0"
				 "\x18Too many open files\0"
				 "\x1cNo space left (inotify watches?)\0";

const char *lb_strerror(int e, char buf[24])
{
	char *p;

	for (const char *t = errno_text; *t; t += strlen(t) + 1)
		if (*t == e)
			return t + 1;
	p = lb_fmt_i64(buf, e) - 6;
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): the digits after it end the string
	memcpy(p, "errno ", 6);
	return p;
}

/* The raw syscall: musl's vDSO lookup costs more binary than these few calls save. */
void lb_clock(int clock, struct timespec *ts)
{
	syscall(SYS_clock_gettime, clock, ts);
}

char *lb_fmt_i64(char *buf, int64_t v)
{
	char *p = buf + 23;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	*p = '\0';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	return p;
}

static char *fmt_mode(char *buf, mode_t mode)
{
	buf[0] = '0';
	for (int i = 0; i < 3; i++)
		buf[1 + i] = (char)('0' + ((mode >> (6 - 3 * i)) & 7));
	buf[4] = '\0';
	return buf;
}

static void report(const struct lb_dir *d, const char *check, const char *rel, const char *detail)
{
	if (d->report)
		d->report(check, d->path, rel, detail);
}

/* Opens NAME directly below DIRFD and never outside it. openat2 does this in the kernel; where
 * it is missing (kernel < 5.6) or filtered (older container seccomp profiles answer EPERM) the
 * fallback allows at most one symlink whose target is a single plain component, which is all
 * the layout uses (..data -> ..gen-N), and opens everything with O_NOFOLLOW. */
static int open_beneath(int dirfd, const char *name, int flags, bool follow_one)
{
	struct lb_open_how how = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = LB_RESOLVE_BENEATH | LB_RESOLVE_NO_MAGICLINKS |
		       (follow_one ? 0 : LB_RESOLVE_NO_SYMLINKS),
	};
	char target[LB_NAME_MAX + 16];
	ssize_t n;
	long fd;

	fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
		return (int)fd;

	if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		errno = EXDEV;
		return -1;
	}
	if (follow_one) {
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (n >= 0) {
			target[n] = '\0';
			if ((size_t)n == sizeof(target) - 1 || memchr(target, '/', (size_t)n) ||
			    !strcmp(target, ".") || !strcmp(target, "..") || n == 0) {
				errno = EXDEV;
				return -1;
			}
			name = target;
		} else if (errno != EINVAL) {
			return -1;
		}
	}
	return openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW);
}

/* A directory whose owner is not mapped into our user namespace shows up as the overflow
 * uid; under userns-remap that is exactly how the host's root-owned tmpfs looks. */
static bool uid_is_outside_root(uid_t uid)
{
	char buf[24];
	int64_t v = 0;
	ssize_t n;
	int fd;

	if (uid == 0)
		return true;
	fd = openat(AT_FDCWD, "/proc/sys/kernel/overflowuid", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return uid == 65534;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return uid == 65534;
	for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
		v = v * 10 + (buf[i] - '0');
	return (int64_t)uid == v;
}

/* D, the generation directory and the manifest must belong to root (the broker) and must not
 * be writable by the caller, or the caller (or whoever else can write there) could plant a
 * layout of its choosing. Root writing to a writable mount is what --allow-writable accepts.
 * *SIZE (when not NULL) gets the size fstat saw. */
static int check_root_owned(const struct lb_dir *d, int fd, const char *rel, bool want_dir,
			    size_t *size, lb_err *err)
{
	const char *path = rel;
	char num[24], mode[8];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return lb_fail(err, LB_EXIT_NOPERM, "owner", d->path, path, lb_errstr(errno),
			       LB_END);
	if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
		return lb_fail(err, LB_EXIT_NOPERM, "type", d->path, path,
			       want_dir ? "not a directory" : "not a regular file", LB_END);
	if (!uid_is_outside_root(st.st_uid))
		return lb_fail(err, LB_EXIT_NOPERM, "owner", d->path, path, "owned by uid ",
			       lb_fmt_i64(num, st.st_uid), ", not root", LB_END);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return lb_fail(err, LB_EXIT_NOPERM, "owner", d->path, path,
			       "writable by group or other (mode ", fmt_mode(mode, st.st_mode), ")",
			       LB_END);
	/* ACLs can grant write beyond the mode bits; ask the kernel for non-root callers (the raw
	 * syscall: musl's faccessat carries an AT_EACCESS emulation we do not need). */
	if (want_dir && d->euid != 0 && syscall(SYS_faccessat, fd, ".", W_OK) == 0)
		return lb_fail(err, LB_EXIT_NOPERM, "owner", d->path, path,
			       "writable by the caller", LB_END);
	if (size)
		*size = (size_t)st.st_size;
	return 0;
}

void lb_dir_init(struct lb_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->dfd = -1;
	d->datafd = -1;
	d->generation = -1;
}

static void data_close(struct lb_dir *d)
{
	if (d->datafd >= 0)
		close(d->datafd);
	d->datafd = -1;
	if (d->manifest && d->manifest != d->manifest_inline)
		munmap(d->manifest, LB_MANIFEST_MAX + 1);
	d->manifest = NULL;
	d->manifest_len = 0;
	d->generation = -1;
}

void lb_dir_close(struct lb_dir *d)
{
	data_close(d);
	if (d->dfd >= 0)
		close(d->dfd);
	d->dfd = -1;
}

int lb_dir_open(struct lb_dir *d, const char *path, unsigned flags, lb_err *err)
{
	struct statfs fs;
	int rc;

	d->path = path;
	d->flags = flags;
	d->euid = geteuid();
	/* openat, not open: musl's open follows O_CLOEXEC with an fcntl (for kernels < 2.6.23). */
	d->dfd = openat(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->dfd < 0)
		return lb_fail(err, errno == ENOENT ? LB_EXIT_NOINPUT : LB_EXIT_NOPERM, "open",
			       path, NULL, lb_errstr(errno), LB_END);
	if (fstatfs(d->dfd, &fs) < 0)
		return lb_fail(err, LB_EXIT_NOPERM, "tmpfs", path, NULL, lb_errstr(errno), LB_END);
	if ((unsigned long)fs.f_type != TMPFS_MAGIC)
		return lb_fail(err, LB_EXIT_NOPERM, "tmpfs", path, NULL, "not a tmpfs", LB_END);
	report(d, "tmpfs", NULL, NULL);
	/* statfs.f_flags carries the mount flags (ST_*) since Linux 2.6.36: no statvfs needed. */
	if (!(fs.f_flags & ST_RDONLY)) {
		if (!(flags & LOCKBOX_ALLOW_WRITABLE))
			return lb_fail(err, LB_EXIT_NOPERM, "read-only", path, NULL,
				       "mounted read-write (--allow-writable accepts that for a "
				       "static target on the host)",
				       LB_END);
		report(d, "read-only", NULL, "writable mount allowed");
	} else {
		report(d, "read-only", NULL, NULL);
	}
	rc = check_root_owned(d, d->dfd, NULL, true, NULL, err);
	if (rc)
		return rc;
	report(d, "owner", NULL, NULL);
	return 0;
}

static int load_manifest(struct lb_dir *d, lb_err *err)
{
	static const char rel[] = LB_DATA_LINK "/" LB_MANIFEST;
	char num[24], gen[24], *big;
	const char *what;
	size_t off, cap, size = 0, want;
	ssize_t n;
	int fd, rc;

	fd = open_beneath(d->datafd, LB_MANIFEST, O_RDONLY | O_NOCTTY | O_NONBLOCK, false);
	if (fd < 0) {
		if (errno == ENOENT)
			return lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel, "missing",
				       LB_END);
		return lb_fail(err, LB_EXIT_NOPERM, "beneath", d->path, rel, lb_errstr(errno),
			       LB_END);
	}
	rc = check_root_owned(d, fd, rel, false, &size, err);
	if (rc)
		goto out;
	if (size > LB_MANIFEST_MAX) {
		rc = lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel, "larger than ",
			     lb_fmt_i64(num, LB_MANIFEST_MAX), " bytes", LB_END);
		goto out;
	}
	d->manifest = d->manifest_inline;
	cap = sizeof(d->manifest_inline);
	/* Reads ask for at least size + 1 bytes, so a manifest that grew since the fstat fills
	 * the request and is read on (to the cap), and one that did not ends with a short read:
	 * no read of 0 bytes for the end of the file. */
	while (d->manifest_len <= LB_MANIFEST_MAX) {
		/* Past the inline buffer: one mapping of the cap + 1, so that a manifest that
		 * fills it is too big, not truncated. */
		if (d->manifest_len == cap || (d->manifest_len == 0 && size >= cap)) {
			big = mmap(NULL, LB_MANIFEST_MAX + 1, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (big == MAP_FAILED) {
				rc = lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel,
					     lb_errstr(errno), LB_END);
				goto out;
			}
			memcpy(big, d->manifest_inline, d->manifest_len);
			d->manifest = big;
			cap = LB_MANIFEST_MAX + 1;
		}
		want = cap - d->manifest_len;
		n = read(fd, d->manifest + d->manifest_len, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel,
				     lb_errstr(errno), LB_END);
			goto out;
		}
		if (n == 0)
			break;
		d->manifest_len += (size_t)n;
		/* A regular file's read is short only at its end. */
		if ((size_t)n < want && d->manifest_len == size)
			break;
	}
	if (d->manifest_len > LB_MANIFEST_MAX) {
		rc = lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel, "larger than ",
			     lb_fmt_i64(num, LB_MANIFEST_MAX), " bytes", LB_END);
		goto out;
	}
	if (lb_manifest_scan(d->manifest, d->manifest_len, NULL, NULL, &d->generation, &off,
			     &what) < 0) {
		rc = lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, rel, "malformed JSON (",
			     what, " at byte ", lb_fmt_i64(num, (int64_t)off), ")", LB_END);
		goto out;
	}
	report(d, "manifest", rel,
	       d->generation >= 0 ? lb_fmt_i64(gen, d->generation) : "no generation");
	rc = 0;
out:
	close(fd);
	return rc;
}

int lb_data_open(struct lb_dir *d, lb_err *err)
{
	int rc;

	data_close(d);
	d->datafd = open_beneath(d->dfd, LB_DATA_LINK, O_RDONLY | O_DIRECTORY, true);
	if (d->datafd < 0) {
		if (errno == ENOENT)
			return lb_fail(err, LB_EXIT_NOINPUT, "data", d->path, LB_DATA_LINK,
				       "not populated yet", LB_END);
		if (errno == EXDEV)
			return lb_fail(err, LB_EXIT_NOPERM, "beneath", d->path, LB_DATA_LINK,
				       "resolves outside the directory", LB_END);
		return lb_fail(err, LB_EXIT_NOPERM, "beneath", d->path, LB_DATA_LINK,
			       lb_errstr(errno), LB_END);
	}
	rc = check_root_owned(d, d->datafd, LB_DATA_LINK, true, NULL, err);
	if (rc)
		return rc;
	report(d, "beneath", LB_DATA_LINK, NULL);
	return load_manifest(d, err);
}

struct lookup {
	const char *name;
	int found;
	struct lb_entry entry;
};

static void lookup_entry(const struct lb_entry *e, void *arg)
{
	struct lookup *l = arg;

	if (strlen(l->name) == e->name_len && !memcmp(l->name, e->name, e->name_len)) {
		l->found++;
		l->entry = *e;
	}
}

void lb_manifest_each(const struct lb_dir *d, lb_entry_fn fn, void *arg)
{
	size_t off;
	const char *what;

	/* Already validated by load_manifest, so this cannot fail. */
	lb_manifest_scan(d->manifest, d->manifest_len, fn, arg, NULL, &off, &what);
}

LB_NOINLINE static bool caller_has_gid(gid_t gid)
{
	gid_t groups[LB_GROUPS_MAX];
	int n;

	if (gid == getegid())
		return true;
	n = getgroups(LB_GROUPS_MAX, groups);
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int lb_secret_open(struct lb_dir *d, const char *name, int *fdp, size_t *size, lb_err *err)
{
	char rel[sizeof(LB_DATA_LINK) + LB_NAME_MAX + 1];
	char n1[24], n2[24], n3[24], mode[8];
	struct lookup l = {.name = name};
	uid_t euid = d->euid;
	struct timespec now;
	struct stat st;
	int fd, rc;

	*fdp = -1;
	if (!lb_secret_name_valid(name))
		return lb_fail(err, LB_EXIT_USAGE, "name", d->path, NULL,
			       "not a valid secret name: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
			       LB_END);
	memcpy(rel, LB_DATA_LINK "/", sizeof(LB_DATA_LINK));
	memcpy(rel + sizeof(LB_DATA_LINK), name, strlen(name) + 1);

	fd = open_beneath(d->datafd, name, O_RDONLY | O_NOCTTY | O_NONBLOCK, false);
	if (fd < 0) {
		if (errno == ENOENT)
			return lb_fail(err, LB_EXIT_NOINPUT, "secret", d->path, rel,
				       "no such secret", LB_END);
		if (errno == ELOOP || errno == EXDEV)
			return lb_fail(err, LB_EXIT_NOPERM, "beneath", d->path, rel,
				       "is a symlink (secrets are read without following links)",
				       LB_END);
		return lb_fail(err, LB_EXIT_NOPERM, errno == EACCES ? "permission" : "open",
			       d->path, rel, lb_errstr(errno), LB_END);
	}
	if (fstat(fd, &st) < 0) {
		rc = lb_fail(err, LB_EXIT_NOPERM, "type", d->path, rel, lb_errstr(errno), LB_END);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = lb_fail(err, LB_EXIT_NOPERM, "type", d->path, rel, "not a regular file",
			     LB_END);
		goto out;
	}
	if (euid != 0 && st.st_uid != euid && !caller_has_gid(st.st_gid)) {
		rc = lb_fail(err, LB_EXIT_NOPERM, "owner", d->path, rel, "owned by uid ",
			     lb_fmt_i64(n1, st.st_uid), " gid ", lb_fmt_i64(n2, st.st_gid),
			     ", caller is uid ", lb_fmt_i64(n3, euid), LB_END);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		rc = lb_fail(err, LB_EXIT_NOPERM, "mode", d->path, rel,
			     "writable by group or other (mode ", fmt_mode(mode, st.st_mode), ")",
			     LB_END);
		goto out;
	}
	lb_manifest_each(d, lookup_entry, &l);
	if (l.found != 1) {
		rc =
		    lb_fail(err, LB_EXIT_DATAERR, "manifest", d->path, LB_DATA_LINK "/" LB_MANIFEST,
			    l.found ? "duplicate entry for " : "no entry for ", name, LB_END);
		goto out;
	}
	lb_clock(CLOCK_REALTIME, &now);
	if (l.entry.has_not_after && l.entry.not_after <= (int64_t)now.tv_sec) {
		rc = lb_fail(err, LB_EXIT_DATAERR, "expiry", d->path, rel,
			     "expired at not_after=", lb_fmt_i64(n1, l.entry.not_after), " (now ",
			     lb_fmt_i64(n2, (int64_t)now.tv_sec), ")", LB_END);
		goto out;
	}
	report(d, "secret", rel,
	       l.entry.has_not_after ? lb_fmt_i64(n1, l.entry.not_after) : "no expiry");
	*fdp = fd;
	fd = -1;
	*size = (size_t)st.st_size;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* D/NAME is the path handed to the application (NAME_FILE); it must lead into the verified
 * generation exactly as the layout says: a symlink to ..data/NAME. */
int lb_link_check(struct lb_dir *d, const char *name, lb_err *err)
{
	char want[sizeof(LB_DATA_LINK) + LB_NAME_MAX + 1];
	char got[sizeof(want) + 1];
	ssize_t n;

	if (!lb_secret_name_valid(name))
		return lb_fail(err, LB_EXIT_USAGE, "name", d->path, NULL, "not a valid secret name",
			       LB_END);
	memcpy(want, LB_DATA_LINK "/", sizeof(LB_DATA_LINK));
	memcpy(want + sizeof(LB_DATA_LINK), name, strlen(name) + 1);
	n = readlinkat(d->dfd, name, got, sizeof(got) - 1);
	if (n < 0) {
		if (errno == ENOENT)
			return lb_fail(err, LB_EXIT_NOINPUT, "link", d->path, name, "missing",
				       LB_END);
		return lb_fail(err, LB_EXIT_NOPERM, "link", d->path, name,
			       errno == EINVAL ? "not a symlink" : lb_errstr(errno), LB_END);
	}
	got[n] = '\0';
	if (strcmp(got, want) != 0)
		return lb_fail(err, LB_EXIT_NOPERM, "link", d->path, name, "points to ", got,
			       ", not ", want, LB_END);
	report(d, "link", name, NULL);
	return 0;
}
