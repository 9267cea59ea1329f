/* The Docker module's pure parts: which of our tmpfs a container has at a path (dockerd 20.10
 * shows Source "" for plugin volumes, so the kernel's mountinfo decides), the ids a Mount can
 * populate with before start, and mount keys from dockerd's mount IDs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "docker_int.h"
#include "procfacts.h"

/* Two containers' views: each has one of our tmpfs (0:59, 0:61) at /run/secrets. */
static const char *const MI_A =
    "100 90 0:43 / / rw,relatime - overlay overlay rw\n"
    "173 100 0:59 / /run/secrets ro,nosuid,nodev,noexec,relatime - tmpfs none rw\n"
    "174 100 0:60 / /run/other ro - tmpfs none rw\n";
/* Something mounted over /run/secrets later: the last mount there is what the app sees. */
static const char *const MI_STACKED = "100 90 0:43 / / rw,relatime - overlay overlay rw\n"
				      "173 100 0:59 / /run/secrets ro - tmpfs none rw\n"
				      "180 173 0:70 / /run/secrets rw - tmpfs tmpfs rw\n";

static void setup_volume(struct lb_docker *d, struct volume *v, struct mount *m, size_t n)
{
	memset(d, 0, sizeof(*d));
	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "compose_secrets");
	for (size_t i = 0; i < n; i++) {
		memset(&m[i], 0, sizeof(m[i]));
		snprintf(m[i].target, sizeof(m[i].target), "@%zu", i);
		m[i].dev = makedev(0, 59 + (unsigned)i); /* 0:59, 0:60, 0:61 */
		m[i].v = v;
		m[i].next = i + 1 < n ? &m[i + 1] : NULL;
	}
	v->mounts = &m[0];
	d->vols = v;
}

static void test_mount_at(void **state)
{
	struct lb_docker d;
	struct volume v;
	struct mount m[3];
	lb_mounts mi = {0};
	lb_err e = {0};

	(void)state;
	setup_volume(&d, &v, m, 3);
	assert_int_equal(lb_procfacts_parse_mountinfo(MI_A, &mi, &e), 0);
	assert_ptr_equal(dk_mount_at(&d, &mi, "/run/secrets"), &m[0]);
	assert_ptr_equal(dk_mount_at(&d, &mi, "/run/other"), &m[1]);
	assert_null(dk_mount_at(&d, &mi, "/run/nothing"));
	assert_null(dk_mount_at(&d, &mi, "/"));	 /* not ours */
	assert_null(dk_mount_at(&d, &mi, NULL)); /* no Destination in inspect */
	assert_int_equal(lb_procfacts_parse_mountinfo(MI_STACKED, &mi, &e), 0);
	/* The tmpfs under another mount is not what the app reads: no match. */
	assert_null(dk_mount_at(&d, &mi, "/run/secrets"));
	lb_mounts_clear(&mi);
}

static void test_early_ids(void **state)
{
	uint32_t uid = 7, gid = 7;

	(void)state;
	assert_true(dk_early_ids("", &uid, &gid));
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	assert_true(dk_early_ids(NULL, &uid, &gid));
	assert_int_equal(uid, 0);
	assert_true(dk_early_ids("1000", &uid, &gid));
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 1000); /* a guess; start checks the container's passwd */
	assert_true(dk_early_ids("1000:", &uid, &gid));
	assert_int_equal(gid, 1000);
	assert_true(dk_early_ids("1000:50", &uid, &gid));
	assert_int_equal(uid, 1000);
	assert_int_equal(gid, 50);
	/* Names, and what runc would read differently, wait for start. */
	assert_false(dk_early_ids("app", &uid, &gid));
	assert_false(dk_early_ids("1000:staff", &uid, &gid));
	assert_false(dk_early_ids(" 1000", &uid, &gid));
	assert_false(dk_early_ids("1000:5x", &uid, &gid));
	assert_false(dk_early_ids("1000:99999999999", &uid, &gid));
	assert_false(dk_early_ids("4294967296", &uid, &gid));
}

static void test_mount_key(void **state)
{
	char key[KEY_MAX + 1];
	const char *id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	(void)state;
	dk_mount_key(id, key, sizeof(key));
	assert_string_equal(key, id);
	/* Anything else: a digest, hex, never the text itself (no '/' or '..' in a path). */
	dk_mount_key("../../etc", key, sizeof(key));
	assert_int_equal(strlen(key), 32);
	assert_int_equal(strspn(key, "0123456789abcdef"), 32);
	assert_true(dk_id_ok(key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mount_at),
	    cmocka_unit_test(test_early_ids),
	    cmocka_unit_test(test_mount_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
