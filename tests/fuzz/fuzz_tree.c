/* The client's tree checks (client/verify.c: lb_dir_open, lb_data_open, lb_link_check,
 * lb_secret_open) on a directory laid out by the input, inside a tmpfs the harness mounts
 * (root only; otherwise every input is skipped). Whoever can write to a target directory
 * (or plants one) chooses the layout: links, modes, manifests, files in place of dirs.
 * Input: lines "d PATH MODE", "f PATH MODE CONTENT" (\n in CONTENT written as \\n),
 * "l PATH TARGET"; PATH relative, without a ".." component. Built from client sources
 * alone. */
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lb.h"

static char root[] = "/tmp/lb-fuzz-tree-XXXXXX";
static int rootfd = -1;
static unsigned long round_no;

static void cleanup(void)
{
	if (rootfd >= 0) {
		umount2(root, MNT_DETACH);
		rmdir(root);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (geteuid() != 0 || !mkdtemp(root))
		return 0;
	if (mount("lb-fuzz-tree", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=8m") < 0) {
		rmdir(root);
		return 0;
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (atexit(cleanup) != 0)
		abort();
	return 0;
}

// NOLINTNEXTLINE(misc-no-recursion): depth capped at 16 directories
static void remove_tree(int dirfd, const char *name, int depth)
{
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT || depth > 16)
		return;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		DIR *d = fdopendir(fd);
		struct dirent *de;
		if (fchmod(fd, 0700) < 0)
			(void)0;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				remove_tree(fd, de->d_name, depth + 1);
		if (d)
			closedir(d);
		else
			close(fd);
	}
	unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* Relative, no ".." component: the layout stays inside the directory (links may point
 * anywhere: that is what the client must withstand). */
static bool path_ok(const char *p)
{
	if (!p[0] || p[0] == '/' || strlen(p) >= 200)
		return false;
	for (const char *c = p; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return false;
	return true;
}

static void build(int dfd, char *text)
{
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *path = line + 2, *arg;
		unsigned long mode;
		int fd;

		if (strlen(line) < 3 || line[1] != ' ' || !(arg = strchr(path, ' ')))
			continue;
		*arg++ = '\0';
		if (!path_ok(path))
			continue;
		mode = strtoul(arg, &arg, 8) & 07777;
		if (line[0] == 'd') {
			if (mkdirat(dfd, path, (mode_t)mode) < 0 && errno != EEXIST)
				continue;
			if (fchmodat(dfd, path, (mode_t)mode, 0) < 0)
				continue;
		} else if (line[0] == 'l') {
			if (symlinkat(line + 2 + strlen(path) + 1, dfd, path) < 0)
				continue;
		} else if (line[0] == 'f' &&
			   (fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
					0600)) >= 0) {
			size_t n = 0;
			char *o = arg + (*arg == ' ');
			for (char *s = o; *s; s++) {
				if (s[0] == '\\' && s[1] == 'n') {
					o[n++] = '\n';
					s++;
				} else {
					o[n++] = s[0];
				}
			}
			/* A file the harness could not fill is just another input. */
			if (write(fd, o, n) < 0)
				(void)0;
			if (fchmod(fd, (mode_t)mode) < 0)
				(void)0;
			close(fd);
		}
	}
}

struct visit {
	struct lb_dir *d;
	dev_t dev;
};

static void on_entry(const struct lb_entry *e, void *arg)
{
	struct visit *v = arg;
	char name[LB_NAME_MAX + 1];
	lb_err err;
	struct stat st;
	size_t size;
	int fd;

	memcpy(name, e->name, e->name_len);
	name[e->name_len] = '\0';
	memset(&err, 0, sizeof(err));
	lb_link_check(v->d, name, &err);
	if (lb_secret_open(v->d, name, &fd, &size, &err) == 0) {
		/* Whatever the layout, an opened secret is a regular file of this tmpfs. */
		FUZZ_ASSERT(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_dev == v->dev);
		FUZZ_ASSERT((size_t)st.st_size == size);
		close(fd);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dname[32], path[128];
	struct lb_dir d;
	struct visit v;
	struct stat st;
	lb_err err;
	char *text;
	int dfd;

	if (rootfd < 0 || size > 8192)
		return -1;
	snprintf(dname, sizeof(dname), "d%lu", round_no++);
	if (mkdirat(rootfd, dname, 0755) < 0 ||
	    (dfd = openat(rootfd, dname, O_PATH | O_DIRECTORY)) < 0)
		abort();
	text = fuzz_strndup(data, size);
	build(dfd, text);
	free(text);
	snprintf(path, sizeof(path), "%s/%s", root, dname);
	lb_dir_init(&d);
	memset(&err, 0, sizeof(err));
	if (lb_dir_open(&d, path, LOCKBOX_ALLOW_WRITABLE, &err) == 0 &&
	    lb_data_open(&d, &err) == 0 && fstat(dfd, &st) == 0) {
		v.d = &d;
		v.dev = st.st_dev;
		lb_manifest_each(&d, on_entry, &v);
	}
	lb_dir_close(&d);
	close(dfd);
	remove_tree(rootfd, dname, 0);
	return 0;
}
