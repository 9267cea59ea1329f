/* The sealed store: round trip, versions, tamper and truncation detection, list, rm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "sealed.h"

struct fx {
	char dir[64];
	int dirfd;
	lb_sealed *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	lb_err e = {0};

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/lb-sealed-XXXXXX");
	/* cmocka does not call teardown when setup fails. */
	if (lb_secmem_init() < 0 || !mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	f->dirfd = open(f->dir, O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0 || lb_sealed_open(f->dirfd, true, &f->s, &e)) {
		if (f->dirfd >= 0)
			close(f->dirfd);
		rmdir(f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};
	int parent = open("/tmp", O_DIRECTORY | O_CLOEXEC);

	lb_sealed_close(f->s);
	close(f->dirfd);
	lb_remove_tree_at(parent, f->dir + 5, false, &e);
	close(parent);
	free(f);
	return 0;
}

static void put(struct fx *f, const char *name, const char *val, uint32_t want_version)
{
	lb_secbuf *b = lb_secbuf_dup(val, strlen(val));
	lb_err e = {0};
	uint32_t v = 0;

	assert_int_equal(lb_sealed_put(f->s, name, b, &v, &e), 0);
	assert_int_equal(v, want_version);
	lb_secbuf_free(b);
}

static void expect(struct fx *f, const char *name, uint32_t version, const char *val)
{
	lb_secbuf *b = NULL;
	lb_err e = {0};
	uint32_t got = 0;

	assert_int_equal(lb_sealed_get(f->s, name, version, &b, &got, &e), 0);
	assert_int_equal(b->len, strlen(val));
	assert_memory_equal(b->data, val, b->len);
	lb_secbuf_free(b);
}

static void test_roundtrip_versions(void **state)
{
	struct fx *f = *state;
	struct stat st;

	put(f, "web/api_key", "first", 1);
	put(f, "web/api_key", "second", 2);
	put(f, "db", "x", 1);
	expect(f, "web/api_key", 0, "second");
	expect(f, "web/api_key", 1, "first");
	expect(f, "db", 0, "x");
	/* The key file is made on first use, 0400. */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(fstatat(f->dirfd, "sealed.key", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(fstatat(f->dirfd, "sealed", &st, 0), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_keeps_newest_versions(void **state)
{
	struct fx *f = *state;
	lb_secbuf *b = NULL;
	lb_err e = {0};

	for (uint32_t i = 1; i <= LB_SEALED_KEEP + 2; i++)
		put(f, "rot", "v", i);
	assert_int_equal(lb_sealed_get(f->s, "rot", 1, &b, NULL, &e), -1);
	assert_string_equal(e.msg, "sealed secret rot version 1 does not exist");
	expect(f, "rot", 3, "v");
}

static void corrupt(struct fx *f, const char *file, off_t at, bool truncate_it)
{
	char path[200];
	int fd;

	snprintf(path, sizeof(path), "%s/sealed/%s", f->dir, file);
	chmod(path, 0600);
	fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	if (truncate_it) {
		assert_int_equal(ftruncate(fd, at), 0);
	} else {
		unsigned char c;
		assert_int_equal(pread(fd, &c, 1, at), 1);
		c ^= 0x01;
		assert_int_equal(pwrite(fd, &c, 1, at), 1);
	}
	close(fd);
}

static void test_tamper_detected(void **state)
{
	struct fx *f = *state;
	lb_secbuf *b = NULL;
	lb_err e = {0};

	put(f, "web/t", "canary-value", 1);
	corrupt(f, "web+t.v1", 60, false); /* a ciphertext byte */
	assert_int_equal(lb_sealed_get(f->s, "web/t", 0, &b, NULL, &e), -1);
	assert_null(b);
	assert_string_equal(e.msg,
			    "sealed secret web/t version 1 (sealed/web+t.v1) failed "
			    "authentication: tampered, truncated or sealed under another key");
	put(f, "web/t", "canary-value", 2);
	corrupt(f, "web+t.v2", 12, false); /* the created time, covered as associated data */
	assert_int_equal(lb_sealed_get(f->s, "web/t", 0, &b, NULL, &e), -1);
	put(f, "web/u", "canary-value", 1);
	corrupt(f, "web+u.v1", 50, true);
	assert_int_equal(lb_sealed_get(f->s, "web/u", 0, &b, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "web/u"));
	/* A file renamed to another name is refused: the name is authenticated too. */
	put(f, "web/v", "canary-value", 1);
	{
		char from[200], to[200];
		snprintf(from, sizeof(from), "%s/sealed/web+v.v1", f->dir);
		snprintf(to, sizeof(to), "%s/sealed/web+w.v1", f->dir);
		assert_int_equal(rename(from, to), 0);
	}
	assert_int_equal(lb_sealed_get(f->s, "web/w", 0, &b, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "failed authentication"));
}

static void test_list_rm(void **state)
{
	struct fx *f = *state;
	lb_err e = {0};
	json_t *l;
	char *dump;

	put(f, "b/two", "x", 1);
	put(f, "b/two", "y", 2);
	put(f, "a", "z", 1);
	l = lb_sealed_list(f->s, &e);
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")), "a");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "version")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 1), "versions")), 2);
	dump = json_dumps(l, 0);
	assert_null(strstr(dump, "\"y\""));
	lb_json_free(dump);
	json_decref(l);
	assert_int_equal(lb_sealed_rm(f->s, "b/two", &e), 0);
	assert_int_equal(lb_sealed_rm(f->s, "b/two", &e), -1);
	assert_string_equal(e.msg, "sealed secret b/two does not exist");
	l = lb_sealed_list(f->s, &e);
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(lb_sealed_name_valid("web/api_key"));
	assert_true(lb_sealed_name_valid("a/b/c.d"));
	assert_false(lb_sealed_name_valid("/a"));
	assert_false(lb_sealed_name_valid("a/"));
	assert_false(lb_sealed_name_valid("a//b"));
	assert_false(lb_sealed_name_valid("a/../b"));
	assert_false(lb_sealed_name_valid("a/.b"));
	assert_false(lb_sealed_name_valid("a+b"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keeps_newest_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tamper_detected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_rm, setup, teardown),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
