/* Source URIs, id maps, durations, sizes, modes, signals and listen addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "idmap.h"
#include "layout.h"
#include "units.h"
#include "uri.h"

static void test_uri_ok(void **state)
{
	lb_source s;
	lb_err e = {0};
	char key[700];

	(void)state;
	assert_int_equal(lb_source_parse("vault:secret/web#password", &s, &e), 0);
	assert_string_equal(s.store, "vault");
	assert_string_equal(s.path, "secret/web");
	assert_string_equal(s.field, "password");
	assert_string_equal(s.version, "");
	assert_int_equal(lb_source_parse("local:web/api_key?version=12", &s, &e), 0);
	assert_string_equal(s.path, "web/api_key");
	assert_string_equal(s.field, "");
	assert_string_equal(s.version, "12");
	assert_int_equal(lb_source_parse("aws-sm:prod/db#user?version=abc-1", &s, &e), 0);
	assert_string_equal(s.store, "aws-sm");
	assert_string_equal(s.field, "user");
	assert_string_equal(s.version, "abc-1");
	lb_source_key(&s, key, sizeof(key));
	assert_string_equal(key, "aws-sm:prod/db?version=abc-1");
}

static void test_uri_bad(void **state)
{
	static const struct {
		const char *uri, *msg;
	} cases[] = {
	    {"", "source \"\": expected STORE:PATH[#FIELD][?version=N]"},
	    {":x", "source \":x\": expected STORE:PATH[#FIELD][?version=N]"},
	    {"lo cal:x", "source \"lo cal:x\": bad store name"},
	    {"local:", "source \"local:\": empty path"},
	    {"local:/abs", "source \"local:/abs\": path must not start or end with '/'"},
	    {"local:a//b", "source \"local:a//b\": empty path component"},
	    {"local:a b", "source \"local:a b\": bad character in path"},
	    {"local:a#", "source \"local:a#\": empty #field"},
	    {"local:a?v=1", "source \"local:a?v=1\": only ?version=N is supported"},
	    {"local:a?version=", "source \"local:a?version=\": empty version"},
	    {"local:a?version=1;rm", "source \"local:a?version=1;rm\": bad version"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lb_source s;
		lb_err e = {0};
		assert_int_equal(lb_source_parse(cases[i].uri, &s, &e), -1);
		assert_string_equal(e.msg, cases[i].msg);
	}
}

static void test_idmap_translate(void **state)
{
	lb_idmap m;
	lb_err e = {0};
	uint32_t h;

	(void)state;
	assert_int_equal(lb_idmap_parse("0 100000 1000\n1000 5000 1\n1001 101001 64535\n", &m, &e),
			 0);
	assert_int_equal(m.n, 3);
	assert_int_equal(lb_idmap_to_host(&m, 0, &h, &e), 0);
	assert_int_equal(h, 100000);
	assert_int_equal(lb_idmap_to_host(&m, 999, &h, &e), 0);
	assert_int_equal(h, 100999);
	assert_int_equal(lb_idmap_to_host(&m, 1000, &h, &e), 0);
	assert_int_equal(h, 5000);
	assert_int_equal(lb_idmap_to_host(&m, 1001, &h, &e), 0);
	assert_int_equal(h, 101001);
	assert_int_equal(lb_idmap_to_host(&m, 65535, &h, &e), 0);
	assert_int_equal(h, 165535);
	assert_int_equal(lb_idmap_to_host(&m, 65536, &h, &e), -1);
	assert_string_equal(e.msg, "id 65536 is not mapped by the user namespace");
	/* The initial namespace's map. */
	assert_int_equal(lb_idmap_parse("         0          0 4294967295\n", &m, &e), 0);
	assert_int_equal(lb_idmap_to_host(&m, 1234, &h, &e), 0);
	assert_int_equal(h, 1234);
	/* No map: identity. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(lb_idmap_to_host(&m, 77, &h, &e), 0);
	assert_int_equal(h, 77);
}

static void test_idmap_bad(void **state)
{
	lb_idmap m;
	lb_err e = {0};

	(void)state;
	assert_int_equal(lb_idmap_parse("", &m, &e), -1);
	assert_string_equal(e.msg, "id map is empty");
	assert_int_equal(lb_idmap_parse("0 1 0", &m, &e), -1);
	assert_string_equal(e.msg, "id map line \"0 1 0\": count must be > 0");
	assert_int_equal(lb_idmap_parse("0 4294967295 2", &m, &e), -1);
	assert_string_equal(e.msg, "id map line \"0 4294967295 2\": range overflows 32 bits");
	assert_int_equal(lb_idmap_parse("0 100 10 x", &m, &e), -1);
	assert_string_equal(e.msg, "id map: trailing text after \"0 100 10\"");
	assert_int_equal(lb_idmap_parse("0 100 10\n20 105 10", &m, &e), -1);
	assert_string_equal(e.msg, "id map line \"20 105 10\" overlaps another line");
	assert_int_equal(lb_idmap_spec_check("subuid:bad user", &e), -1);
	assert_int_equal(lb_idmap_spec_check("pid:0", &e), -1);
	assert_int_equal(lb_idmap_spec_check("pid:12x", &e), -1);
	assert_int_equal(lb_idmap_spec_check("pid:1", &e), 0);
	assert_int_equal(lb_idmap_spec_check("subuid:dockremap", &e), 0);
}

static void test_subid(void **state)
{
	lb_idmap m;
	lb_err e = {0};
	uint32_t h;
	const char *file =
	    "other:1:5\ndockremap:100000:1000\n4242:300000:10\ndockremap:200000:65536\n";

	(void)state;
	assert_int_equal(lb_idmap_from_subid(file, "dockremap", NULL, &m, &e), 0);
	assert_int_equal(m.n, 2);
	/* Ranges are consecutive inside: 0..999 then 1000.. */
	assert_int_equal(lb_idmap_to_host(&m, 999, &h, &e), 0);
	assert_int_equal(h, 100999);
	assert_int_equal(lb_idmap_to_host(&m, 1000, &h, &e), 0);
	assert_int_equal(h, 200000);
	assert_int_equal(lb_idmap_from_subid(file, "someone", "4242", &m, &e), 0);
	assert_int_equal(m.r[0].outside, 300000);
	assert_int_equal(lb_idmap_from_subid(file, "nobody", NULL, &m, &e), -1);
	assert_string_equal(e.msg, "no subordinate id range for user nobody");
}

static void test_durations(void **state)
{
	uint64_t ms = 0;

	(void)state;
	assert_int_equal(lb_parse_duration("30s", &ms), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(lb_parse_duration("5m", &ms), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(lb_parse_duration("1h30m", &ms), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(lb_parse_duration("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(lb_parse_duration("2d", &ms), 0);
	assert_int_equal(ms, 172800000);
	assert_int_equal(lb_parse_duration("", &ms), -1);
	assert_int_equal(lb_parse_duration("5", &ms), -1);
	assert_int_equal(lb_parse_duration("0s", &ms), -1);
	assert_int_equal(lb_parse_duration("m", &ms), -1);
	assert_int_equal(lb_parse_duration("-1s", &ms), -1);
	assert_int_equal(lb_parse_duration("99999999999999999999s", &ms), -1);
}

static void test_sizes_modes_signals(void **state)
{
	uint64_t b = 0;
	unsigned mode = 0;
	int sig = 0;

	(void)state;
	assert_int_equal(lb_parse_size("1m", &b), 0);
	assert_int_equal(b, 1048576);
	assert_int_equal(lb_parse_size("64K", &b), 0);
	assert_int_equal(b, 65536);
	assert_int_equal(lb_parse_size("4096", &b), 0);
	assert_int_equal(b, 4096);
	assert_int_equal(lb_parse_size("1mb", &b), -1);
	assert_int_equal(lb_parse_size("0", &b), -1);
	assert_int_equal(lb_parse_size("-1m", &b), -1);
	/* Found by fuzz_units: strtoull saturates instead of failing. */
	assert_int_equal(lb_parse_size("99999999999999999999", &b), -1);
	assert_int_equal(lb_parse_size("18446744073709551616", &b), -1);
	assert_int_equal(lb_parse_mode("0440", &mode), 0);
	assert_int_equal(mode, 0440);
	assert_int_equal(lb_parse_mode("400", &mode), 0);
	assert_int_equal(mode, 0400);
	assert_int_equal(lb_parse_mode("0460", &mode), -1);
	assert_int_equal(lb_parse_mode("0402", &mode), -1);
	assert_int_equal(lb_parse_mode("4400", &mode), -1);
	assert_int_equal(lb_parse_mode("0800", &mode), -1);
	assert_int_equal(lb_parse_mode("04400", &mode), -1);
	assert_int_equal(lb_parse_signal("SIGHUP", &sig), 0);
	assert_int_equal(sig, SIGHUP);
	assert_int_equal(lb_parse_signal("usr1", &sig), 0);
	assert_int_equal(sig, SIGUSR1);
	assert_int_equal(lb_parse_signal("15", &sig), 0);
	assert_int_equal(sig, SIGTERM);
	assert_int_equal(lb_parse_signal("SIGKILL", &sig), -1);
	assert_int_equal(lb_parse_signal("9", &sig), -1);
	assert_string_equal(lb_signal_name(SIGUSR2), "SIGUSR2");
}

static void test_listen(void **state)
{
	struct sockaddr_storage sa;
	socklen_t len = 0;
	static const char *const bad[] = {"",
					  "9464",
					  ":9464",
					  "127.0.0.1",
					  "127.0.0.1:",
					  "127.0.0.1:0",
					  "127.0.0.1:65536",
					  "127.0.0.1:x",
					  "localhost:9464",
					  "::1:9464",
					  "[::1]9464",
					  "[::1:9464",
					  "[]:9464",
					  "1.2.3.4:123456",
					  NULL};

	(void)state;
	assert_int_equal(lb_parse_listen("127.0.0.1:9464", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&sa)->sin_port), 9464);
	assert_int_equal(lb_parse_listen("[::1]:65535", &sa, &len), 0);
	assert_int_equal(sa.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&sa)->sin6_port), 65535);
	for (size_t i = 0; bad[i]; i++)
		if (lb_parse_listen(bad[i], &sa, &len) == 0)
			fail_msg("\"%s\" accepted", bad[i]);
}

static void test_secret_names(void **state)
{
	(void)state;
	assert_true(lb_secret_name_valid("db_password"));
	assert_true(lb_secret_name_valid("tls.crt"));
	assert_true(lb_secret_name_valid("_x-1"));
	assert_false(lb_secret_name_valid(""));
	assert_false(lb_secret_name_valid(".hidden"));
	assert_false(lb_secret_name_valid("-x"));
	assert_false(lb_secret_name_valid("a..b"));
	assert_false(lb_secret_name_valid("a/b"));
	assert_false(lb_secret_name_valid("a b"));
	char long_name[140];
	memset(long_name, 'a', sizeof(long_name));
	long_name[128] = '\0';
	assert_true(lb_secret_name_valid(long_name));
	long_name[128] = 'a';
	long_name[129] = '\0';
	assert_false(lb_secret_name_valid(long_name));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_uri_ok),
	    cmocka_unit_test(test_uri_bad),
	    cmocka_unit_test(test_idmap_translate),
	    cmocka_unit_test(test_idmap_bad),
	    cmocka_unit_test(test_subid),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_sizes_modes_signals),
	    cmocka_unit_test(test_secret_names),
	    cmocka_unit_test(test_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
