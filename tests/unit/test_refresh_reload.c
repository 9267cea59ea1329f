/* Reload (broker/reload.c) below the shell: a whole lb_broker on sealed stores in a temp
 * directory, its config file rewritten and lb_broker_reload called. Needs root for the
 * target tmpfs mounts (exits 77 without, unless LOCKBOX_MUST_WORK=1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"
#include "fsutil.h"
#include "layout.h"
#include "sealed.h"

struct fx {
	char dir[64], run[96], state[96], conf[96];
	lb_loop *loop;
	lb_broker *b;
	lb_sealed *sealed; /* the test's own handle, as `lockboxctl secret put` offline */
	int statefd;
};

static bool must_work(void)
{
	const char *v = getenv("LOCKBOX_MUST_WORK");

	return v && strcmp(v, "1") == 0;
}

/* stores: extra store entries; targets: the targets object's body. */
static void write_config(struct fx *x, const char *stores, const char *targets)
{
	FILE *f = fopen(x->conf, "w");

	assert_non_null(f);
	fprintf(f,
		"{\"run_dir\": \"%s\", \"state_dir\": \"%s\",\n"
		" \"stores\": {\"local\": {\"type\": \"sealed\"}%s},\n"
		" \"bindings\": {\"web\": {\"secrets\": {\"pw\": \"local:web/pw\"}, \"grace\": "
		"\"1s\"}},\n"
		" \"targets\": {%s}}\n",
		x->run, x->state, stores, targets);
	assert_int_equal(fclose(f), 0);
}

static void put(struct fx *x, const char *value)
{
	lb_secbuf *v = lb_secbuf_dup(value, strlen(value));
	lb_err e = {0};
	uint32_t version;

	assert_int_equal(lb_sealed_put(x->sealed, "web/pw", v, &version, &e), 0);
	lb_secbuf_free(v);
}

static void start(struct fx *x)
{
	lb_diag d = {0};
	lb_err e = {0};
	lb_config *cfg = lb_config_load(x->conf, &d);

	assert_non_null(cfg);
	x->b = lb_broker_new(x->loop, cfg, x->conf, &e);
	if (!x->b)
		fail_msg("lb_broker_new: %s", e.msg);
}

static int reload(struct fx *x)
{
	lb_diag d = {0};
	int rc = lb_broker_reload(x->b, &d);

	lb_diag_free(&d);
	return rc;
}

static const char *content(struct fx *x, const char *target, const char *secret)
{
	static char buf[128];
	char path[256];
	int fd;
	ssize_t n = 0;

	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/%s/%s", x->run, target, secret);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static bool exists(struct fx *x, const char *target)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/%s", x->run, target);
	return stat(path, &st) == 0;
}

static uid_t owner(struct fx *x, const char *target, const char *secret)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/" LB_TARGETS_SUBDIR "/%s/%s", x->run, target, secret);
	assert_int_equal(stat(path, &st), 0);
	return st.st_uid;
}

static int teardown(void **state);

/* A setup that fails frees what it made (cmocka runs no teardown then). */
static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	lb_err e = {0};

	if (!x)
		return -1;
	*state = x;
	x->statefd = -1;
	snprintf(x->dir, sizeof(x->dir), "/tmp/lb-reload-XXXXXX");
	if (lb_secmem_init() < 0 || !mkdtemp(x->dir))
		goto fail;
	snprintf(x->run, sizeof(x->run), "%s/run", x->dir);
	snprintf(x->state, sizeof(x->state), "%s/state", x->dir);
	snprintf(x->conf, sizeof(x->conf), "%s/lockbox.json", x->dir);
	if (mkdir(x->state, 0700) < 0)
		goto fail;
	x->statefd = open(x->state, O_DIRECTORY | O_CLOEXEC);
	x->loop = lb_loop_new();
	if (x->statefd >= 0 && x->loop && lb_sealed_open(x->statefd, true, &x->sealed, &e) == 0)
		return 0;
fail:
	teardown(state);
	return -1;
}

static int teardown(void **state)
{
	struct fx *x = *state;
	int tdirfd;
	DIR *d;
	struct dirent *de;
	lb_err e = {0};
	int parent = open("/tmp", O_DIRECTORY | O_CLOEXEC);

	lb_broker_free(x->b); /* target tmpfs stay mounted, as on a broker stop */
	snprintf(x->conf, sizeof(x->conf), "%s/" LB_TARGETS_SUBDIR, x->run);
	tdirfd = open(x->conf, O_DIRECTORY | O_CLOEXEC);
	d = tdirfd >= 0 ? fdopendir(dup(tdirfd)) : NULL;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    lb_target_remove_stale(tdirfd, x->run, de->d_name, &e) < 0)
			print_error("%s\n", e.msg);
	if (d)
		closedir(d);
	if (tdirfd >= 0)
		close(tdirfd);
	lb_sealed_close(x->sealed);
	if (x->statefd >= 0)
		close(x->statefd);
	lb_loop_free(x->loop);
	lb_remove_tree_at(parent, x->dir + 5, false, &e);
	close(parent);
	free(x);
	return 0;
}

#define T1 "\"t1\": {\"binding\": \"web\", \"uid\": 1000, \"gid\": 1000}"
#define T2 "\"t2\": {\"binding\": \"web\", \"uid\": 1000, \"gid\": 1000}"

/* Targets come and go with the config; the ones that stay keep their files. */
static void test_reload_adds_and_removes_targets(void **state)
{
	struct fx *x = *state;

	put(x, "pw-1");
	write_config(x, "", T1);
	start(x);
	assert_string_equal(content(x, "t1", "pw"), "pw-1");
	assert_false(exists(x, "t2"));
	write_config(x, "", T2);
	assert_int_equal(reload(x), 0);
	assert_string_equal(content(x, "t2", "pw"), "pw-1");
	assert_false(exists(x, "t1"));
	assert_null(lb_broker_target(x->b, "t1"));
	assert_non_null(lb_broker_target(x->b, "t2"));
}

/* A static target's consumer ids come from the config in force: a reload that changes them
 * republishes the files for the new owner. */
static void test_reload_changes_owner(void **state)
{
	struct fx *x = *state;

	put(x, "pw-1");
	write_config(x, "", T1);
	start(x);
	assert_int_equal(owner(x, "t1", "pw"), 1000);
	write_config(x, "", "\"t1\": {\"binding\": \"web\", \"uid\": 2000, \"gid\": 2000}");
	assert_int_equal(reload(x), 0);
	assert_int_equal(owner(x, "t1", "pw"), 2000);
	assert_string_equal(content(x, "t1", "pw"), "pw-1");
}

/* A reload whose new store cannot open fails and leaves every running store in place: the
 * unchanged store it would have carried over keeps serving. */
static void test_failed_reload_keeps_running_stores(void **state)
{
	struct fx *x = *state;
	char key[32], bad[7] = "broken";
	int fd;

	put(x, "pw-1");
	write_config(x, "", T1);
	start(x);
	assert_string_equal(content(x, "t1", "pw"), "pw-1");
	put(x, "pw-2");
	/* A second sealed store cannot open while sealed.key is damaged. */
	fd = openat(x->statefd, "sealed.key", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, key, sizeof(key), 0), sizeof(key));
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, bad, sizeof(bad), 0), sizeof(bad));
	write_config(x, ", \"other\": {\"type\": \"sealed\"}", T1);
	assert_int_equal(reload(x), -1);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, key, sizeof(key), 0), sizeof(key));
	close(fd);
	lb_broker_refresh_all(x->b, "SIGUSR1");
	assert_string_equal(content(x, "t1", "pw"), "pw-2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reload_adds_and_removes_targets, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload_changes_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_reload_keeps_running_stores, setup,
					    teardown),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_refresh_reload: needs root for tmpfs mounts\n");
		return must_work() ? 1 : 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
