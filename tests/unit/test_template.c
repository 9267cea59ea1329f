/* Templates (issue 17): the parser's errors and their offsets, rendering with every filter,
 * config errors with FILE:LINE:COL (inline and template files), and the render step's
 * result from its sources' fetch results (render.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "render.h"
#include "secmem.h"
#include "template.h"

/* Values by source index, for lb_template_render. */
static const lb_secbuf *vals[8];

static const lb_secbuf *value_at(void *ctx, size_t i, lb_err *e)
{
	(void)ctx;
	if (i >= 8 || !vals[i]) {
		lb_fail(e, 0, "no value %zu", i);
		return NULL;
	}
	return vals[i];
}

static char *render(const char *text, lb_err *e)
{
	size_t off = 0;
	lb_template *t = lb_template_parse(text, strlen(text), &off, e);
	lb_secbuf *out = NULL;
	char *s = NULL;

	if (!t)
		return NULL;
	if (lb_template_render(t, value_at, NULL, &out, e) == 0) {
		s = strndup((char *)out->data, out->len);
		lb_secbuf_free(out);
	}
	lb_template_free(t);
	return s;
}

static void render_fails(const char *text, lb_err *e)
{
	char *s = render(text, e);

	assert_null(s);
	free(s);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void test_render_filters(void **state)
{
	lb_secbuf *a = lb_secbuf_dup("  it's \"x\"\n", 11);
	lb_secbuf *b = lb_secbuf_dup("s3cr\xc3\xa9t\x01", 8);
	lb_err e = {0};
	char *s;

	(void)state;
	vals[0] = a;
	vals[1] = b;
	s = render("A={{ local:a }};B={{local:b|json}};C={{ local:a | trim | shell }}", &e);
	assert_non_null(s);
	assert_string_equal(s, "A=  it's \"x\"\n;B=\"s3cr\xc3\xa9t\\u0001\";C='it'\\''s \"x\"'");
	free(s);
	s = render("{{ local:a | base64 }} {{ local:a|trim|json }}", &e);
	assert_string_equal(s, "ICBpdCdzICJ4Igo= \"it's \\\"x\\\"\"");
	free(s);
	/* The same source twice is one source; a string placeholder writes braces. */
	s = render("{{ \"{{\" }}x}}{{local:a|trim}}{{local:a|trim}}", &e);
	assert_string_equal(s, "{{x}}it's \"x\"it's \"x\"");
	free(s);
	s = render("", &e);
	assert_string_equal(s, "");
	free(s);
	s = render("no placeholders }} here", &e);
	assert_string_equal(s, "no placeholders }} here");
	free(s);
	lb_secbuf_free(a);
	lb_secbuf_free(b);
}

static void test_render_refuses(void **state)
{
	lb_secbuf *bad_utf8 = lb_secbuf_dup("\xff\xfe", 2);
	lb_secbuf *nul = lb_secbuf_dup("a\0b", 3);
	lb_err e = {0};

	(void)state;
	vals[0] = bad_utf8;
	vals[1] = nul;
	render_fails("{{ local:x | json }}", &e);
	assert_string_equal(e.msg, "the value of local:x is not valid UTF-8 (filter json)");
	render_fails("{{ local:x }}{{ local:y#f | shell }}", &e);
	assert_string_equal(e.msg, "the value of local:y#f holds a NUL byte (filter shell)");
	/* Raw and base64 take any bytes. */
	vals[0] = nul;
	{
		char *s = render("{{local:x|base64}}", &e);
		assert_string_equal(s, "YQBi");
		free(s);
	}
	lb_secbuf_free(bad_utf8);
	lb_secbuf_free(nul);
}

static void test_parse_errors(void **state)
{
	static const struct {
		const char *text;
		size_t off;
		const char *msg;
	} cases[] = {
	    {"ab {{ local:x ", 3, "unclosed \"{{\" (no \"}}\" after it)"},
	    {"x{{  }}", 1, "empty placeholder (expected {{ STORE:PATH#FIELD }})"},
	    {"{{ local:x | jsn }}", 13,
	     "unknown filter \"jsn\" (expected json, shell, base64 or trim)"},
	    {"{{ local:x | }}", 13, "missing filter after '|'"},
	    {"{{ local:x trim }}", 11, "unexpected 't' in placeholder (expected '|' FILTER)"},
	    {"\n{{ nocolon }}", 4, "source \"nocolon\": expected STORE:PATH[#FIELD][?version=N]"},
	    {"{{ | json }}", 3, "missing source before '|'"},
	    {"{{ \"abc }}", 3, "unterminated string in placeholder"},
	    {"{{ local:x|json|json|json|json|json }}", 31, "more than 4 filters"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t off = 99;
		lb_err e = {0};
		lb_template *t = lb_template_parse(cases[i].text, strlen(cases[i].text), &off, &e);

		assert_null(t);
		assert_string_equal(e.msg, cases[i].msg);
		assert_int_equal(off, cases[i].off);
	}
}

static void test_sources(void **state)
{
	const char *text = "{{ v:db/creds/app#username }}:{{ v:db/creds/app#password }}"
			   "@{{ v:db/creds/app#username | json }} {{ local:x?version=2 }}";
	size_t off;
	lb_err e = {0};
	lb_template *t = lb_template_parse(text, strlen(text), &off, &e);

	(void)state;
	assert_non_null(t);
	assert_int_equal(lb_template_nsources(t), 3);
	assert_string_equal(lb_template_source(t, 0)->field, "username");
	assert_string_equal(lb_template_source(t, 1)->field, "password");
	assert_string_equal(lb_template_source(t, 2)->version, "2");
	assert_int_equal(lb_template_source_offset(t, 1), 33);
	assert_int_equal(strlen(lb_template_digest(t)), 16);
	lb_template_free(t);
}

/* --- config --- */

static char *config_errors(const char *secrets)
{
	char text[4096];
	lb_diag d = {0};
	lb_config *c;
	char *all = calloc(1, 8192);

	snprintf(text, sizeof(text),
		 "{\n"
		 "  \"stores\": { \"local\": { \"type\": \"sealed\" } },\n"
		 "  \"bindings\": { \"web\": { \"secrets\": {\n"
		 "%s\n"
		 "  } } }\n"
		 "}\n",
		 secrets);
	c = lb_config_parse(text, "lb.json", &d);
	for (size_t i = 0; i < d.n; i++)
		snprintf(all + strlen(all), 8192 - strlen(all), "%s%s", i ? "\n" : "", d.lines[i]);
	if (c) {
		const lb_binding *b = lb_config_binding(c, "web");
		assert_non_null(b);
		snprintf(all, 8192, "ok %s %zu", b->secrets[0].uri,
			 lb_secret_nsources(&b->secrets[0]));
	}
	lb_config_free(c);
	lb_diag_free(&d);
	return all;
}

static void test_config_inline(void **state)
{
	char *s;

	(void)state;
	s = config_errors(
	    "    \"env\": { \"template\": \"A={{ local:a }}\\nB={{ local:b|json }}\" }");
	assert_string_equal(s, "ok template:env 2");
	free(s);
	/* Line 4: the value opens at column 26, "jsn" is at 57 (\n in the text is two). */
	s = config_errors(
	    "    \"env\": { \"template\": \"A={{ local:a }}\\nB={{ local:b|jsn }}\" }");
	assert_string_equal(s, "lb.json:4:57: bindings.web.secrets.env.template: unknown filter "
			       "\"jsn\" (expected json, shell, base64 or trim)");
	free(s);
	s = config_errors("    \"env\": { \"template\": \"{{ nostore:a }}\" }");
	assert_string_equal(s, "lb.json:4:30: bindings.web.secrets.env.template: source "
			       "\"nostore:a\" names store \"nostore\", which is not defined in "
			       "\"stores\"");
	free(s);
	s = config_errors("    \"env\": { \"template\": \"x\", \"from\": \"local:a\" }");
	assert_string_equal(s, "lb.json:4:5: bindings.web.secrets.env: give only one of "
			       "\"from\", \"template\" and \"template_file\"");
	free(s);
	s = config_errors("    \"env\": { \"mode\": \"0440\" }");
	assert_string_equal(s, "lb.json:4:5: bindings.web.secrets.env: missing required key "
			       "\"from\" (or \"template\", \"template_file\")");
	free(s);
}

static void test_config_file(void **state)
{
	char dir[] = "/tmp/lbtpl.XXXXXX", path[128], entry[512];
	char *s;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/app.env.tpl", dir);
	write_file(path,
		   "# app\nUSER={{ local:db#user | shell }}\nPASS={{ local:db#pass | sh }}\n");
	snprintf(entry, sizeof(entry), "    \"env\": { \"template_file\": \"%s\" }", path);
	s = config_errors(entry);
	{
		char want[600];
		snprintf(want, sizeof(want),
			 "%s:3:25: bindings.web.secrets.env.template_file: unknown filter \"sh\" "
			 "(expected json, shell, base64 or trim)",
			 path);
		assert_string_equal(s, want);
	}
	free(s);
	write_file(path, "USER={{ local:db#user | shell }}\n");
	s = config_errors(entry);
	{
		char want[600];
		snprintf(want, sizeof(want), "ok template:%s 1", path);
		assert_string_equal(s, want);
	}
	free(s);
	unlink(path);
	s = config_errors(entry);
	assert_non_null(strstr(s, "lb.json:4:14: bindings.web.secrets.env.template_file: cannot "
				  "read the template: "));
	free(s);
	/* A FIFO where the template was: an error, not a hang. */
	assert_int_equal(mkfifo(path, 0600), 0);
	s = config_errors(entry);
	assert_non_null(strstr(s, "not a regular file"));
	free(s);
	unlink(path);
	rmdir(dir);
}

/* --- the render step (render.h) --- */

static lb_fetch_result results[2];

static const lb_fetch_result *lookup(void *ctx, const lb_source *src)
{
	(void)ctx;
	return strcmp(src->path, "db") == 0   ? &results[0]
	       : strcmp(src->path, "kv") == 0 ? &results[1]
					      : NULL;
}

static void test_render_step(void **state)
{
	const char *text = "{{ v:db#username }}:{{ v:db#password | json }} {{ v:kv }}";
	lb_secret_spec sp = {0};
	lb_fetch_result r;
	lb_secbuf *out = NULL;
	char v1[64];
	size_t off;
	lb_err e = {0};

	(void)state;
	sp.tmpl = lb_template_parse(text, strlen(text), &off, &e);
	assert_non_null(sp.tmpl);
	results[0] = (lb_fetch_result){.structured = true, .not_after = 2000};
	results[0].value = lb_secbuf_dup("{\"username\":\"u1\",\"password\":\"p\\\"1\"}", 35);
	snprintf(results[0].version, sizeof(results[0].version), "lease-1");
	results[1] = (lb_fetch_result){.not_after = 0};
	results[1].value = lb_secbuf_dup("kvvalue", 7);
	snprintf(results[1].version, sizeof(results[1].version), "3");
	lb_render_result(&sp, lookup, NULL, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.not_after, 2000);
	assert_false(r.keep);
	assert_int_equal(strncmp(r.version, "tpl-", 4), 0);
	snprintf(v1, sizeof(v1), "%s", r.version);
	assert_int_equal(lb_render_value(&sp, lookup, NULL, &out, &e), 0);
	assert_string_equal((char *)out->data, "u1:\"p\\\"1\" kvvalue");
	lb_secbuf_free(out);
	/* A new lease is a new version. */
	snprintf(results[0].version, sizeof(results[0].version), "lease-2");
	lb_render_result(&sp, lookup, NULL, &r);
	assert_string_not_equal(r.version, v1);
	/* A failed source fails the secret, naming it. */
	results[1].status = -1;
	snprintf(results[1].error, sizeof(results[1].error), "permission denied");
	lb_render_result(&sp, lookup, NULL, &r);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.error, "v:kv: permission denied");
	/* A missing field is an error of the render, not a crash. */
	results[1].status = 0;
	lb_template_free(sp.tmpl);
	text = "{{ v:db#nofield }}";
	sp.tmpl = lb_template_parse(text, strlen(text), &off, &e);
	assert_int_equal(lb_render_value(&sp, lookup, NULL, &out, &e), -1);
	assert_string_equal(e.msg, "v:db has no field \"nofield\"");
	lb_template_free(sp.tmpl);
	lb_secbuf_free(results[0].value);
	lb_secbuf_free(results[1].value);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_filters), cmocka_unit_test(test_render_refuses),
	    cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_sources),
	    cmocka_unit_test(test_config_inline),  cmocka_unit_test(test_config_file),
	    cmocka_unit_test(test_render_step),
	};

	if (lb_secmem_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
