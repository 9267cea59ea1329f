/* lb_procfacts_cgroup_names, lb_procfacts_container_maps and lb_procfacts_signal: a PID is
 * taken for a container's only while its cgroup names the container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procfacts.h"

#define ID "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"

static void test_cgroup_names(void **state)
{
	(void)state;
	/* cgroup v2, systemd driver and cgroupfs driver; v1 with several hierarchies. */
	assert_true(lb_procfacts_cgroup_names("0::/system.slice/docker-" ID ".scope\n", ID));
	assert_true(lb_procfacts_cgroup_names("0::/docker/" ID "\n", ID));
	assert_true(
	    lb_procfacts_cgroup_names("12:pids:/docker/" ID "\n11:cpu:/docker/" ID "\n", ID));
	/* Another container, a host process, a longer hex run, a bad id. */
	assert_false(lb_procfacts_cgroup_names(
	    "0::/docker/5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b\n", ID));
	assert_false(
	    lb_procfacts_cgroup_names("0::/user.slice/user-0.slice/session-1.scope\n", ID));
	assert_false(lb_procfacts_cgroup_names("0::/docker/a" ID "\n", ID));
	assert_false(lb_procfacts_cgroup_names("0::/docker/" ID "0\n", ID));
	assert_false(lb_procfacts_cgroup_names("0::/\n", "abc"));
	assert_false(lb_procfacts_cgroup_names("0::/docker/" ID "\n", ID "0"));
}

/* A process outside the container's cgroup is refused, and so is a PID that is gone. */
/* A child that waits for a signal (the target of the calls below). */
static pid_t paused_child(void)
{
	pid_t child = fork();

	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	return child;
}

static void test_container_maps(void **state)
{
	char um[256], gm[256];
	lb_err e = {0};
	pid_t child;

	(void)state;
	assert_int_equal(lb_procfacts_container_maps(getpid(), ID, um, gm, sizeof(um), &e), -1);
	assert_non_null(strstr(e.msg, "not in container"));
	child = paused_child();
	kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(lb_procfacts_container_maps(child, ID, um, gm, sizeof(um), &e), -1);
}

/* Puts pid into a new cgroup named after ID (any hierarchy that lets us), so that its
 * /proc/PID/cgroup names the container; the path into dir, or false. */
static bool into_container_cgroup(pid_t pid, char *dir, size_t cap)
{
	static const char *const roots[] = {"/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified",
					    "/sys/fs/cgroup"};
	char procs[512], num[32];

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		FILE *f;
		bool ok;

		snprintf(dir, cap, "%s/lbtest-%d-" ID, roots[i], (int)getpid());
		if (mkdir(dir, 0755) < 0)
			continue;
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		snprintf(num, sizeof(num), "%d\n", (int)pid);
		f = fopen(procs, "w");
		ok = f && fputs(num, f) >= 0;
		if (f && fclose(f) != 0)
			ok = false;
		if (ok)
			return true;
		rmdir(dir);
	}
	return false;
}

/* The notify signal: only to a process whose cgroup names the container, never to a PID that
 * is gone. */
static void test_signal(void **state)
{
	char dir[512];
	lb_err e = {0};
	int status = 0;
	pid_t child;

	(void)state;
	assert_int_equal(lb_procfacts_signal(getpid(), ID, SIGUSR1, &e), -1);
	assert_non_null(strstr(e.msg, "not in container"));
	child = paused_child();
	assert_int_equal(lb_procfacts_signal(child, ID, SIGUSR1, &e), -1);
	if (geteuid() == 0 && into_container_cgroup(child, dir, sizeof(dir))) {
		assert_int_equal(lb_procfacts_signal(child, ID, SIGUSR1, &e), 0);
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
		rmdir(dir);
	} else {
		print_message("no cgroup to move a child into: the signal itself not tried\n");
		kill(child, SIGKILL);
		assert_int_equal(waitpid(child, NULL, 0), child);
	}
	assert_int_equal(lb_procfacts_signal(child, ID, SIGUSR1, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cgroup_names),
	    cmocka_unit_test(test_container_maps),
	    cmocka_unit_test(test_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
