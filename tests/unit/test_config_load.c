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

	assert_true(signal(SIGALRM, on_alarm) != SIG_ERR);
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

/* --check-config must refuse sockets the broker cannot bind (issue 13 defect 12). */
static void expect_diag(const char *docker, const char *want)
{
	char text[1024];
	lb_diag d = {0};
	lb_config *c;

	snprintf(text, sizeof(text), "{\"docker\": %s}", docker);
	c = lb_config_parse(text, "t.json", &d);
	if (!want) {
		if (!c)
			fail_msg("refused: %s", d.lines[0]);
		lb_config_free(c);
		return;
	}
	assert_null(c);
	assert_true(d.n >= 1);
	if (!strstr(d.lines[0], want))
		fail_msg("got \"%s\", want \"%s\"", d.lines[0], want);
	lb_diag_free(&d);
}

static void test_socket_paths(void **state)
{
	char long_path[200], doc[300];

	(void)state;
	/* "/aaa…a/lockbox.sock": 107 bytes, then 108. */
	memset(long_path, 'a', sizeof(long_path));
	long_path[0] = '/';
	memcpy(long_path + 107 - 13, "/lockbox.sock", 14);
	snprintf(doc, sizeof(doc), "{\"plugin_socket\": \"%s\"}", long_path);
	expect_diag(doc, NULL);
	memcpy(long_path + 108 - 13, "/lockbox.sock", 14);
	snprintf(doc, sizeof(doc), "{\"plugin_socket\": \"%s\"}", long_path);
	expect_diag(doc, "docker.plugin_socket: socket path of 108 bytes, at most 107");
	expect_diag("{\"plugin_socket\": \"/\"}", "docker.plugin_socket: must name a NAME.sock");
	expect_diag("{\"plugin_socket\": \"/run/x/\"}",
		    "docker.plugin_socket: must name a NAME.sock");
	expect_diag("{\"plugin_socket\": \"/run/x/lockbox\"}", "must name a NAME.sock");
	expect_diag("{\"plugin_socket\": \"/run/x/.sock\"}",
		    "docker.plugin_socket: needs a file name");
	expect_diag("{\"plugin_socket\": \"/run/x/a b.sock\"}", "may hold only letters");
	expect_diag("{\"plugin_socket\": \"/run/docker/plugins/lockbox-t1.sock\"}", NULL);
	snprintf(doc, sizeof(doc), "{\"socket\": \"%s\"}", long_path);
	expect_diag(doc, "docker.socket: socket path of 108 bytes");
}

static void expect_store(const char *url, const char *want)
{
	char text[600];
	lb_diag d = {0};
	lb_config *c;

	snprintf(text, sizeof(text),
		 "{\"stores\": {\"kv\": {\"type\": \"azure-kv\", \"vault_url\": \"%s\"}}}", url);
	c = lb_config_parse(text, "t.json", &d);
	if (!c && strstr(d.lines[0], "unknown store type")) {
		lb_diag_free(&d);
		return; /* azure-kv not built */
	}
	if (!want) {
		if (!c)
			fail_msg("%s refused: %s", url, d.lines[0]);
		lb_config_free(c);
		return;
	}
	assert_null(c);
	if (!strstr(d.lines[0], want))
		fail_msg("%s: got \"%s\", want \"%s\"", url, d.lines[0], want);
	lb_diag_free(&d);
}

/* An IP-address vault_url derived the token resource "https://0.0.1" (issue 13 defect 12). */
static void test_azure_vault_url(void **state)
{
	(void)state;
	expect_store("https://lockbox-test.vault.azure.net", NULL);
	expect_store("https://x.vault.azure.cn:443/", NULL);
	expect_store("https://10.0.0.1",
		     "stores.kv.vault_url: must name the vault by its DNS name");
	expect_store("https://10.0.0.1:8443/", "by its DNS name");
	expect_store("https://[::1]:8443", "by its DNS name");
	expect_store("https://localhost", "by its DNS name");
	expect_store("https://", "by its DNS name");
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(test_not_regular),
					   cmocka_unit_test(test_socket_paths),
					   cmocka_unit_test(test_azure_vault_url)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
