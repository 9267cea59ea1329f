/* core/jsonw: numbers at their edges and strings that need escaping read back by jansson as
 * what was written; core/log: audit lines held during a pass reach the audit log, in order,
 * at the release, and lb_audit_text writes the same line as lb_audit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"
#include "log.h"
#include "secmem.h"

static void test_int_edges(void **state)
{
	const int64_t v[] = {0, 1, -1, 9, 10, 1234567890123, INT64_MAX, INT64_MIN};
	const char *want[] = {"0",
			      "1",
			      "-1",
			      "9",
			      "10",
			      "1234567890123",
			      "9223372036854775807",
			      "-9223372036854775808"};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		lb_jsonw w = {0};
		lb_jsonw_int(&w, v[i]);
		assert_false(w.oom);
		assert_string_equal(w.buf, want[i]);
		assert_int_equal(w.len, strlen(want[i]));
		lb_jsonw_free(&w);
	}
}

static void test_strings_round_trip(void **state)
{
	const char *s[] = {"",	       "plain",	     "q\"uote", "back\\slash", "nl\ntab\tcr\r",
			   "\x01\x1f", "caf\xc3\xa9"};

	(void)state;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		lb_jsonw w = {0};
		json_t *j;
		lb_jsonw_raw(&w, "[");
		lb_jsonw_str(&w, s[i]);
		lb_jsonw_raw(&w, "]");
		j = json_loads(w.buf, 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_array_get(j, 0)), s[i]);
		json_decref(j);
		lb_jsonw_free(&w);
	}
}

static char *read_all(int fd)
{
	static char buf[65536];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static void test_audit_hold(void **state)
{
	char dir[] = "/tmp/lb-jsonw-XXXXXX";
	int dfd, fd, saved_err = dup(STDERR_FILENO), null_fd = open("/dev/null", O_WRONLY);
	char *text, *a, *b, *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0 && saved_err >= 0 && null_fd >= 0);
	dup2(null_fd, STDERR_FILENO); /* the lines also go to stderr */
	assert_int_equal(lb_audit_open(dfd), 0);
	fd = openat(dfd, "audit.jsonl", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);

	lb_audit_hold();
	lb_audit("first", json_pack("{s:s}", "target", "t1"));
	lb_audit_text("second", "\"target\":\"t2\",\"changed\":[]");
	assert_string_equal(read_all(fd), ""); /* held */
	lb_audit_release();
	lb_audit("third", json_pack("{s:s}", "target", "t3"));
	text = read_all(fd);
	a = strstr(text, "\"event\":\"first\",\"target\":\"t1\"}\n");
	b = strstr(
	    text, "\"audit\":\"lockbox\",\"event\":\"second\",\"target\":\"t2\",\"changed\":[]}\n");
	c = strstr(text, "\"event\":\"third\",\"target\":\"t3\"}\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a < b && b < c);

	lb_audit_close();
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(null_fd);
	close(fd);
	unlinkat(dfd, "audit.jsonl", 0);
	close(dfd);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_int_edges),
	    cmocka_unit_test(test_strings_round_trip),
	    cmocka_unit_test(test_audit_hold),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
