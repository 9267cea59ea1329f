/* Target publish (broker/target.c) on a real tmpfs: generations, the ..data swap, unchanged
 * files linked, owners through the id map, retired generations and their GC, a restart that
 * finds the live tmpfs. Needs root for the mount (exits 77 without, unless
 * LOCKBOX_MUST_WORK=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "layout.h"
#include "target.h"

struct fx {
	char dir[64];
	int tdirfd;
	lb_target *t;
};

static bool must_work(void)
{
	const char *v = getenv("LOCKBOX_MUST_WORK");

	return v && strcmp(v, "1") == 0;
}

static int teardown(void **state);

/* A setup that fails frees what it made (cmocka runs no teardown then). */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	char path[96];
	lb_err e = {0};

	if (!x)
		return -1;
	*state = x;
	x->tdirfd = -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/lb-publish-XXXXXX");
	if (lb_secmem_init() < 0 || !mkdtemp(x->dir))
		goto fail;
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR, x->dir);
	if (mkdir(path, 0711) < 0 || (x->tdirfd = open(path, O_DIRECTORY | O_CLOEXEC)) < 0)
		goto fail;
	x->t = lb_target_open(x->tdirfd, "demo", 1 << 20, &e);
	if (!x->t) {
		print_error("%s\n", e.msg);
		goto fail;
	}
	x->t->uid = x->t->gid = 1000;
	return 0;
fail:
	teardown(state);
	return -1;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	char path[96];
	lb_err e = {0};

	if (x->t && lb_target_destroy(x->t, x->tdirfd, x->dir, &e))
		print_error("%s\n", e.msg);
	if (x->tdirfd >= 0)
		close(x->tdirfd);
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR, x->dir);
	rmdir(path);
	rmdir(x->dir);
	free(x);
	return 0;
}

struct item {
	const char *name, *value, *version;
	unsigned mode;
};

static int publish(struct fx *x, const struct item *in, size_t n)
{
	lb_publish_item items[8] = {0};
	lb_secbuf *vals[8] = {0};
	lb_err e = {0};
	int rc;

	assert_true(n <= 8);
	for (size_t i = 0; i < n; i++) {
		vals[i] = in[i].value ? lb_secbuf_dup(in[i].value, strlen(in[i].value)) : NULL;
		items[i] = (lb_publish_item){.name = in[i].name,
					     .value = vals[i],
					     .version = in[i].version,
					     .source = "local:x",
					     .mode = in[i].mode};
	}
	rc = lb_target_publish(x->t, items, n, &e);
	if (rc)
		print_error("%s\n", e.msg);
	for (size_t i = 0; i < n; i++)
		lb_secbuf_free(vals[i]);
	return rc;
}

static struct stat stat_of(struct fx *x, const char *rel)
{
	struct stat st;

	assert_int_equal(fstatat(x->t->dirfd, rel, &st, 0), 0);
	return st;
}

static const char *content(struct fx *x, const char *rel)
{
	static char buf[128];
	int fd = openat(x->t->dirfd, rel, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static const char *data_link(struct fx *x)
{
	static char buf[64];
	ssize_t n = readlinkat(x->t->dirfd, LB_DATA_LINK, buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* lockboxd restarted: the target opened again on its live tmpfs, nothing in memory. */
static void reopen(struct fx *x)
{
	lb_err e = {0};

	lb_target_free(x->t);
	x->t = lb_target_open(x->tdirfd, "demo", 1 << 20, &e);
	if (!x->t)
		print_error("reopen: %s\n", e.msg);
	assert_non_null(x->t);
	// NOLINTNEXTLINE(clang-analyzer-core.NullDereference): the assert longjmps
	x->t->uid = x->t->gid = 1000;
}

/* Generation 1, then 2 with one secret changed: the unchanged one is the same inode, the
 * new one a new file; ..data moves; the old generation is retired, then collected. */
static void test_generations_and_links(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}, {"b", "b-1", "1", 0440}};
	const struct item g2[] = {{"a", "a-2", "2", 0400}, {"b", NULL, "1", 0440}};
	struct stat b1, b2, a1, a2;

	assert_int_equal(publish(x, g1, 2), 0);
	assert_int_equal(x->t->generation, 1);
	assert_string_equal(data_link(x), LB_GEN_PREFIX "1");
	assert_string_equal(content(x, "a"), "a-1");
	a1 = stat_of(x, "a");
	b1 = stat_of(x, "b");
	assert_int_equal(a1.st_mode & 07777, 0400);
	assert_int_equal(b1.st_mode & 07777, 0440);
	assert_int_equal(a1.st_uid, 1000);
	assert_int_equal(a1.st_gid, 1000);

	assert_int_equal(publish(x, g2, 2), 0);
	assert_int_equal(x->t->generation, 2);
	assert_string_equal(data_link(x), LB_GEN_PREFIX "2");
	assert_string_equal(content(x, "a"), "a-2");
	assert_string_equal(content(x, "b"), "b-1");
	a2 = stat_of(x, "a");
	b2 = stat_of(x, "b");
	assert_int_equal(b2.st_ino, b1.st_ino);
	assert_int_not_equal(a2.st_ino, a1.st_ino);
	assert_string_equal(lb_target_held(x->t, "a")->version, "2");
	/* Readers inside generation 1 still see it until the grace period ends. */
	assert_int_equal(x->t->nretired, 1);
	assert_string_equal(content(x, LB_GEN_PREFIX "1/a"), "a-1");
	assert_true(lb_target_gc(x->t, 60000) > 0);
	assert_string_equal(content(x, LB_GEN_PREFIX "1/a"), "a-1");
	assert_int_equal(lb_target_gc(x->t, 0), 0);
	assert_int_equal(x->t->nretired, 0);
	assert_int_equal(faccessat(x->t->dirfd, LB_GEN_PREFIX "1", F_OK, AT_SYMLINK_NOFOLLOW), -1);
}

/* A secret that leaves the binding leaves the top level too. */
static void test_removed_secret_link_goes(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}, {"b", "b-1", "1", 0400}};
	const struct item g2[] = {{"a", NULL, "1", 0400}};

	assert_int_equal(publish(x, g1, 2), 0);
	assert_int_equal(publish(x, g2, 1), 0);
	assert_string_equal(content(x, "a"), "a-1");
	assert_int_equal(faccessat(x->t->dirfd, "b", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_null(lb_target_held(x->t, "b"));
}

/* unchanged() is what lets the pipeline link instead of write: same version, source, expiry,
 * mode and owner, nothing less. */
static void test_unchanged_rules(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}};

	assert_false(lb_target_unchanged(x->t, "a", "1", "local:x", 0, 0400, 1000, 1000));
	assert_int_equal(publish(x, g1, 1), 0);
	assert_true(lb_target_unchanged(x->t, "a", "1", "local:x", 0, 0400, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "2", "local:x", 0, 0400, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "1", "local:y", 0, 0400, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "1", "local:x", 5, 0400, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "1", "local:x", 0, 0440, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "1", "local:x", 0, 0400, 2000, 1000));
	assert_false(lb_target_unchanged(x->t, "b", "1", "local:x", 0, 0400, 1000, 1000));
}

/* The consumer's ids go through the target's map: uid 1000 in "0 100000 65536" is host
 * 101000, and that is who owns the files. */
static void test_owner_through_id_map(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}};
	uint32_t hu = 0, hg = 0;
	lb_err e = {0};

	assert_int_equal(lb_target_set_maps(x->t, "0 100000 65536", NULL, &e), 0);
	assert_int_equal(lb_target_host_ids(x->t, &hu, &hg, &e), 0);
	assert_int_equal(hu, 101000);
	assert_int_equal(hg, 101000);
	assert_int_equal(publish(x, g1, 1), 0);
	assert_int_equal(stat_of(x, "a").st_uid, 101000);
	/* An id outside the map is an error, never root. */
	x->t->uid = 70000;
	assert_int_not_equal(lb_target_host_ids(x->t, &hu, &hg, &e), 0);
}

/* A broker restart finds the live tmpfs: same generation, same manifest, and unchanged()
 * asks the file for its owner. */
static void test_reopen_live_tmpfs(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}};
	const struct item g2[] = {{"a", "a-2", "2", 0400}};

	assert_int_equal(publish(x, g1, 1), 0);
	assert_int_equal(publish(x, g2, 1), 0);
	reopen(x);
	assert_int_equal(x->t->generation, 2);
	assert_false(x->t->owner_known);
	/* Whose the files are, read from the tmpfs (a Docker target's next generation is then
	 * a rotation, signalled). */
	assert_true(lb_target_owned_by(x->t, 1000, 1000));
	assert_false(lb_target_owned_by(x->t, 1001, 1000));
	assert_false(lb_target_owned_by(x->t, 1000, 1001));
	assert_true(lb_target_unchanged(x->t, "a", "2", "local:x", 0, 0400, 1000, 1000));
	assert_false(lb_target_unchanged(x->t, "a", "2", "local:x", 0, 0400, 1001, 1000));
	/* Generation 1, left from before the restart, is retired so that grace still applies. */
	assert_int_equal(x->t->nretired, 1);
	assert_string_equal(content(x, "a"), "a-2");
}

/* Collecting generation 1 unlinks the second name of b, which generation 2 linked: b's ctime
 * moves past generation 2's manifest. A restart after that still finds b unchanged (the
 * collection touched the manifest): no new generation, no signal to the app. */
static void test_reopen_after_collection(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}, {"b", "b-1", "1", 0400}};
	const struct item g2[] = {{"a", "a-2", "2", 0400}, {"b", NULL, "1", 0400}};

	assert_false(lb_target_owned_by(x->t, 1000, 1000)); /* nothing published yet */
	assert_int_equal(publish(x, g1, 2), 0);
	assert_int_equal(publish(x, g2, 2), 0);
	assert_true(lb_target_owned_by(x->t, 1000, 1000));
	assert_int_equal(stat_of(x, LB_GEN_PREFIX "2/b").st_nlink, 2);
	nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL); /* a later tick */
	assert_int_equal(lb_target_gc(x->t, 0), 0);
	assert_int_equal(stat_of(x, LB_GEN_PREFIX "2/b").st_nlink, 1);
	reopen(x);
	assert_true(lb_target_unchanged(x->t, "b", "1", "local:x", 0, 0400, 1000, 1000));
	assert_true(lb_target_unchanged(x->t, "a", "2", "local:x", 0, 0400, 1000, 1000));
}

/* After a restart, a file changed after its manifest (an older version's writable mount) stays
 * visible through a collection: the manifest is touched only when no file was (review,
 * session 5). And no collection while a publisher child writes the next generation. */
static void test_collection_keeps_tamper_visible(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0400}, {"b", "b-1", "1", 0400}};
	const struct item g2[] = {{"a", "a-2", "2", 0400}, {"b", NULL, "1", 0400}};
	int fd;

	assert_int_equal(publish(x, g1, 2), 0);
	assert_int_equal(publish(x, g2, 2), 0);
	reopen(x);
	assert_int_equal(x->t->nretired, 1);
	x->t->publishing = true;
	assert_int_equal(lb_target_gc(x->t, 0), 100);
	assert_int_equal(x->t->nretired, 1);
	x->t->publishing = false;
	nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	fd = openat(x->t->dirfd, LB_GEN_PREFIX "2/a", O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "evil", 4), 4);
	close(fd);
	assert_int_equal(lb_target_gc(x->t, 0), 0);
	assert_int_equal(x->t->nretired, 0);
	reopen(x);
	assert_false(lb_target_unchanged(x->t, "a", "2", "local:x", 0, 0400, 1000, 1000));
}

/* Issue 13 defect 8: the consumer owns its files. Through the target's mount it tries what
 * it could before: chmod its 0440 file writable, rewrite it, chmod it back. The mount is
 * read-only, so nothing changes, and the next generation links the broker's bytes. */
static void test_consumer_cannot_tamper(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0440}, {"b", "b-1", "1", 0400}};
	const struct item g2[] = {{"a", NULL, "1", 0440}, {"b", "b-2", "2", 0400}};
	char path[128];
	int status = 0;
	pid_t pid;

	assert_int_equal(publish(x, g1, 2), 0);
	assert_int_equal(chmod(x->dir, 0711), 0); /* mkdtemp made it 0700: let uid 1000 in */
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/demo/a", x->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;
		if (setresgid(1000, 1000, 1000) < 0 || setresuid(1000, 1000, 1000) < 0)
			_exit(3);
		if (chmod(path, 0640) < 0)
			_exit(errno == EROFS ? 1 : 2);
		fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
		if (fd < 0 || write(fd, "evil", 4) != 4)
			_exit(2);
		close(fd);
		chmod(path, 0440);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1); /* chmod: read-only file system */
	assert_int_equal(publish(x, g2, 2), 0);
	assert_string_equal(content(x, "a"), "a-1");
	assert_int_equal(stat_of(x, "a").st_mode & 07777, 0440);
}

/* A broker restart after an older version, whose mount was writable for the consumer: a file
 * changed after its generation's manifest is not "unchanged" (it is rewritten, not linked),
 * and the live mount is read-only from now on. */
static void test_reopen_tampered_file_not_linked(void **state)
{
	struct fx *x = *state;
	const struct item g1[] = {{"a", "a-1", "1", 0440}, {"b", "b-1", "1", 0400}};
	struct statfs sfs;
	char path[128];
	int fd;

	assert_int_equal(publish(x, g1, 2), 0);
	/* What a consumer could do through the old writable mount (here through the broker's
	 * own handle, as root), a moment after the manifest. */
	nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
	fd = openat(x->t->dirfd, LB_GEN_PREFIX "1/a", O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "evil", 4), 4);
	close(fd);
	reopen(x);
	assert_false(lb_target_unchanged(x->t, "a", "1", "local:x", 0, 0440, 1000, 1000));
	assert_true(lb_target_unchanged(x->t, "b", "1", "local:x", 0, 0400, 1000, 1000));
	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/demo", x->dir);
	assert_int_equal(statfs(path, &sfs), 0);
	assert_true(sfs.f_flags & ST_RDONLY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_generations_and_links, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_removed_secret_link_goes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unchanged_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_owner_through_id_map, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_live_tmpfs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_after_collection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collection_keeps_tamper_visible, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_consumer_cannot_tamper, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_tampered_file_not_linked, setup, teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_refresh_publish: needs root for tmpfs mounts\n");
		return must_work() ? 1 : 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
