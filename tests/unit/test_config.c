/* Config parsing: a table of bad files and the exact message each must produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "config.h"
#include "posture.h"

static const char good[] =
    "{\n"
    "  \"run_dir\": \"/run/lockbox\",\n"
    "  \"state_dir\": \"/var/lib/lockbox\",\n"
    "  \"stores\": { \"local\": { \"type\": \"sealed\" } },\n"
    "  \"bindings\": {\n"
    "    \"web\": {\n"
    "      \"secrets\": {\n"
    "        \"db_password\": \"local:web/db\",\n"
    "        \"api_key\": { \"from\": \"local:web/api#key?version=3\", \"mode\": \"0440\" }\n"
    "      },\n"
    "      \"match\": { \"images\": [\"registry.example/web:*\"], \"labels\": { \"app\": \"web\" } "
    "},\n"
    "      \"require\": [\"non-root\", \"seccomp\"],\n"
    "      \"notify\": \"SIGHUP\", \"refresh\": \"5m\", \"size\": \"1m\", \"grace\": \"30s\"\n"
    "    }\n"
    "  },\n"
    "  \"targets\": { \"demo\": { \"binding\": \"web\", \"uid\": 1000, \"gid\": 1000,\n"
    "                 \"uid_map\": \"0 100000 65536\" } }\n"
    "}\n";

static void test_good_config(void **state)
{
	lb_diag d = {0};
	lb_config *c = lb_config_parse(good, "good.json", &d);
	const lb_binding *b;

	(void)state;
	assert_non_null(c);
	assert_int_equal(d.n, 0);
	b = lb_config_binding(c, "web");
	assert_non_null(b);
	assert_int_equal(b->nsecrets, 2);
	assert_string_equal(b->secrets[1].name, "api_key");
	assert_int_equal(b->secrets[1].mode, 0440);
	assert_string_equal(b->secrets[1].src.store, "local");
	assert_string_equal(b->secrets[1].src.path, "web/api");
	assert_string_equal(b->secrets[1].src.field, "key");
	assert_string_equal(b->secrets[1].src.version, "3");
	assert_int_equal(b->secrets[0].mode, 0400);
	assert_int_equal(b->refresh_ms, 300000);
	assert_int_equal(b->grace_ms, 30000);
	assert_int_equal(b->size, 1048576);
	assert_int_equal(b->notify_sig, 1);
	assert_int_equal(b->require,
			 LB_CHECK_BIT(LB_CHECK_NON_ROOT) | LB_CHECK_BIT(LB_CHECK_SECCOMP));
	assert_string_equal(c->targets[0].uid_map, "0 100000 65536");
	assert_int_equal(c->targets[0].uid, 1000);
	assert_ptr_equal(c->targets[0].binding, b);
	lb_config_free(c);
}

static void test_defaults(void **state)
{
	lb_diag d = {0};
	lb_config *c = lb_config_parse("{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"}}}}",
				       "min.json", &d);

	(void)state;
	assert_non_null(c);
	assert_string_equal(c->run_dir, "/run/lockbox");
	assert_string_equal(c->state_dir, "/var/lib/lockbox");
	assert_null(c->docker_socket);
	assert_int_equal(c->nstores, 1); /* the embedded sealed store */
	assert_string_equal(c->stores[0].name, "local");
	assert_int_equal(c->bindings[0].require, LB_CHECKS_DEFAULT);
	assert_int_equal(c->bindings[0].grace_ms, 60000);
	lb_config_free(c);
}

struct bad_case {
	const char *text;
	const char *first_error;
};

static const struct bad_case bad[] = {
    {"{\"run_dir\": 5}", "t.json:1:2: run_dir: expected string, got integer"},
    {"{\n  \"rundir\": \"/x\"}",
     "t.json:2:3: rundir: unknown key (expected one of: run_dir, state_dir, docker, stores, "
     "bindings, targets, metrics)"},
    {"{\"metrics\":{\"listen\":\"localhost:9464\"}}",
     "t.json:1:13: metrics.listen: expected ADDRESS:PORT with a numeric IPv4 or [IPv6] address, "
     "got \"localhost:9464\""},
    {"{\"metrics\":{\"listen\":\"127.0.0.1:9464\",\"port\":1}}",
     "t.json:1:39: metrics.port: unknown key (expected one of: listen, container_ids)"},
    {"{\"metrics\":{\"container_ids\":\"yes\"}}",
     "t.json:1:13: metrics.container_ids: expected boolean, got string"},
    {"{\"run_dir\": \"relative\"}", "t.json:1:2: run_dir: must be an absolute path without \"..\""},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"},\"refresh\":\"5x\"}}}",
     "t.json:1:45: bindings.b.refresh: bad duration \"5x\" (expected e.g. 30s, 5m, 1h)"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"},\"size\":\"lots\"}}}",
     "t.json:1:45: bindings.b.size: bad size \"lots\" (expected e.g. 64k, 1m)"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":{\"from\":\"local:x\",\"mode\":\"0666\"}}}}}",
     "t.json:1:52: bindings.b.secrets.s.mode: bad mode \"0666\" (expected octal like \"0440\"; "
     "no write for group/other, no setuid/setgid/sticky)"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"vault:x\"}}}}",
     "t.json:1:30: bindings.b.secrets.s: source \"vault:x\" names store \"vault\", which is not "
     "defined in \"stores\""},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"nocolon\"}}}}",
     "t.json:1:30: bindings.b.secrets.s: source \"nocolon\": expected "
     "STORE:PATH[#FIELD][?version=N]"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"..bad\":\"local:x\"}}}}",
     "t.json:1:30: bindings.b.secrets...bad: bad secret name (expected "
     "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, no \"..\")"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"},\"require\":[\"rootless\"]}}}",
     "t.json:1:56: bindings.b.require[0]: unknown posture check \"rootless\""},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"},\"notify\":\"SIGFOO\"}}}",
     "t.json:1:45: bindings.b.notify: bad signal \"SIGFOO\" (expected e.g. SIGHUP, SIGUSR1, "
     "SIGTERM)"},
    {"{\"bindings\":{\"b\":{\"secrets\":{}}}}",
     "t.json:1:19: bindings.b.secrets: a binding needs at least one secret"},
    {"{\"targets\":{\"t\":{\"binding\":\"nope\"}}}",
     "t.json:1:18: targets.t.binding: binding \"nope\" is not defined in \"bindings\""},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"}}},\n"
     "\"targets\":{\"t\":{\"binding\":\"b\",\"uid_map\":\"0 100000\"}}}",
     "t.json:2:31: targets.t.uid_map: id map: expected lines \"INSIDE OUTSIDE COUNT\""},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"}}},\n"
     "\"targets\":{\"t\":{\"binding\":\"b\",\"uid_map\":\"0 100000 10\\n5 200000 10\"}}}",
     "t.json:2:31: targets.t.uid_map: id map line \"5 200000 10\" overlaps another line"},
    {"{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"}}},\n"
     "\"targets\":{\"t\":{\"binding\":\"b\",\"uid\":-1}}}",
     "t.json:2:31: targets.t.uid: must be between 0 and 4294967294"},
    {"{\"stores\":{\"v\":{\"type\":\"nosuch\"}}}",
     /* The list goes on with whatever network stores this build has. */
     "t.json:1:17: stores.v.type: unsupported store type \"nosuch\" (this build supports: "
     "sealed*"},
    {"{\"stores\":{\"v\":{\"type\":\"vault\",\"address\":\"http://127.0.0.1:8200\","
     "\"auth\":{\"method\":\"token\",\"token_file\":\"/t\"}}}}",
     "t.json:1:32: stores.v.address: must be an https:// URL (TLS is always verified)"},
    {"{\"stores\":{\"v\":{\"type\":\"vault\",\"address\":\"https://v\","
     "\"auth\":{\"method\":\"ldap\"}}}}",
     "t.json:1:62: stores.v.auth.method: unknown auth method \"ldap\" (expected token, approle, "
     "cert, jwt, kubernetes or aws)"},
    {"{\"stores\":{\"v\":{\"type\":\"vault\",\"address\":\"https://v\","
     "\"auth\":{\"method\":\"approle\",\"role_id_file\":\"/r\"}}}}",
     "t.json:1:54: stores.v.auth: missing required key \"secret_id_file\""},
    {"{\"stores\":{\"v\":{\"type\":\"vault\",\"address\":\"https://v\","
     "\"auth\":{\"method\":\"cert\"}}}}",
     "t.json:1:12: stores.v: auth method cert needs \"client_cert\" and \"client_key\""},
    {"{\"targets\":{\"t\":{}}}", "t.json:1:13: targets.t: missing required key \"binding\""},
    {"{\"run_dir\": \"/x\",}", "t.json:1:18: string or '}' expected near '}'"},
    {"{\"a\":1,\"a\":2}", "t.json:1:10: duplicate object key near '\"a\"'"},
    {"[1]", "t.json:1:1: (top): the configuration must be a JSON object"},
};

static void test_bad_configs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		lb_diag d = {0};
		lb_config *c = lb_config_parse(bad[i].text, "t.json", &d);

		size_t len = strlen(bad[i].first_error);
		bool prefix = bad[i].first_error[len - 1] == '*';

		if (c || d.n == 0 ||
		    (prefix ? strncmp(d.lines[0], bad[i].first_error, len - 1)
			    : strcmp(d.lines[0], bad[i].first_error)) != 0)
			print_error("case %zu: got \"%s\"\n      want \"%s\"\n", i,
				    d.n ? d.lines[0] : "(no error)", bad[i].first_error);
		assert_null(c);
		assert_true(d.n > 0);
		if (prefix)
			assert_memory_equal(d.lines[0], bad[i].first_error, len - 1);
		else
			assert_string_equal(d.lines[0], bad[i].first_error);
		lb_diag_free(&d);
	}
}

static void test_every_error_reported(void **state)
{
	lb_diag d = {0};
	lb_config *c = lb_config_parse("{\"bindings\":{\"b\":{\"secrets\":{\"s\":\"local:x\"},"
				       "\"refresh\":\"x\",\"size\":\"y\",\"bogus\":1}}}",
				       "t.json", &d);

	(void)state;
	assert_null(c);
	assert_int_equal(d.n, 3);
	lb_diag_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_config),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_bad_configs),
	    cmocka_unit_test(test_every_error_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
