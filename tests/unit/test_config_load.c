/* lb_config_load and lb_config_dirs on whatever sits at the config path: a FIFO must not
 * block (issue 13 defect 1: SIGHUP hung lockboxd), nor a directory or huge file pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static void on_alarm(int sig)
{
	static const char msg[] = "test_config_load: opening a FIFO config blocked\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void expect_refused(const char *path, const char *what)
{
	lb_diag d = {0};
	char run[256], state[256];

	signal(SIGALRM, on_alarm);
	alarm(10);
	assert_null(lb_config_load(path, &d));
	assert_int_equal(lb_config_dirs(path, run, state, sizeof(run), &d), -1);
	alarm(0);
	assert_int_equal(d.n, 2);
	assert_non_null(strstr(d.lines[0], what));
	assert_string_equal(run, "/run/lockbox");
	lb_diag_free(&d);
}

static void test_not_regular(void **state)
{
	char dir[] = "/tmp/lb-cfgload-XXXXXX", p[128];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/lockbox.json", dir);
	assert_int_equal(mkfifo(p, 0644), 0);
	expect_refused(p, "not a regular file");
	unlink(p);
	assert_int_equal(mkdir(p, 0755), 0);
	expect_refused(p, "not a regular file");
	rmdir(p);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, LB_CONFIG_MAX + 1), 0);
	expect_refused(p, "at most");
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(write(fd, "{\"run_dir\": \"/run/x\"}", 21), 21);
	close(fd);
	{
		lb_diag d = {0};
		char run[256], st[256];
		assert_int_equal(lb_config_dirs(p, run, st, sizeof(run), &d), 0);
		assert_string_equal(run, "/run/x");
	}
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_regular)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
