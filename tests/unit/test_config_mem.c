/* What a parsed config keeps (policy/config_mem.c, issue 19): compact structs whose names and
 * paths live in the config's own block, the JSON tree freed; lookups by name through the
 * index; what a reload compares (store options) still there; and the heap a static target
 * costs (mallinfo2; skipped where the allocator is not glibc's, e.g. under ASan). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* A config of n static targets over three bindings (a uid_map on every third target). */
static char *many_targets(size_t n, const char *vault_address)
{
	size_t cap = 4096 + n * 160, off;
	char *s = malloc(cap);

	assert_non_null(s);
	off = (size_t)snprintf(
	    s, cap,
	    "{\"run_dir\": \"/run/lb-test\", \"state_dir\": \"/var/lib/lb-test\",\n"
	    " \"docker\": {\"socket\": \"/run/d.sock\"},\n"
	    " \"metrics\": {\"listen\": \"127.0.0.1:9464\"},\n"
	    " \"stores\": {\"local\": {\"type\": \"sealed\"}, \"v\": {\"type\": \"vault\",\n"
	    "   \"address\": \"%s\", \"auth\": {\"method\": \"token\", \"token_file\": \"/t\"}}},\n"
	    " \"bindings\": {\n"
	    "  \"b0\": {\"secrets\": {\"s1\": \"local:shared\", \"s2\": \"v:kv/x#y\"},\n"
	    "          \"match\": {\"images\": [\"web:*\"], \"labels\": {\"app\": \"web\"}}},\n"
	    "  \"b1\": {\"secrets\": {\"s1\": \"local:a\"}, \"uid\": 7},\n"
	    "  \"b2\": {\"secrets\": {\"s1\": \"local:b\"}}},\n"
	    " \"targets\": {",
	    vault_address);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off,
					"%s\"t%zu\": {\"binding\": \"b%zu\", \"gid\": %zu%s}",
					i ? ",\n  " : "", i, i % 3, 1000 + i,
					i % 3 == 0 ? ", \"uid_map\": \"0 100000 65536\"" : "");
	snprintf(s + off, cap - off, "}}\n");
	return s;
}

static lb_config *parse(const char *text)
{
	lb_diag d = {0};
	lb_config *c = lb_config_parse(text, "t.json", &d);

	if (!c)
		fail_msg("%s", d.n ? d.lines[0] : "no config, no diagnostic");
	return c;
}

/* Does p point into the config's own block of size n (not into the freed tree)? */
static bool in_block(const lb_config *c, size_t n, const char *p)
{
	return p >= c->strings && p < c->strings + n;
}

static void test_structs_outlive_the_tree(void **state)
{
	char *text = many_targets(1000, "https://vault.example");
	lb_config *c = parse(text);
	size_t block;
	char name[32];

	(void)state;
	/* The text is gone too: nothing may point into it or into the tree made from it. */
	memset(text, 'x', strlen(text));
	free(text);
	block = (size_t)(c->targets[c->ntargets - 1].name - c->strings) + 16;
	assert_int_equal(c->ntargets, 1000);
	assert_int_equal(c->nbindings, 3);
	assert_string_equal(c->run_dir, "/run/lb-test");
	assert_string_equal(c->state_dir, "/var/lib/lb-test");
	assert_string_equal(c->docker_socket, "/run/d.sock");
	assert_string_equal(c->plugin_socket, "/run/docker/plugins/lockbox.sock");
	assert_string_equal(c->metrics_listen, "127.0.0.1:9464");
	assert_true(in_block(c, block, c->run_dir) && in_block(c, block, c->metrics_listen));
	for (size_t i = 0; i < c->ntargets; i++) {
		const lb_target_cfg *t;

		snprintf(name, sizeof(name), "t%zu", i);
		t = lb_config_target(c, name);
		assert_ptr_equal(t, &c->targets[i]);
		assert_string_equal(t->name, name);
		assert_true(in_block(c, block, t->name));
		snprintf(name, sizeof(name), "b%zu", i % 3);
		assert_ptr_equal(t->binding, lb_config_binding(c, name));
		assert_string_equal(t->binding->name, name);
		assert_int_equal(t->gid, 1000 + i);
		assert_int_equal(t->uid, i % 3 == 1 ? 7 : 0); /* b1's uid is the default */
		if (i % 3 == 0) {
			assert_string_equal(t->uid_map, "0 100000 65536");
			assert_true(in_block(c, block, t->uid_map));
		} else {
			assert_null(t->uid_map);
		}
		assert_null(t->gid_map);
	}
	assert_null(lb_config_target(c, "t1000"));
	assert_null(lb_config_target(c, ""));
	assert_null(lb_config_target(c, "b0"));	 /* targets and bindings are apart */
	assert_null(lb_config_binding(c, "t0")); /* targets and bindings are apart */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_null(lb_config_target(c, name));
	/* Per binding and per store, kept as they were parsed. */
	assert_string_equal(c->stores[1].name, "v");
	assert_string_equal(c->stores[1].type, "vault");
	assert_string_equal(json_string_value(json_object_get(c->stores[1].opts, "address")),
			    "https://vault.example");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(c->bindings[0].match, "images"), 0)),
	    "web:*");
	assert_null(c->bindings[1].match);
	assert_string_equal(c->bindings[0].secrets[1].src.field, "y");
	lb_config_free(c);
}

/* A config without targets or bindings: empty indexes answer, nothing is in the block but the
 * directories and the embedded store. */
static void test_empty(void **state)
{
	lb_config *c = parse("{}");

	(void)state;
	assert_null(lb_config_target(c, "t"));
	assert_null(lb_config_binding(c, "b"));
	assert_non_null(lb_config_store(c, "local"));
	assert_string_equal(c->stores[0].type, "sealed");
	assert_string_equal(json_string_value(json_object_get(c->stores[0].opts, "type")),
			    "sealed");
	lb_config_free(c);
}

/* A reload keeps a store whose name and options are unchanged (broker/reload.c compares
 * them with json_equal): both must survive the parse. */
static void test_reload_comparison(void **state)
{
	char *a = many_targets(10, "https://vault.example");
	char *b = many_targets(20, "https://vault.example");
	char *changed = many_targets(10, "https://other.example");
	lb_config *ca = parse(a), *cb = parse(b), *cc = parse(changed);
	lb_config *def1 = parse("{}"), *def2 = parse("{}");

	(void)state;
	for (size_t i = 0; i < ca->nstores; i++) {
		assert_string_equal(ca->stores[i].name, cb->stores[i].name);
		assert_true(json_equal(ca->stores[i].opts, cb->stores[i].opts));
	}
	assert_true(json_equal(ca->stores[0].opts, cc->stores[0].opts));  /* local */
	assert_false(json_equal(ca->stores[1].opts, cc->stores[1].opts)); /* v's address */
	assert_true(json_equal(def1->stores[0].opts, def2->stores[0].opts));
	assert_true(json_equal(ca->stores[0].opts, def1->stores[0].opts));
	lb_config_free(ca);
	lb_config_free(cb);
	lb_config_free(cc);
	lb_config_free(def1);
	lb_config_free(def2);
	free(a);
	free(b);
	free(changed);
}

/* Heap held by a parsed config (the text freed): per static target it was ~700 bytes with the
 * tree and its "t:NAME" index entry; the goal for all of a target is 2 KiB. */
static size_t heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd; /* chunks of the heap and mmap'ed ones */
}

static size_t held_by(const char *text)
{
	size_t before = heap_in_use(), after;
	lb_config *c = parse(text);

	after = heap_in_use();
	lb_config_free(c);
	return after > before ? after - before : 0;
}

/* Does mallinfo2 see this process's heap? Not under ASan, whose allocator is its own. */
static bool heap_visible(void)
{
	size_t m0 = heap_in_use(), m1;
	char *probe = malloc(10000);

	assert_non_null(probe);
	memset(probe, 1, 10000);
	m1 = heap_in_use();
	free(probe);
	return m1 >= m0 + 10000;
}

static void test_bytes_per_target(void **state)
{
	char *small, *big;
	size_t s, bg, per;

	(void)state;
	if (!heap_visible())
		skip();
	small = many_targets(0, "https://vault.example");
	big = many_targets(2000, "https://vault.example");
	s = held_by(small);
	bg = held_by(big);
	free(small);
	free(big);
	per = bg > s ? (bg - s) / 2000 : 0;
	print_message("config heap: %zu B without targets, %zu B per static target\n", s, per);
	/* struct (40 B), name, a third of a uid_map, index slots: ~60 B; the tree was ~700. */
	assert_true(per <= 128);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_structs_outlive_the_tree),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_reload_comparison),
	    cmocka_unit_test(test_bytes_per_target),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
