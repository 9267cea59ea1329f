/* The client's manifest scanner (client/manifest.c) on valid and hostile input; built with
 * the host compiler (ASan+UBSan in the asan preset) from the same source as the binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lb.h"

struct seen {
	int n;
	char names[8][LB_NAME_MAX + 1];
	bool has[8];
	int64_t not_after[8];
};

static void collect(const struct lb_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		memcpy(s->names[s->n], e->name, e->name_len);
		s->names[s->n][e->name_len] = '\0';
		s->has[s->n] = e->has_not_after;
		s->not_after[s->n] = e->not_after;
	}
	s->n++;
}

static int scan(const char *json, struct seen *s, int64_t *gen)
{
	const char *what = NULL;
	size_t off = 0;

	memset(s, 0, sizeof(*s));
	/* A heap copy of exactly the input: ASan catches any read past its end. */
	size_t len = strlen(json);
	char *copy = malloc(len ? len : 1);
	int rc;

	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): unterminated on purpose, see above
	memcpy(copy, json, len);
	rc = lb_manifest_scan(copy, len, collect, s, gen, &off, &what);
	if (rc)
		assert_non_null(what);
	free(copy);
	return rc;
}

static void test_valid(void **state)
{
	struct seen s;
	int64_t gen = 0;

	(void)state;
	assert_int_equal(scan("{\"generation\":7,\"written_at\":1764000000,\"secrets\":{"
			      "\"db_password\":{\"version\":\"3\",\"not_after\":1764003600,"
			      "\"source\":\"local:web/db\"},"
			      "\"api.key\":{\"not_after\":null},\"tls-cert\":{}}}",
			      &s, &gen),
			 0);
	assert_int_equal(gen, 7);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "db_password");
	assert_true(s.has[0]);
	assert_int_equal(s.not_after[0], 1764003600);
	assert_string_equal(s.names[1], "api.key");
	assert_false(s.has[1]);
	assert_string_equal(s.names[2], "tls-cert");
	assert_false(s.has[2]);
	/* Unknown keys of any JSON type are skipped; whitespace anywhere. */
	assert_int_equal(scan(" { \"x\" : [1, -2.5e3, true, false, null, {\"a\":\"\\u00e9\\n\"}],"
			      "\"secrets\" : { } } \n",
			      &s, &gen),
			 0);
	assert_int_equal(gen, -1);
	assert_int_equal(s.n, 0);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "{",
	    "{\"secrets\":{}",
	    "{\"secrets\":{}} {}",
	    "{\"secrets\":{\"a\":{\"not_after\":\"1\"}}}",
	    "{\"secrets\":{\"a\":{\"not_after\":1.5}}}",
	    "{\"secrets\":{\"a\":{\"not_after\":-1}}}",
	    "{\"secrets\":{\"a\":{\"not_after\":99999999999999999999}}}",
	    "{\"secrets\":{\"a\":{\"not_after\":1,\"not_after\":2}}}",
	    "{\"secrets\":{\"a\":1}}",
	    "{\"secrets\":[]}",
	    "{\"secrets\":{\"../x\":{}}}",
	    "{\"secrets\":{\".hidden\":{}}}",
	    "{\"secrets\":{\"a\\u0041\":{}}}",
	    "{\"generation\":\"7\",\"secrets\":{}}",
	    "{\"generation\":1,\"generation\":2}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\u12\"}",
	    "{\"a\":\"tab\there\"}",
	    "{\"a\":01}",
	    "{\"a\":-}",
	    "{\"a\":1.}",
	    "{\"a\":1e}",
	    "{\"a\":tru}",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "{\"a\":[1,]}",
	    "{\"a\":\"unterminated}",
	};
	struct seen s;
	int64_t gen;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (scan(bad[i], &s, &gen) == 0)
			fail_msg("accepted malformed manifest #%zu: %s", i, bad[i]);
	}
}

static void test_depth_and_nul(void **state)
{
	char deep[200];
	const char nul[] = "{\"secrets\":{}}\0";
	const char *what;
	size_t off;
	int64_t gen;
	struct seen s;

	(void)state;
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	char *doc = malloc(220);
	snprintf(doc, 220, "{\"x\":%.*s}", 200, deep);
	assert_int_not_equal(scan(doc, &s, &gen), 0);
	free(doc);
	/* An embedded NUL is not whitespace: trailing data. */
	assert_int_not_equal(lb_manifest_scan(nul, sizeof(nul) - 1, NULL, NULL, &gen, &off, &what),
			     0);
	assert_int_equal(off, sizeof(nul) - 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_depth_and_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
