/* broker/core/fsutil: what reaches the disk (fsync of the file and of its directory, seen
 * through the linker's --wrap=fsync: the product is unchanged), create-without-replace, and
 * lb_dir_each (every entry once, no "." or "..", a symlink refused, the walk's fd closed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "sealed.h"

/* Every fsync of the process: the kind of fd, and for a directory whether NAME (the file
 * the test just wrote) was in it already, i.e. the fsync came after the rename. */
#define SYNCS_MAX 16
static struct {
	bool dir;
	ino_t ino;
	bool name_there;
} syncs[SYNCS_MAX];
static size_t nsyncs;
static const char *watch_name;

// NOLINTNEXTLINE(bugprone-reserved-identifier): the name ld's --wrap=fsync links to
int __real_fsync(int fd);
// NOLINTNEXTLINE(bugprone-reserved-identifier): the name ld's --wrap=fsync links to
int __wrap_fsync(int fd);

// NOLINTNEXTLINE(bugprone-reserved-identifier): the name ld's --wrap=fsync links to
int __wrap_fsync(int fd)
{
	struct stat st;

	if (nsyncs < SYNCS_MAX && fstat(fd, &st) == 0) {
		syncs[nsyncs].dir = S_ISDIR(st.st_mode);
		syncs[nsyncs].ino = st.st_ino;
		syncs[nsyncs].name_there = S_ISDIR(st.st_mode) && watch_name &&
					   fstatat(fd, watch_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		nsyncs++;
	}
	return __real_fsync(fd);
}

struct fx {
	char dir[64];
	int dirfd;
	ino_t ino;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct stat st;

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lb-fsutil-XXXXXX");
	if (lb_secmem_init() < 0 || !mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->dir, O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0 || fstat(f->dirfd, &st) < 0) {
		rmdir(f->dir);
		free(f);
		return -1;
	}
	f->ino = st.st_ino;
	nsyncs = 0;
	watch_name = NULL;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};
	int parent = open("/tmp", O_DIRECTORY | O_CLOEXEC);

	close(f->dirfd);
	lb_remove_tree_at(parent, f->dir + 5, false, &e);
	close(parent);
	free(f);
	return 0;
}

static void put(int dirfd, const char *path)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
}

static void assert_file(int dirfd, const char *name, const char *want, mode_t mode)
{
	char *got = NULL;
	size_t len = 0;
	struct stat st;
	lb_err e = {0};

	assert_int_equal(lb_read_at(dirfd, name, 4096, &got, &len, &e), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
	free(got);
	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, mode);
}

/* The file, then (after the rename) its directory: both reach the disk. */
static void assert_durable(const struct fx *f, size_t first)
{
	assert_int_equal(nsyncs, first + 2);
	assert_false(syncs[first].dir);
	assert_true(syncs[first + 1].dir);
	assert_int_equal(syncs[first + 1].ino, f->ino);
	assert_true(syncs[first + 1].name_there);
}

static void test_replace_syncs_directory(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};

	watch_name = "leases.json";
	assert_int_equal(lb_write_replace_at(f->dirfd, "leases.json", "{}", 2, 0600, &e), 0);
	assert_durable(f, 0);
	assert_file(f->dirfd, "leases.json", "{}", 0600);
	assert_int_equal(lb_write_replace_at(f->dirfd, "leases.json", "[1]", 3, 0600, &e), 0);
	assert_durable(f, 2);
	assert_file(f->dirfd, "leases.json", "[1]", 0600);
	/* No temporary file is left beside it. */
	assert_int_equal(faccessat(f->dirfd, ".leases.json.tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* run_dir's files (tmpfs) and rebuildable state pay for no fsync at all. */
static void test_cache_syncs_nothing(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};

	assert_int_equal(lb_write_cache_at(f->dirfd, "targets.json", "{}", 2, 0600, &e), 0);
	assert_int_equal(lb_write_cache_at(f->dirfd, "targets.json", "{ }", 3, 0600, &e), 0);
	assert_int_equal(nsyncs, 0);
	assert_file(f->dirfd, "targets.json", "{ }", 0600);
}

static void test_create_never_replaces(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};

	watch_name = "k";
	assert_int_equal(lb_write_create_at(f->dirfd, "k", "first", 5, 0400, &e), 0);
	assert_durable(f, 0);
	assert_int_equal(lb_write_create_at(f->dirfd, "k", "second", 6, 0400, &e), -1);
	assert_int_equal(e.sys, EEXIST);
	assert_file(f->dirfd, "k", "first", 0400);
	assert_int_equal(faccessat(f->dirfd, ".k.tmp", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* A new sealed store: sealed/ and sealed.key are on the disk under their names before anything
 * is sealed with the key; a removed secret stays removed. */
static void test_sealed_key_durable(void **state)
{
	struct fx *f = *state;
	lb_secbuf *v = lb_secbuf_new(3);
	lb_sealed *s = NULL;
	lb_err e = {0};
	uint32_t ver;
	bool key_synced = false, dir_synced = false;
	struct stat st;

	assert_non_null(v);
	memcpy(v->data, "abc", 3);
	watch_name = "sealed.key";
	assert_int_equal(lb_sealed_open(f->dirfd, true, &s, &e), 0);
	for (size_t i = 0; i < nsyncs; i++) {
		dir_synced |= syncs[i].dir && syncs[i].ino == f->ino;
		key_synced |= syncs[i].dir && syncs[i].ino == f->ino && syncs[i].name_there;
	}
	assert_true(dir_synced);
	assert_true(key_synced);
	assert_int_equal(lb_sealed_put(s, "db", v, &ver, &e), 0);
	assert_int_equal(fstatat(f->dirfd, "sealed", &st, 0), 0);
	nsyncs = 0;
	watch_name = "db.v1";
	assert_int_equal(lb_sealed_rm(s, "db", &e), 0);
	assert_int_equal(nsyncs, 1);
	assert_true(syncs[0].dir);
	assert_int_equal(syncs[0].ino, st.st_ino);
	assert_false(syncs[0].name_there);
	lb_sealed_close(s);
	/* Opened again: the same key, not a new one. */
	nsyncs = 0;
	assert_int_equal(lb_sealed_open(f->dirfd, true, &s, &e), 0);
	assert_int_equal(nsyncs, 0);
	lb_sealed_close(s);
	lb_secbuf_free(v);
}

struct seen {
	char names[8][16];
	int n;
	int stop_at;
};

static int collect(int dirfd, const char *name, void *arg)
{
	struct seen *s = arg;
	struct stat st;

	assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(s->n < 8);
	snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
	s->n++;
	if (strcmp(name, "gone") == 0)
		assert_int_equal(unlinkat(dirfd, name, 0), 0);
	return s->n == s->stop_at ? 7 : 0;
}

static bool seen(const struct seen *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->names[i], name) == 0)
			return true;
	return false;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_dir_each(void **state)
{
	struct fx *f = *state;
	struct seen s = {.stop_at = -1};
	lb_err e = {0};
	int fds = open_fds();

	assert_int_equal(mkdirat(f->dirfd, "sub", 0700), 0);
	put(f->dirfd, "sub/a");
	put(f->dirfd, "sub/gone");
	assert_int_equal(mkdirat(f->dirfd, "sub/.hidden", 0700), 0);
	assert_int_equal(symlinkat("sub", f->dirfd, "link"), 0);

	assert_int_equal(lb_dir_each(f->dirfd, "sub", collect, &s, &e), 0);
	assert_int_equal(s.n, 3);
	assert_true(seen(&s, "a") && seen(&s, "gone") && seen(&s, ".hidden"));
	assert_false(seen(&s, ".") || seen(&s, ".."));
	assert_int_equal(faccessat(f->dirfd, "sub/gone", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	/* FN's answer ends the walk and is the result. */
	s = (struct seen){.stop_at = 1};
	assert_int_equal(lb_dir_each(f->dirfd, "sub", collect, &s, &e), 7);
	assert_int_equal(s.n, 1);
	/* "." is DIRFD itself. */
	s = (struct seen){.stop_at = -1};
	assert_int_equal(lb_dir_each(f->dirfd, ".", collect, &s, &e), 0);
	assert_true(s.n == 2 && seen(&s, "sub") && seen(&s, "link"));
	/* Never through a symlink; a missing directory is an error that names it. */
	s = (struct seen){.stop_at = -1};
	assert_int_equal(lb_dir_each(f->dirfd, "link", collect, &s, &e), -1);
	assert_int_equal(s.n, 0);
	assert_non_null(strstr(e.msg, "link"));
	assert_int_equal(lb_dir_each(f->dirfd, "nowhere", collect, &s, &e), -1);
	assert_int_equal(e.sys, ENOENT);
	assert_int_equal(open_fds(), fds);
}

/* lb_remove_tree_at walks with lb_dir_each: nested trees go, a symlink goes without its
 * target, and a tree deeper than the cap is refused. */
static void test_remove_tree(void **state)
{
	struct fx *f = *state;
	char path[256] = "deep";
	size_t len = strlen(path);
	lb_err e = {0};
	int fds = open_fds();

	assert_int_equal(mkdirat(f->dirfd, "t", 0700), 0);
	assert_int_equal(mkdirat(f->dirfd, "t/u", 0700), 0);
	put(f->dirfd, "t/u/f");
	assert_int_equal(mkdirat(f->dirfd, "keep", 0700), 0);
	assert_int_equal(symlinkat("../keep", f->dirfd, "t/u/l"), 0);
	assert_int_equal(lb_remove_tree_at(f->dirfd, "t", true, &e), 0);
	assert_int_equal(faccessat(f->dirfd, "t", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(faccessat(f->dirfd, "keep", F_OK, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(lb_remove_tree_at(f->dirfd, "t", true, &e), 0); /* ENOENT: done */

	assert_int_equal(mkdirat(f->dirfd, path, 0700), 0);
	for (int i = 0; i < 18; i++) {
		memcpy(path + len, "/d", 3);
		len += 2;
		assert_int_equal(mkdirat(f->dirfd, path, 0700), 0);
	}
	assert_int_equal(lb_remove_tree_at(f->dirfd, "deep", false, &e), -1);
	assert_non_null(strstr(e.msg, "too deep"));
	assert_int_equal(lb_remove_tree_at(f->dirfd, "deep/d/d", false, &e), 0);
	assert_int_equal(lb_remove_tree_at(f->dirfd, "deep", false, &e), 0);
	assert_int_equal(open_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_replace_syncs_directory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_syncs_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_create_never_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_key_durable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dir_each, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_tree, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
