#include "fsutil.h"
#include "cleanup.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int lb_open_dir_path(const char *path, bool create, mode_t mode, lb_err *e)
{
	_cleanup_close_ int fd = -1;
	char buf[4096], *save = NULL;
	size_t len = strlen(path);

	if (path[0] != '/' || len >= sizeof(buf))
		return lb_fail(e, 0, "%s: expected an absolute path", path);
	memcpy(buf, path, len + 1);
	fd = open("/", O_DIRECTORY | O_PATH | O_CLOEXEC);
	for (char *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int next;

		if (strcmp(c, "..") == 0)
			return lb_fail(e, 0, "%s: \"..\" not allowed", path);
		next = openat(fd, c, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, c, mode) < 0 && errno != EEXIST)
				return lb_fail_errno(e, "mkdir %s (component %s)", path, c);
			next = openat(fd, c, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0)
			return lb_fail_errno(e, "open %s (component %s)", path, c);
		close(fd);
		fd = next;
	}
	return steal_fd(fd);
}

int lb_open_dir_at(int dirfd, const char *name, lb_err *e)
{
	int fd = openat(dirfd, name, O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return lb_fail_errno(e, "open directory %s", name);
	return fd;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int lb_write_new_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		    uid_t uid, gid_t gid, lb_err *e)
{
	/* Created 0600 root, filled, then handed over: no window where the consumer can
	 * open a half-written file. */
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return lb_fail_errno(e, "create %s", name);
	if (write_all(fd, data, len) < 0)
		return lb_fail_errno(e, "write %s", name);
	static uid_t self_uid = (uid_t)-1;
	static gid_t self_gid;

	if (self_uid == (uid_t)-1) {
		self_uid = geteuid();
		self_gid = getegid();
	}
	/* A new file already belongs to us: no fchown for root-owned layout files. */
	if ((uid != self_uid || gid != self_gid) && fchown(fd, uid, gid) < 0)
		return lb_fail_errno(e, "chown %s to %u:%u", name, (unsigned)uid, (unsigned)gid);
	if (fchmod(fd, mode) < 0)
		return lb_fail_errno(e, "chmod %s", name);
	return 0;
}

int lb_sync_dir(int dirfd, const char *what, lb_err *e)
{
	/* EINVAL: a file system without fsync of directories has nothing to make durable. */
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return lb_fail_errno(e, "fsync directory of %s", what);
	return 0;
}

enum {
	WRITE_DURABLE = 1,   /* fsync the file before the rename and the directory after it */
	WRITE_NOREPLACE = 2, /* fail with EEXIST when name is there */
};

static int write_replace(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 int how, lb_err *e)
{
	char tmp[300];
	_cleanup_close_ int fd = -1;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return lb_fail_errno(e, "create %s", tmp);
	if (write_all(fd, data, len) < 0 || ((how & WRITE_DURABLE) && fsync(fd) < 0)) {
		lb_fail_errno(e, "write %s", tmp);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (renameat2(dirfd, tmp, dirfd, name, (how & WRITE_NOREPLACE) ? RENAME_NOREPLACE : 0) <
	    0) {
		lb_fail_errno(e, "rename %s to %s", tmp, name);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	/* The rename is a change of the directory: until the directory is synced a power loss
	 * can undo it, so the fsync'd file would not be under its name. */
	if ((how & WRITE_DURABLE) && lb_sync_dir(dirfd, name, e))
		return -1;
	return 0;
}

int lb_write_replace_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			lb_err *e)
{
	return write_replace(dirfd, name, data, len, mode, WRITE_DURABLE, e);
}

int lb_write_create_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		       lb_err *e)
{
	return write_replace(dirfd, name, data, len, mode, WRITE_DURABLE | WRITE_NOREPLACE, e);
}

int lb_write_cache_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
		      lb_err *e)
{
	return write_replace(dirfd, name, data, len, mode, 0, e);
}

/* A regular file of at most cap bytes: its size. */
static int regular_size(int fd, const char *name, size_t cap, size_t *size, lb_err *e)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return lb_fail_errno(e, "stat %s", name);
	if (!S_ISREG(st.st_mode))
		return lb_fail(e, 0, "%s is not a regular file", name);
	if ((size_t)st.st_size > cap)
		return lb_fail(e, 0, "%s is larger than %zu bytes", name, cap);
	*size = (size_t)st.st_size;
	return 0;
}

static int open_regular(int dirfd, const char *name, size_t cap, size_t *size, lb_err *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return lb_fail_errno(e, "open %s", name);
	if (regular_size(fd, name, cap, size, e))
		return -1;
	return steal_fd(fd);
}

static int read_exact(int fd, unsigned char *buf, size_t len, const char *name, lb_err *e)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return lb_fail_errno(e, "read %s", name);
		if (n == 0)
			return lb_fail(e, 0, "%s shrank while being read", name);
		off += (size_t)n;
	}
	return 0;
}

int lb_read_at(int dirfd, const char *name, size_t cap, char **out, size_t *len, lb_err *e)
{
	size_t size;
	_cleanup_close_ int fd = open_regular(dirfd, name, cap, &size, e);

	if (fd < 0)
		return -1;
	return lb_read_fd(fd, name, cap, out, len, e);
}

int lb_read_fd(int fd, const char *name, size_t cap, char **out, size_t *len, lb_err *e)
{
	_cleanup_free_ char *buf = NULL;
	size_t size;

	if (regular_size(fd, name, cap, &size, e))
		return -1;
	buf = malloc(size + 1);
	if (!buf)
		return lb_fail(e, ENOMEM, "out of memory reading %s", name);
	if (read_exact(fd, (unsigned char *)buf, size, name, e))
		return -1;
	buf[size] = '\0';
	*out = steal_ptr(buf);
	if (len)
		*len = size;
	return 0;
}

static lb_path_reader path_reader;

void lb_set_path_reader(lb_path_reader fn)
{
	path_reader = fn;
}

bool lb_path_reader_set(void)
{
	return path_reader != NULL;
}

int lb_read_secret_at(int dirfd, const char *name, size_t cap, lb_secbuf **out, lb_err *e)
{
	size_t size;
	_cleanup_close_ int fd = -1;
	_cleanup_secbuf_ lb_secbuf *b = NULL;

	if (dirfd == AT_FDCWD && path_reader)
		return path_reader(name, cap, out, e);
	fd = open_regular(dirfd, name, cap, &size, e);
	if (fd < 0)
		return -1;
	b = lb_secbuf_new(size);
	if (!b)
		return lb_fail(e, ENOMEM, "out of secure memory reading %s", name);
	if (read_exact(fd, b->data, size, name, e))
		return -1;
	*out = steal_ptr(b);
	return 0;
}

static void wipe_file(int dirfd, const char *name)
{
	static const unsigned char zeros[4096];
	_cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	for (off_t off = 0; off < st.st_size; off += (off_t)sizeof(zeros)) {
		size_t n = (size_t)(st.st_size - off) < sizeof(zeros) ? (size_t)(st.st_size - off)
								      : sizeof(zeros);
		if (pwrite(fd, zeros, n, off) < 0)
			return;
	}
}

int lb_dir_each(int parent, const char *path, lb_dir_fn fn, void *arg, lb_err *e)
{
	int fd = openat(parent, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_dir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int r;

	if (!d) {
		lb_fail_errno(e, "open directory %s", path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? lb_fail_errno(e, "read directory %s", path) : 0;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = fn(dirfd(d), de->d_name, arg);
		if (r)
			return r;
	}
}

struct remove_walk {
	bool wipe;
	int depth;
	lb_err *e;
};

static int remove_tree(int parent, const char *name, bool wipe, int depth, lb_err *e);

static int remove_entry(int dirfd, const char *name, void *arg)
{
	const struct remove_walk *w = arg;

	return remove_tree(dirfd, name, w->wipe, w->depth + 1, w->e);
}

/* Recursive through lb_dir_each and remove_entry: depth capped at 16 directories. */
static int remove_tree(int parent, const char *name, bool wipe, int depth, lb_err *e)
{
	struct stat st;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : lb_fail_errno(e, "stat %s", name);
	if (S_ISDIR(st.st_mode)) {
		struct remove_walk w = {.wipe = wipe, .depth = depth, .e = e};

		if (depth > 16)
			return lb_fail(e, 0, "%s: directory tree too deep", name);
		if (lb_dir_each(parent, name, remove_entry, &w, e))
			return -1;
		if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return lb_fail_errno(e, "rmdir %s", name);
		return 0;
	}
	if (wipe && S_ISREG(st.st_mode) && st.st_nlink == 1)
		wipe_file(parent, name);
	if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
		return lb_fail_errno(e, "unlink %s", name);
	return 0;
}

int lb_remove_tree_at(int dirfd, const char *name, bool wipe, lb_err *e)
{
	return remove_tree(dirfd, name, wipe, 0, e);
}
