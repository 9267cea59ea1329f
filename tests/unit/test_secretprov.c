/* The Swarm secret driver's pure half: what a GetSecret request says, which configured secret
 * it may name, and the task spec the posture gate judges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "posture_eval.h"
#include "secretprov.h"

static const char cfg_text[] =
    "{\"stores\": {\"local\": {\"type\": \"sealed\"}, \"other\": {\"type\": \"sealed\"}},\n"
    " \"bindings\": {\n"
    "  \"web\": {\"secrets\": {\"db_password\": \"local:web/db#password\",\n"
    "                          \"api\": \"local:web/api\",\n"
    "                          \"conf\": {\"template\": \"x={{ local:web/api }}\"}},\n"
    "           \"require\": [\"non-root\"]},\n"
    "  \"batch\": {\"secrets\": {\"pw\": \"local:web/db#password\"},\n"
    "             \"require\": [\"read-only-rootfs\"]}}}\n";

/* What dockerd 20.10 sends (swarmkit's SecretsProviderRequest), labels added by the test. */
static json_t *request(const char *labels)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{\"SecretName\":\"web_db\",\"SecretLabels\":%s,"
		 "\"ServiceHostname\":\"\",\"ServiceID\":\"k2x8n0v9c3yq1w5e7r4t6u8i0\","
		 "\"ServiceName\":\"web\",\"ServiceLabels\":{\"com.docker.stack.namespace\":\"s\"},"
		 "\"TaskID\":\"p0o9i8u7y6t5r4e3w2q1a2s3d\",\"TaskName\":\"web.1."
		 "p0o9i8u7y6t5r4e3w2q1a2s3d\","
		 "\"TaskImage\":\"lbtest:1\",\"NodeID\":\"n1n2n3n4n5n6n7n8n9n0m1m2m\","
		 "\"ServiceEndpointSpec\":{\"Mode\":1}}",
		 labels);
	return json_loads(text, 0, NULL);
}

static lb_config *cfg(void)
{
	lb_diag d = {0};
	lb_config *c = lb_config_parse(cfg_text, "sp.json", &d);

	for (size_t i = 0; i < d.n; i++)
		print_error("%s\n", d.lines[i]);
	lb_diag_free(&d);
	assert_non_null(c);
	return c;
}

static void test_parse_good(void **state)
{
	json_t *j = request("{\"lockbox.source\":\"local:web/db#password\",\"other\":\"x\"}");
	lb_sp_request rq;
	lb_err e = {0};

	(void)state;
	assert_int_equal(lb_sp_parse(j, &rq, &e), 0);
	assert_string_equal(rq.secret_name, "web_db");
	assert_string_equal(rq.service_name, "web");
	assert_string_equal(rq.task_id, "p0o9i8u7y6t5r4e3w2q1a2s3d");
	assert_string_equal(rq.node_id, "n1n2n3n4n5n6n7n8n9n0m1m2m");
	assert_string_equal(rq.source, "local:web/db#password");
	assert_string_equal(rq.binding, "");
	json_decref(j);
}

static void expect_parse_error(const char *body, const char *msg)
{
	json_t *j = json_loads(body, JSON_ALLOW_NUL, NULL);
	lb_sp_request rq;
	lb_err e = {0};

	assert_non_null(j);
	if (lb_sp_parse(j, &rq, &e) != -1)
		fail_msg("%s: parsed", body);
	if (!strstr(e.msg, msg))
		fail_msg("%s: got \"%s\", want \"%s\"", body, e.msg, msg);
	json_decref(j);
}

#define TASK "\"TaskID\":\"abc\""
#define NAME "\"SecretName\":\"s\""

static void test_parse_errors(void **state)
{
	(void)state;
	expect_parse_error("[]", "not a JSON object");
	expect_parse_error("{" TASK "}", "no SecretName");
	expect_parse_error("{" NAME "}", "no TaskID");
	expect_parse_error("{" NAME ",\"TaskID\":\"ABC\"}", "TaskID is not a swarm id");
	expect_parse_error("{" NAME ",\"TaskID\":7}", "TaskID is not a string");
	expect_parse_error("{\"SecretName\":\"a\\u0001b\"," TASK "}",
			   "SecretName is not printable");
	expect_parse_error("{\"SecretName\":\"a\\u0000b\"," TASK "}",
			   "SecretName is not printable");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":[]}",
			   "SecretLabels is not an object");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":{\"lockbox.path\":\"x\"}}",
			   "unknown label \"lockbox.path\"");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":{\"lockbox.source\":1}}",
			   "label: lockbox.source is not a string");
	expect_parse_error("{" NAME "," TASK
			   ",\"SecretLabels\":{\"lockbox.source\":\"local:a\",\"lockbox.secret\":"
			   "\"a\",\"lockbox.binding\":\"web\"}}",
			   "both given");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":{\"lockbox.secret\":\"a\"}}",
			   "needs lockbox.binding");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":{\"lockbox.binding\":\"../x\","
			   "\"lockbox.secret\":\"a\"}}",
			   "is not a name");
	expect_parse_error("{" NAME "," TASK ",\"SecretLabels\":{\"app\":\"x\"}}",
			   "no label lockbox.source");
	expect_parse_error("{" NAME "," TASK "}", "no label lockbox.source");
}

/* labels -> the decision, or the error it must contain. */
static void expect_decision(const lb_config *c, const char *labels, const char *binding,
			    const char *secret, uint32_t require, unsigned n, const char *err)
{
	json_t *j = request(labels);
	lb_sp_request rq;
	lb_sp_decision d;
	lb_err e = {0};

	assert_int_equal(lb_sp_parse(j, &rq, &e), 0);
	if (err) {
		assert_int_equal(lb_sp_decide(c, &rq, &d, &e), -1);
		if (!strstr(e.msg, err))
			fail_msg("%s: got \"%s\", want \"%s\"", labels, e.msg, err);
	} else {
		if (lb_sp_decide(c, &rq, &d, &e))
			fail_msg("%s: %s", labels, e.msg);
		assert_string_equal(d.binding, binding);
		assert_string_equal(d.secret, secret);
		assert_int_equal(d.require, require);
		assert_int_equal(d.nbindings, n);
	}
	json_decref(j);
}

static void test_decide(void **state)
{
	lb_config *c = cfg();
	uint32_t nonroot = LB_CHECK_BIT(LB_CHECK_NON_ROOT);
	uint32_t ro = LB_CHECK_BIT(LB_CHECK_READ_ONLY_ROOTFS);

	(void)state;
	/* Listed by one binding: its requirements. */
	expect_decision(c, "{\"lockbox.source\":\"local:web/api\"}", "web", "api", nonroot, 1,
			NULL);
	/* Listed by two: the requirements of both. */
	expect_decision(c, "{\"lockbox.source\":\"local:web/db#password\"}", "web", "db_password",
			nonroot | ro, 2, NULL);
	/* lockbox.binding narrows it to one binding. */
	expect_decision(
	    c, "{\"lockbox.source\":\"local:web/db#password\",\"lockbox.binding\":\"batch\"}",
	    "batch", "pw", ro, 1, NULL);
	expect_decision(c, "{\"lockbox.binding\":\"web\",\"lockbox.secret\":\"db_password\"}",
			"web", "db_password", nonroot, 1, NULL);
	/* Not listed: another path, another field, another store, another binding. */
	expect_decision(c, "{\"lockbox.source\":\"local:web/other\"}", NULL, NULL, 0, 0,
			"Swarm secret web_db: source local:web/other is not allowed: no binding "
			"lists it");
	expect_decision(c, "{\"lockbox.source\":\"local:web/db#user\"}", NULL, NULL, 0, 0,
			"not allowed");
	expect_decision(c, "{\"lockbox.source\":\"other:web/api\"}", NULL, NULL, 0, 0,
			"not allowed");
	expect_decision(c, "{\"lockbox.source\":\"local:web/api\",\"lockbox.binding\":\"batch\"}",
			NULL, NULL, 0, 0, "no binding batch lists it");
	expect_decision(c, "{\"lockbox.source\":\"local:web/api?version=2\"}", NULL, NULL, 0, 0,
			"not allowed");
	expect_decision(c, "{\"lockbox.source\":\"nocolon\"}", NULL, NULL, 0, 0,
			"label lockbox.source \"nocolon\"");
	expect_decision(c, "{\"lockbox.binding\":\"nope\",\"lockbox.secret\":\"x\"}", NULL, NULL, 0,
			0, "no binding \"nope\"");
	expect_decision(c, "{\"lockbox.binding\":\"web\",\"lockbox.secret\":\"x\"}", NULL, NULL, 0,
			0, "binding web has no secret \"x\"");
	expect_decision(c, "{\"lockbox.binding\":\"web\",\"lockbox.secret\":\"conf\"}", NULL, NULL,
			0, 0, "rendered secret");
	lb_config_free(c);
}

static void test_task_inspect(void **state)
{
	json_t *task = json_loads(
	    "{\"ID\":\"t1\",\"Spec\":{\"ContainerSpec\":{\"Image\":\"lbtest:1\",\"User\":\"0\","
	    "\"Env\":[\"A=1\"],\"ReadOnly\":true,\"CapabilityDrop\":[\"ALL\"],"
	    "\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/var/run/docker.sock\","
	    "\"Target\":\"/var/run/docker.sock\"}]},"
	    "\"Resources\":{\"Limits\":{\"MemoryBytes\":1048576,\"Pids\":10}}}}",
	    0, NULL);
	json_t *in = lb_sp_task_inspect(task), *none;
	lb_inspect_facts f;
	lb_posture_report rep;
	lb_err e = {0};
	uint32_t failed;

	(void)state;
	assert_non_null(in);
	if (lb_inspect_facts_from_json(in, true, &f, &e))
		fail_msg("%s", e.msg);
	assert_string_equal(f.user, "0");
	assert_true(f.readonly_rootfs);
	assert_int_equal(f.memory, 1048576);
	assert_int_equal(f.pids_limit, 10);
	failed = lb_posture_evaluate(
	    LB_CHECK_BIT(LB_CHECK_NON_ROOT) | LB_CHECK_BIT(LB_CHECK_READ_ONLY_ROOTFS) |
		LB_CHECK_BIT(LB_CHECK_NO_DOCKER_SOCKET) | LB_CHECK_BIT(LB_CHECK_MEMORY_LIMIT),
	    &f, NULL, NULL, &rep);
	assert_int_equal(failed,
			 LB_CHECK_BIT(LB_CHECK_NON_ROOT) | LB_CHECK_BIT(LB_CHECK_NO_DOCKER_SOCKET));
	lb_inspect_facts_clear(&f);
	json_decref(in);
	json_decref(task);

	task = json_loads("{\"ID\":\"t1\",\"Spec\":{\"ContainerSpec\":{\"User\":\"1000:1000\"}}}",
			  0, NULL);
	in = lb_sp_task_inspect(task);
	assert_int_equal(lb_inspect_facts_from_json(in, true, &f, &e), 0);
	assert_int_equal(lb_posture_evaluate(LB_CHECK_BIT(LB_CHECK_NON_ROOT), &f, NULL, NULL, &rep),
			 0);
	lb_inspect_facts_clear(&f);
	json_decref(in);
	json_decref(task);

	task = json_loads("{\"ID\":\"t1\",\"Spec\":{\"PluginSpec\":{}}}", 0, NULL);
	none = lb_sp_task_inspect(task);
	assert_null(none);
	json_decref(task);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_decide),
	    cmocka_unit_test(test_task_inspect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
