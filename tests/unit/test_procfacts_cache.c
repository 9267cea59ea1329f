/* lb_procfacts_read_cached: what a posture re-check of an unchanged container reads. The
 * decision alone, then real processes: a child that waits (cached on the second read), the
 * same child in a new mount namespace (parsed), a dead child (an error, nothing kept), and
 * lockboxd's own mount table after a mount (seen). The namespace steps need root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/mount.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procfacts.h"

static void test_fresh(void **state)
{
	lb_procfacts_cache c;
	lb_procfacts_key now = {.pid = 42, .start = 1000, .lsm_available = true};

	(void)state;
	for (int i = 0; i < LB_NS_COUNT; i++)
		now.ns[i] = 4026531835 + (uint64_t)i;
	snprintf(now.lsm_label, sizeof(now.lsm_label), "docker-default (enforce)");
	lb_procfacts_cache_init(&c);
	assert_false(lb_procfacts_cache_fresh(&c, &now)); /* nothing kept yet */
	c.valid = true;
	c.key = now;
	assert_true(lb_procfacts_cache_fresh(&c, &now));
	now.start = 1001; /* the PID was reused */
	assert_false(lb_procfacts_cache_fresh(&c, &now));
	now.start = 1000;
	now.pid = 43;
	assert_false(lb_procfacts_cache_fresh(&c, &now));
	now.pid = 42;
	/* Any namespace: a new one of any kind (unshare, setns) is a new key. */
	for (int i = 0; i < LB_NS_COUNT; i++) {
		now.ns[i]++;
		assert_false(lb_procfacts_cache_fresh(&c, &now));
		now.ns[i]--;
		assert_true(lb_procfacts_cache_fresh(&c, &now));
	}
	/* The LSM label: changed in place (change_profile, complain mode), or gone. */
	snprintf(now.lsm_label, sizeof(now.lsm_label), "docker-default (complain)");
	assert_false(lb_procfacts_cache_fresh(&c, &now));
	snprintf(now.lsm_label, sizeof(now.lsm_label), "docker-default (enforce)");
	now.lsm_available = false;
	assert_false(lb_procfacts_cache_fresh(&c, &now));
	now.lsm_available = true;
	now.ns[LB_NS_USER] = 0; /* unknown never matches */
	c.key.ns[LB_NS_USER] = 0;
	assert_false(lb_procfacts_cache_fresh(&c, &now));
}

/* Status is kept only when nothing in it can change: no new privileges, no capability left
 * to use, one uid and one gid. */
static void test_status_frozen(void **state)
{
	lb_kernel_facts k;

	(void)state;
	lb_kernel_facts_init(&k);
	assert_false(lb_procfacts_status_frozen(&k)); /* no status yet */
	k.have_status = true;
	k.no_new_privs = 1;
	for (int i = 0; i < 4; i++) {
		k.uid[i] = 101000;
		k.gid[i] = 101000;
	}
	k.cap_bnd = 0xa80425fb; /* the bounding set only shrinks */
	assert_true(lb_procfacts_status_frozen(&k));
	k.no_new_privs = 0; /* execve of a setuid file could make it root */
	assert_false(lb_procfacts_status_frozen(&k));
	k.no_new_privs = 1;
	k.cap_prm = 1ULL << 7; /* CAP_SETUID: setuid(0) */
	assert_false(lb_procfacts_status_frozen(&k));
	k.cap_prm = 0;
	k.cap_amb = 1;
	assert_false(lb_procfacts_status_frozen(&k));
	k.cap_amb = 0;
	k.uid[2] = 100000; /* a saved uid it can switch back to */
	assert_false(lb_procfacts_status_frozen(&k));
	k.uid[2] = 101000;
	k.gid[3] = 100000;
	assert_false(lb_procfacts_status_frozen(&k));
	k.gid[3] = 101000;
	assert_true(lb_procfacts_status_frozen(&k));
}

static void test_parse_start(void **state)
{
	static const char tail[] = " S 1 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 "
				   "4096 100 18446744073709551615\n";
	char text[512];
	uint64_t start = 0;
	lb_err e = {0};

	(void)state;
	snprintf(text, sizeof(text), "1234 (sleep)%s", tail);
	assert_int_equal(lb_procfacts_parse_start(text, &start, &e), 0);
	assert_int_equal(start, 987654);
	/* The command name is the process's: ')' and spaces in it do not shift the fields. */
	snprintf(text, sizeof(text), "1234 (a) 9 9 9 (b)%s", tail);
	assert_int_equal(lb_procfacts_parse_start(text, &start, &e), 0);
	assert_int_equal(start, 987654);
	assert_int_equal(lb_procfacts_parse_start("1234 (x) S 1 2 3\n", &start, &e), -1);
	assert_int_equal(lb_procfacts_parse_start("1234 sleep S 1\n", &start, &e), -1);
	assert_int_equal(lb_procfacts_parse_start(
			     "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 zz 1\n", &start, &e),
			 -1);
}

/* A child that does what the parent writes: 'u' unshare its mount namespace, 'd' drop to
 * nobody with no capabilities and no new privileges, 'n' unshare a user namespace, 'q' exit. */
static int write_self(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	int r = f && fputs(text, f) >= 0 ? 0 : -1;

	if (f && fclose(f) != 0)
		r = -1;
	return r;
}

/* A user namespace of its own, mapping root in it to its own ids, as anyone may. */
static int new_user_ns(void)
{
	char um[64], gm[64];

	snprintf(um, sizeof(um), "0 %u 1\n", (unsigned)geteuid());
	snprintf(gm, sizeof(gm), "0 %u 1\n", (unsigned)getegid());
	if (unshare(CLONE_NEWUSER) || write_self("/proc/self/setgroups", "deny") ||
	    write_self("/proc/self/uid_map", um) || write_self("/proc/self/gid_map", gm))
		return -1;
	return 0;
}

static pid_t child_start(int *cmd, int *ack)
{
	int to[2], from[2];
	pid_t pid;

	assert_int_equal(pipe(to), 0);
	assert_int_equal(pipe(from), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c;
		close(to[1]);
		close(from[0]);
		while (read(to[0], &c, 1) == 1) {
			char r = 'k';
			if (c == 'u' && (unshare(CLONE_NEWNS) ||
					 mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)))
				r = 'e';
			if (c == 'd' &&
			    (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || setgroups(0, NULL) ||
			     setgid(65534) || setuid(65534) || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)))
				r = 'e';
			if (c == 'n' && new_user_ns())
				r = 'e';
			if (c == 'b' && prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0))
				r = 'e';
			if (write(from[1], &r, 1) != 1 || c == 'q')
				break;
		}
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	*cmd = to[1];
	*ack = from[0];
	return pid;
}

static char child_do(int cmd, int ack, char what)
{
	char r = 0;

	assert_int_equal(write(cmd, &what, 1), 1);
	assert_int_equal(read(ack, &r, 1), 1);
	return r;
}

static void child_end(pid_t pid, int cmd, int ack)
{
	child_do(cmd, ack, 'q');
	waitpid(pid, NULL, 0);
	close(cmd);
	close(ack);
}

static void test_cached_read(void **state)
{
	uint64_t version;
	lb_procfacts_cache c;
	lb_procfacts_host h;
	lb_kernel_facts view;
	bool parsed = false;
	lb_err e = {0};
	int cmd, ack;
	pid_t pid = child_start(&cmd, &ack);

	(void)state;
	/* As a container without CAP_SYS_ADMIN in its bounding set (Docker's default): its
	 * mounts cannot change in place, so its facts are kept. */
	if (child_do(cmd, ack, 'b') != 'k') {
		child_do(cmd, ack, 'q');
		waitpid(pid, NULL, 0);
		skip();
		return;
	}
	lb_procfacts_cache_init(&c);
	lb_procfacts_host_init(&h);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(parsed);
	assert_true(view.have_status && view.have_maps && view.mounts.n > 0);
	assert_true(view.host_mounts.n > 0 && view.host_ns[LB_NS_MNT] != 0);
	assert_int_not_equal(c.version, 0);
	/* Unchanged: nothing parsed again, the same facts. */
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_false(parsed);
	version = c.version;
	assert_int_equal(view.pid, pid);
	assert_true(view.have_status && view.mounts.n > 0 && view.host_mounts.n > 0);
	if (geteuid() == 0 && child_do(cmd, ack, 'u') == 'k') {
		/* A new mount namespace: parsed again, then kept again. */
		assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
		assert_true(parsed);
		assert_int_not_equal(c.version, version);
		assert_int_not_equal(view.ns[LB_NS_MNT], view.host_ns[LB_NS_MNT]);
		assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
		assert_false(parsed);
	} else {
		print_message("not root or no unshare: mount namespace step skipped\n");
	}
	/* Gone: an error, nothing kept (a reused PID starts from scratch). */
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), -1);
	assert_false(c.valid);
	close(cmd);
	close(ack);
	pid = child_start(&cmd, &ack);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(parsed);
	/* CAP_SYS_ADMIN in its bounding set (--privileged, --cap-add SYS_ADMIN): it could
	 * remount / read-write in place, so every check reads afresh (the review's case). */
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(parsed);
	child_end(pid, cmd, ack);
	lb_procfacts_cache_clear(&c);
	lb_procfacts_host_clear(&h);
}

/* The review's case: a process whose status was frozen (nobody, no capabilities, no new
 * privileges) that unshares a user namespace (no privilege needed when seccomp allows it)
 * has every capability in it. A kept verdict keyed on PID, start time and mount namespace
 * alone would still say "no capabilities". The new user namespace must be a new key. */
static void test_new_user_ns(void **state)
{
	lb_procfacts_cache c;
	lb_procfacts_host h;
	lb_kernel_facts view;
	bool parsed = false, dropped;
	uint64_t userns;
	lb_err e = {0};
	int cmd, ack;
	pid_t pid = child_start(&cmd, &ack);

	(void)state;
	lb_procfacts_cache_init(&c);
	lb_procfacts_host_init(&h);
	dropped =
	    geteuid() == 0 && child_do(cmd, ack, 'b') == 'k' && child_do(cmd, ack, 'd') == 'k';
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(parsed);
	if (dropped)
		assert_true(lb_procfacts_status_frozen(&c.k) && view.cap_eff == 0);
	userns = view.ns[LB_NS_USER];
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_false(parsed);
	if (child_do(cmd, ack, 'n') == 'k') {
		assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
		assert_true(parsed);
		assert_int_not_equal(view.ns[LB_NS_USER], userns);
		if (dropped) /* every capability in the new namespace, as its status says */
			assert_int_not_equal(view.cap_eff, 0);
		/* Its bounding set is full again there (CAP_SYS_ADMIN among it): read afresh at
		 * every check from now on. */
		assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
		assert_true(parsed);
	} else {
		print_message("unshare(CLONE_NEWUSER) refused here: user namespace step skipped\n");
	}
	child_end(pid, cmd, ack);
	lb_procfacts_cache_clear(&c);
	lb_procfacts_host_clear(&h);
}

static bool has_mountpoint(const lb_mounts *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].mountpoint, path) == 0)
			return true;
	return false;
}

/* Every entry of the view is on a device one of the container's mounts is on. */
static void assert_view_shares_devices(const lb_kernel_facts *k)
{
	for (size_t i = 0; i < k->host_mounts.n; i++) {
		bool shared = false;
		for (size_t j = 0; j < k->mounts.n; j++)
			shared |= k->mounts.v[j].major == k->host_mounts.v[i].major &&
				  k->mounts.v[j].minor == k->host_mounts.v[i].minor;
		assert_true(shared);
	}
}

/* lockboxd's own table is read again once it changed (and only then); the view a check gets
 * holds the host mounts on the container's devices. Last: it moves this process into a
 * mount namespace of its own. */
static void test_host_changes(void **state)
{
	uint64_t version;
	char dir[] = "/tmp/lb-pfc.XXXXXX", src[] = "/tmp/lb-pfs.XXXXXX";
	lb_procfacts_cache c;
	lb_procfacts_host h;
	lb_kernel_facts view;
	uint64_t gen;
	bool parsed, stable = false;
	lb_err e = {0};
	int cmd, ack;
	pid_t pid;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		skip();
		return;
	}
	/* A /tmp of this namespace's own: the directories below vanish with it when the test
	 * fails or is killed (they were left in the host's /tmp). The child has it too. */
	assert_int_equal(
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0700"), 0);
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(src));
	pid = child_start(&cmd, &ack);
	assert_int_equal(child_do(cmd, ack, 'b'), 'k'); /* kept facts: no CAP_SYS_ADMIN */
	lb_procfacts_cache_init(&c);
	lb_procfacts_host_init(&h);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_false(has_mountpoint(&h.mounts, dir));
	assert_view_shares_devices(&view);
	/* Unchanged: not read again. Something outside changes this namespace's table while
	 * other tests run: a directory that is a mount point here, removed in the host's
	 * namespace (dockerd's overlay and netns mounts when its containers stop), detaches
	 * the copy here too (the kernel's __detach_mounts) and moves the table's event count.
	 * CI's asan run at load 14 saw three changes in a row: up to 2 s for a quiet moment. */
	for (int i = 0; i < 100 && !stable; i++) {
		if (i)
			(void)nanosleep(&(struct timespec){.tv_nsec = 20000000}, NULL);
		gen = h.gen;
		version = c.version;
		assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
		stable = h.gen == gen;
	}
	assert_true(stable);
	/* The same facts: the same version (a verdict judged from them still holds). */
	assert_int_equal(c.version, version);
	/* A tmpfs of its own device: in lockboxd's table, not in the view. */
	version = c.version;
	assert_int_equal(mount("tmpfs", dir, "tmpfs", 0, "size=64k"), 0);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(h.gen > gen);
	assert_int_not_equal(c.version, version); /* the view was made again */
	assert_true(has_mountpoint(&h.mounts, dir));
	assert_false(has_mountpoint(&view.host_mounts, dir));
	assert_view_shares_devices(&view);
	assert_int_equal(umount(dir), 0);
	/* A bind of a directory of /tmp's filesystem, which the child has too: in the view. */
	assert_int_equal(mount(src, dir, NULL, MS_BIND, NULL), 0);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_true(has_mountpoint(&view.host_mounts, dir));
	assert_view_shares_devices(&view);
	assert_int_equal(umount(dir), 0);
	assert_int_equal(lb_procfacts_read_cached(&c, &h, pid, &view, &parsed, &e), 0);
	assert_false(has_mountpoint(&h.mounts, dir));
	assert_false(has_mountpoint(&view.host_mounts, dir));
	child_do(cmd, ack, 'q');
	waitpid(pid, NULL, 0);
	close(cmd);
	close(ack);
	rmdir(dir);
	rmdir(src);
	lb_procfacts_cache_clear(&c);
	lb_procfacts_host_clear(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fresh),	cmocka_unit_test(test_status_frozen),
	    cmocka_unit_test(test_parse_start), cmocka_unit_test(test_cached_read),
	    cmocka_unit_test(test_new_user_ns), cmocka_unit_test(test_host_changes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
