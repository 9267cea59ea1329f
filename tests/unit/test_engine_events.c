/* lb_engine_event_decode: an event line as dockerd 20.10 writes it, whole or cut at the
 * line cap (a container label can make it any size). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static const char head[] = "{\"status\":\"start\",\"id\":\"" ID "\",\"from\":\"lbtest:1\","
			   "\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"" ID
			   "\",\"Attributes\":{\"big\":\"";
static const char tail[] = "\",\"image\":\"lbtest:1\"}},\"scope\":\"local\","
			   "\"time\":1796290000,\"timeNano\":1796290000123456789}";

static char *event(size_t label)
{
	char *s = malloc(sizeof(head) + label + sizeof(tail));

	assert_non_null(s);
	memcpy(s, head, sizeof(head) - 1);
	memset(s + sizeof(head) - 1, 'a', label);
	memcpy(s + sizeof(head) - 1 + label, tail, sizeof(tail));
	return s;
}

static void test_whole(void **state)
{
	char *s = event(10);
	json_t *ev = lb_engine_event_decode(s, strlen(s), false);

	(void)state;
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "Action")), "start");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID")),
			    ID);
	assert_int_equal(json_integer_value(json_object_get(ev, "timeNano")), 1796290000123456789);
	json_decref(ev);
	free(s);
	assert_null(lb_engine_event_decode("[1]", 3, false));
	assert_null(lb_engine_event_decode("{\"a\":", 5, false));
}

/* What arrives of a 1.1 MB event under a 1 MiB cap: the head is enough. */
static void test_truncated(void **state)
{
	char *s = event(1100000);
	json_t *ev = lb_engine_event_decode(s, 1024 * 1024 - 1, true);

	(void)state;
	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "Action")), "start");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "Actor"), "ID")),
			    ID);
	assert_null(json_object_get(json_object_get(ev, "Actor"), "Attributes"));
	json_decref(ev);
	free(s);
	/* No Attributes key in what arrived, or a ',"Attributes":' that is not structural. */
	assert_null(lb_engine_event_decode("{\"Action\":\"start\"", 17, true));
	s = strdup("{\"from\":\"x\\\",\\\"Attributes\\\":\",\"Actor\":{\"ID\":\"a\"");
	assert_null(lb_engine_event_decode(s, strlen(s), true));
	free(s);
	s = strdup("{\"Actor\":7,\"Attributes\":{");
	assert_null(lb_engine_event_decode(s, strlen(s), true));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole),
	    cmocka_unit_test(test_truncated),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
