/* Config.User against a container's /etc/passwd and /etc/group, as Docker 20.10 resolves it
 * (runc 1.1 libcontainer/user GetExecUser), and reading those files from a root that the
 * container controls (FIFO, device, symlink, directory, huge file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "userdb.h"

/* Resolves spec; returns 0 and the ids as uid*100000+gid-ish pair through out params. */
static int res(const char *spec, const char *pw, const char *gr, uint32_t *uid, uint32_t *gid)
{
	lb_err e = {0};
	int r;

	*uid = *gid = 77777;
	r = lb_userdb_resolve(spec, pw, pw ? strlen(pw) : 0, gr, gr ? strlen(gr) : 0, uid, gid, &e);
	if (r)
		printf("  (%s: %s)\n", spec, e.msg);
	return r;
}

#define EXPECT(spec, pw, gr, u, g)                                                                 \
	do {                                                                                       \
		uint32_t uid_, gid_;                                                               \
		assert_int_equal(res(spec, pw, gr, &uid_, &gid_), 0);                              \
		assert_int_equal(uid_, u);                                                         \
		assert_int_equal(gid_, g);                                                         \
	} while (0)
#define REFUSE(spec, pw, gr)                                                                       \
	do {                                                                                       \
		uint32_t uid_, gid_;                                                               \
		assert_int_equal(res(spec, pw, gr, &uid_, &gid_), -1);                             \
		assert_int_equal(uid_, 77777);                                                     \
	} while (0)

static const char *passwd = "root:x:0:0:root:/root:/bin/bash\n"
			    "daemon:x:1:1::/:/bin/false\n"
			    "app:x:1000:1001::/home/app:/bin/sh\n"
			    "app:x:2000:2000::/:/bin/sh\n";
static const char *group = "root:x:0:\n"
			   "# staff:x:99:\n"
			   "staff:x:50:app\n"
			   "users:x:100:\n";

static void test_basic(void **state)
{
	(void)state;
	EXPECT(NULL, passwd, group, 0, 0);
	EXPECT("", passwd, group, 0, 0);
	EXPECT("app", passwd, group, 1000, 1001); /* first match wins */
	EXPECT("1000", passwd, group, 1000, 1001);
	EXPECT("1234", passwd, group, 1234, 0); /* numeric without an entry */
	EXPECT("app:staff", passwd, group, 1000, 50);
	EXPECT("app:100", passwd, group, 1000, 100);
	EXPECT("app:4242", passwd, group, 1000, 4242);
	EXPECT("daemon:users:ignored", passwd, group, 1, 100); /* a third field is ignored */
	REFUSE("nobody", passwd, group);
	REFUSE("app:nogroup", passwd, group);
	REFUSE("app:# staff", passwd, group); /* '#' comments in group */
}

/* Defect 9: what runc does with odd lines, not what a C parser would guess. */
static void test_runc_quirks(void **state)
{
	(void)state;
	/* " 1000" is not a number to strconv.Atoi: uid 0 (Docker runs the app as root). */
	EXPECT("app", "app:x: 1000:1000::/:/app\n", NULL, 0, 1000);
	/* "1000:" is "1000": the primary group comes from passwd, not 0. */
	EXPECT("1000:", "app:x:1000:1000::/:/app\n", NULL, 1000, 1000);
	EXPECT("1000:", NULL, NULL, 1000, 0);
	/* No user: the first entry whose uid field reads as 0 gives the gid. */
	EXPECT("", "garbage\nroot:x:0:0::/:/bin/sh\n", NULL, 0, 0);
	EXPECT("", "toor:x:0:7::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n", NULL, 0, 7);
	/* Missing fields are zero. */
	EXPECT("app", "app\n", NULL, 0, 0);
	EXPECT("app", "app:x:1000\n", NULL, 1000, 0);
	/* Atoi: sign and leading zeros; the spec too. */
	EXPECT("app", "app:x:+1000:01001\n", NULL, 1000, 1001);
	EXPECT("+1000", "x:x:1000:5\n", NULL, 1000, 5);
	EXPECT("01000", NULL, NULL, 1000, 0);
	/* Go's TrimSpace, Unicode spaces included; passwd has no comments. */
	EXPECT("app",
	       " \t\xc2\xa0"
	       "app:x:1000:1000\xe3\x80\x80\r\n",
	       NULL, 1000, 1000);
	EXPECT("#app", "#app:x:3:3\n", NULL, 3, 3);
	EXPECT("app:g", "app:x:1:1\n", "\xe2\x80\x8ag:x:9:\n", 1, 9);
	/* Invalid UTF-8 is not space. */
	REFUSE("app",
	       "\xa0"
	       "app:x:1:1\n",
	       NULL);
	/* Out of range: Docker truncates to 32 bits; lockbox refuses. */
	REFUSE("app", "app:x:4294968296:1\n", NULL);
	REFUSE("app", "app:x:-1:1\n", NULL);
	REFUSE("app", "app:x:1:99999999999999999999\n", NULL);
	REFUSE("2147483648", NULL, NULL);
	REFUSE("app:x", "app:x:1:1\n", "x:x:-5:\n");
	/* Overflow clamps (not 0), so it does not match "no user". */
	EXPECT("", "a:x:99999999999999999999x:5\nroot:x:0:0\n", NULL, 0, 0);
	/* Names are bytes: NUL and case matter. */
	REFUSE("App", passwd, NULL);
}

/* bufio.Scanner fails a passwd file with a line of 64 KiB or more (Docker does not start
 * such a container), wherever that line is. */
static void test_long_lines(void **state)
{
	char *pw = malloc(70000);
	uint32_t uid, gid;
	lb_err e = {0};

	(void)state;
	assert_non_null(pw);
	memcpy(pw, "app:x:5:5\n", sizeof("app:x:5:5\n"));
	memset(pw + 10, 'a', 65535);
	pw[10 + 65535] = '\n';
	assert_int_equal(lb_userdb_resolve("app", pw, 10 + 65536, NULL, 0, &uid, &gid, &e), 0);
	assert_int_equal(uid, 5);
	memset(pw + 10, 'a', 65536);
	assert_int_equal(lb_userdb_resolve("app", pw, 10 + 65536, NULL, 0, &uid, &gid, &e), -1);
	free(pw);
}

/* bufio.Reader.ReadLine loses a last unterminated group line that fills its 4 KiB chunks. */
static void test_group_lost_line(void **state)
{
	char *gr = malloc(8192);
	uint32_t uid, gid;
	lb_err e = {0};
	size_t n;

	(void)state;
	assert_non_null(gr);
	n = (size_t)snprintf(gr, 8192, "g:x:9:");
	memset(gr + n, 'u', 4096 - n);
	assert_int_equal(lb_userdb_resolve("1:g", NULL, 0, gr, 4096, &uid, &gid, &e), -1);
	assert_int_equal(lb_userdb_resolve("1:g", NULL, 0, gr, 4095, &uid, &gid, &e), 0);
	assert_int_equal(gid, 9);
	gr[4096] = '\n';
	assert_int_equal(lb_userdb_resolve("1:g", NULL, 0, gr, 4097, &uid, &gid, &e), 0);
	free(gr);
}

static void test_uid_hint(void **state)
{
	(void)state;
	assert_int_equal(lb_userdb_uid_hint(NULL), 0);
	assert_int_equal(lb_userdb_uid_hint(""), 0);
	assert_int_equal(lb_userdb_uid_hint(":staff"), 0);
	assert_int_equal(lb_userdb_uid_hint("1000:"), 1000);
	assert_int_equal(lb_userdb_uid_hint("+7"), 7);
	assert_int_equal(lb_userdb_uid_hint("app"), -1);
	assert_int_equal(lb_userdb_uid_hint("-1"), -1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "test_userdb: reading a FIFO blocked (defect 1)\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

/* Defect 1: the container controls every file under its root. */
static void test_read_in_root(void **state)
{
	char dir[] = "/tmp/lb-userdb-XXXXXX", p[128];
	int rootfd, fd;
	char *text;
	size_t len;
	lb_err e = {0};

	(void)state;
	assert_non_null(mkdtemp(dir));
	rootfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), 1);
	snprintf(p, sizeof(p), "%s/etc", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), 1);

	/* A FIFO: refused at once, never opened. */
	snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_true(signal(SIGALRM, on_alarm) != SIG_ERR);
	alarm(10);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), -1);
	alarm(0);
	assert_non_null(strstr(e.msg, "not a regular file"));
	unlink(p);

	/* A device node (root only): refused without being opened. */
	if (mknod(p, S_IFCHR | 0644, makedev(1, 3)) == 0) {
		assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), -1);
		unlink(p);
	}

	/* A directory. */
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), -1);
	rmdir(p);

	/* An absolute symlink resolves inside the root (as Docker's FollowSymlinkInScope),
	 * never to the host's /etc/passwd. */
	assert_int_equal(symlink("/etc/real", p), 0);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), 1);
	snprintf(p, sizeof(p), "%s/etc/real", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "app:x:7:7\n", 10), 10);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), 0);
	assert_int_equal(len, 10);
	assert_string_equal(text, "app:x:7:7\n");
	free(text);
	/* Too large: refused before reading. */
	assert_int_equal(ftruncate(fd, LB_USERDB_FILE_MAX + 1), 0);
	assert_int_equal(lb_userdb_read_in_root(rootfd, "etc/passwd", &text, &len, &e), -1);
	assert_non_null(strstr(e.msg, "larger"));
	close(fd);
	unlink(p);
	snprintf(p, sizeof(p), "%s/etc/passwd", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/etc", dir);
	rmdir(p);
	rmdir(dir);
	close(rootfd);
}

/* The whole path on this process's own root (/proc/self/root is the host's /). */
static void test_consumer_ids_self(void **state)
{
	uint32_t uid = 9, gid = 9;
	lb_err e = {0};

	(void)state;
	assert_int_equal(lb_userdb_consumer_ids(getpid(), "4321:4322", &uid, &gid, &e), 0);
	assert_int_equal(uid, 4321);
	assert_int_equal(gid, 4322);
	assert_int_equal(lb_userdb_consumer_ids(getpid(), "root", &uid, &gid, &e), 0);
	assert_int_equal(uid, 0);
}

/* dockerd's remap user: the subuid line whose start is the UID in /info's DockerRootDir. */
static void test_remap_user(void **state)
{
	static const char sub[] = "root:100000:65536\n\ndockremap:165536:65536\nx::1\n";
	char u[16];

	(void)state;
	assert_true(
	    lb_userdb_remap_user("/var/lib/docker/165536.165536", sub, strlen(sub), u, sizeof(u)));
	assert_string_equal(u, "dockremap");
	assert_true(lb_userdb_remap_user("/d/100000.100000", sub, strlen(sub), u, sizeof(u)));
	assert_string_equal(u, "root");
	/* No UID before the dot (the empty start of "x::1" must not match), none at all, a
	 * range nobody has, a name too long for the buffer, a line cut short. */
	assert_false(lb_userdb_remap_user("/x/.y", sub, strlen(sub), u, sizeof(u)));
	assert_false(lb_userdb_remap_user("/var/lib/docker", sub, strlen(sub), u, sizeof(u)));
	assert_false(lb_userdb_remap_user("/d/5.5", sub, strlen(sub), u, sizeof(u)));
	assert_false(lb_userdb_remap_user("/d/165536.165536", sub, strlen(sub), u, 5));
	assert_false(lb_userdb_remap_user("/d/1.1", "a:1", 3, u, sizeof(u)));
	assert_false(lb_userdb_remap_user(NULL, sub, strlen(sub), u, sizeof(u)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),	 cmocka_unit_test(test_runc_quirks),
	    cmocka_unit_test(test_long_lines),	 cmocka_unit_test(test_group_lost_line),
	    cmocka_unit_test(test_uid_hint),	 cmocka_unit_test(test_remap_user),
	    cmocka_unit_test(test_read_in_root), cmocka_unit_test(test_consumer_ids_self),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
