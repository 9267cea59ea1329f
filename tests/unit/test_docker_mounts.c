/* The Docker module's pure parts: which of our tmpfs a container has at a path (dockerd 20.10
 * shows Source "" for plugin volumes, so the kernel's mountinfo decides), the ids a Mount can
 * populate with before start, mount keys from dockerd's mount IDs, and the volume records'
 * files (the durable one never replaced by an unsynced one). */
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "docker_int.h"
#include "fsutil.h"
#include "secmem.h"
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

static json_t *records(const char *names)
{
	json_t *r = json_object();

	for (const char *p = names; *p; p++)
		json_object_set_new(r, (char[]){*p, '\0'}, json_pack("{s:s}", "binding", "web"));
	return r;
}

static bool has_volumes(json_t *j, const char *names)
{
	bool ok = j && json_object_size(j) == strlen(names);

	for (const char *p = names; ok && *p; p++)
		ok = json_object_get(j, (char[]){*p, '\0'}) != NULL;
	json_decref(j);
	return ok;
}

/* Review finding: the first write after a Create renamed an unsynced file over the durable
 * one (a power loss could leave it empty). Now the unsynced write goes to run_dir and leaves
 * the durable file (the same inode, the same records) alone until the fsync'd write. */
static void test_volume_records(void **state)
{
	char sdir[] = "/tmp/lb-vrs.XXXXXX", rdir[] = "/tmp/lb-vrr.XXXXXX";
	struct stat before, after;
	json_t *r;
	bool pending = true;
	lb_err e = {0};
	int sfd, rfd;

	(void)state;
	assert_non_null(mkdtemp(sdir));
	assert_non_null(mkdtemp(rdir));
	sfd = open(sdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	rfd = open(rdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	assert_true(sfd >= 0 && rfd >= 0);
	assert_null(dk_volume_records_read(sfd, rfd, &pending));
	assert_false(pending);
	r = records("a");
	assert_int_equal(dk_volume_records_write(sfd, rfd, r, true), 0);
	json_decref(r);
	assert_int_equal(fstatat(sfd, VOLUMES_FILE, &before, 0), 0);
	/* A Create: written at once, unsynced, beside the durable file. */
	r = records("ab");
	assert_int_equal(dk_volume_records_write(sfd, rfd, r, false), 0);
	json_decref(r);
	assert_int_equal(fstatat(sfd, VOLUMES_FILE, &after, 0), 0);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(before.st_size, after.st_size);
	assert_true(has_volumes(dk_volume_records_read(sfd, rfd, &pending), "ab"));
	assert_true(pending); /* a crash now: the newer records are found */
	/* The next loop turn: fsync'd, the unsynced copy gone. */
	r = records("ab");
	assert_int_equal(dk_volume_records_write(sfd, rfd, r, true), 0);
	json_decref(r);
	assert_int_equal(faccessat(rfd, VOLUMES_PENDING_FILE, F_OK, 0), -1);
	assert_true(has_volumes(dk_volume_records_read(sfd, rfd, &pending), "ab"));
	assert_false(pending);
	/* An unsynced copy cut short (a run_dir on disk, a power loss): the durable one wins. */
	assert_int_equal(
	    lb_write_cache_at(rfd, VOLUMES_PENDING_FILE, "{\"a\": {\"bin", 12, 0600, &e), 0);
	assert_true(has_volumes(dk_volume_records_read(sfd, rfd, &pending), "ab"));
	assert_false(pending);
	unlinkat(rfd, VOLUMES_PENDING_FILE, 0);
	unlinkat(sfd, VOLUMES_FILE, 0);
	close(sfd);
	close(rfd);
	assert_int_equal(rmdir(sdir), 0);
	assert_int_equal(rmdir(rdir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mount_at),
	    cmocka_unit_test(test_early_ids),
	    cmocka_unit_test(test_mount_key),
	    cmocka_unit_test(test_volume_records),
	};
	if (lb_secmem_init() < 0) /* jansson's allocator, as lockboxd's */
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
