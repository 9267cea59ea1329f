/* lockboxctl's printers (broker/ctl_print.c) on replies as the broker sends them: targets
 * within 80 columns whatever the names (Docker rows with 64-character volume names and
 * long container names), --wide cutting nothing, durations, the status summary's Docker
 * part, and audit's legend for its marks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ctl_print.h"

static char *capture(void (*fn)(FILE *, json_t *, bool, time_t), json_t *arg, bool wide)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, arg, wide, 1000000);
	assert_int_equal(fclose(f), 0);
	return buf;
}

static void targets_fn(FILE *f, json_t *t, bool wide, time_t now)
{
	lb_ctl_print_targets(f, t, wide, now);
}

static size_t widest_line(const char *text)
{
	size_t max = 0, cur = 0;

	for (const char *p = text; *p; p++) {
		if (*p == '\n') {
			max = cur > max ? cur : max;
			cur = 0;
		} else {
			cur++;
		}
	}
	return cur > max ? cur : max;
}

static json_t *docker_targets(void)
{
	return json_loads(
	    "[{\"name\":\"demo\",\"kind\":\"static\",\"binding\":\"web\",\"uid\":1000,"
	    "\"host_uid\":101000,\"generation\":3,\"published\":999940,\"state\":\"ok\","
	    "\"secrets\":{\"db\":{\"version\":\"3\",\"mode\":\"0400\"}}},"
	    "{\"name\":\"@k1\",\"kind\":\"docker\",\"binding\":\"a_binding_with_a_long_name\","
	    "\"uid\":4294967294,\"host_uid\":4294967294,\"generation\":123456,"
	    "\"published\":1000000,\"state\":\"retrying\","
	    "\"volume\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
	    "\"container\":\"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\","
	    "\"container_name\":\"project_service_with_a_very_long_name_1\",\"secrets\":{},"
	    "\"status\":{\"db\":{\"state\":\"failed\",\"error\":\"store said no\"}}},"
	    "{\"name\":\"@k2\",\"kind\":\"docker\",\"binding\":\"web\",\"uid\":0,\"generation\":0,"
	    "\"state\":\"waiting\",\"volume\":\"v\",\"container\":null,\"container_name\":\"\"}]",
	    0, NULL);
}

static void test_targets_80(void **state)
{
	json_t *t = docker_targets();
	char *text;

	(void)state;
	assert_non_null(t);
	text = capture(targets_fn, t, false);
	if (widest_line(text) > LB_CTL_COLUMNS)
		fail_msg("over 80 columns:\n%s", text);
	assert_non_null(strstr(text, "TARGET             CONTAINER    BINDING"));
	assert_non_null(strstr(text, "\ndemo               -            web"));
	assert_non_null(strstr(text, " 1m00s ok\n"));
	assert_non_null(strstr(text, "\nproject_service_w~ fedcba987654 a_binding_w~ 4294967294"));
	assert_non_null(strstr(text, "123456     0s retrying\n"));
	assert_non_null(strstr(text, "\n(starting)         -            web"));
	assert_non_null(strstr(text, "      - waiting\n"));
	free(text);
	text = capture(targets_fn, t, true);
	assert_non_null(strstr(text,
			       "project_service_with_a_very_long_name_1 "
			       "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210 "
			       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
			       "a_binding_with_a_long_name"));
	assert_non_null(strstr(text, "retrying db failed: store said no\n"));
	assert_non_null(strstr(text, " ok       db@3\n"));
	free(text);
	json_decref(t);
}

static void test_durations(void **state)
{
	char b[32];

	(void)state;
	lb_ctl_duration(b, sizeof(b), 42);
	assert_string_equal(b, "42s");
	lb_ctl_duration(b, sizeof(b), 312);
	assert_string_equal(b, "5m12s");
	lb_ctl_duration(b, sizeof(b), 7380);
	assert_string_equal(b, "2h03m");
	lb_ctl_duration(b, sizeof(b), 3 * 86400 + 4 * 3600 + 5);
	assert_string_equal(b, "3d04h");
	lb_ctl_duration(b, sizeof(b), -5);
	assert_string_equal(b, "0s");
}

static void test_status_and_audit(void **state)
{
	json_t *st = json_loads(
	    "{\"version\":\"1.2\",\"pid\":42,\"started\":996400,\"config\":\"/etc/l.json\","
	    "\"run_dir\":\"/run/lockbox\",\"targets\":3,\"docker_targets\":2,\"containers\":1,"
	    "\"stores\":[{\"name\":\"v\",\"type\":\"vault\",\"health\":\"degraded\","
	    "\"backoff_ms\":8000,\"last_error\":\"GET x: 503\",\"leases\":2}],"
	    "\"docker\":{\"driver\":\"lockbox\",\"plugin_socket\":\"/run/docker/plugins/"
	    "lockbox.sock\","
	    "\"socket\":\"/var/run/docker.sock\",\"connected\":false,\"api_version\":\"v1.41\","
	    "\"server_version\":null},\"metrics\":{\"socket\":\"/run/lockbox/metrics.sock\","
	    "\"listen\":\"127.0.0.1:9464\"}}",
	    0, NULL);
	json_t *audit =
	    json_loads("[{\"container\":\"abcdef0123456789\",\"name\":\"web\","
		       "\"binding\":\"web\",\"satisfied\":false,\"checks\":[{\"check\":"
		       "\"non-root\",\"required\":true,\"pass\":false,\"reason\":\"runs as "
		       "root\",\"inspect\":\"User=\\\"\\\"\",\"kernel\":null}]}]",
		       0, NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(st);
	assert_non_null(audit);
	lb_ctl_print_status(f, st, 1000000);
	lb_ctl_print_audit(f, audit);
	assert_int_equal(fclose(f), 0);
	assert_non_null(strstr(buf, "lockboxd 1.2, pid 42, up 1h00m (since "));
	assert_non_null(
	    strstr(buf, "metrics:  /run/lockbox/metrics.sock, http://127.0.0.1:9464/metrics\n"));
	assert_non_null(strstr(buf, "targets:  3 (1 static, 2 docker), 1 container\n"));
	assert_non_null(
	    strstr(buf, "  v                vault      degraded, backing off 8s, leases 2\n"));
	assert_non_null(strstr(buf, "last error: GET x: 503\n"));
	assert_non_null(strstr(buf, "docker:   volume driver lockbox, plugin socket "
				    "/run/docker/plugins/lockbox.sock\n"));
	assert_non_null(
	    strstr(buf, "dockerd /var/run/docker.sock: NOT connected (retrying), API v1.41\n"));
	assert_non_null(strstr(buf, "container abcdef012345  web  binding web  REFUSED\n"));
	assert_non_null(strstr(buf, "  * non-root             FAIL runs as root\n"));
	assert_non_null(strstr(buf, "* required: "));
	assert_non_null(strstr(buf, "inspect: what dockerd's inspect says"));
	free(buf);
	json_decref(st);
	json_decref(audit);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_targets_80),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_status_and_audit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
