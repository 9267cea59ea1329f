/* Posture gate: real `docker inspect` output and /proc files of real containers (captured by
 * tests/docker/capture_inspect.sh from dockerd 20.10 with --userns-remap=default) through
 * lb_inspect_facts_from_json, the procfacts parsers and lb_posture_evaluate (every evaluation
 * also checks lb_posture_verdict against it: pf_evaluate); the managed-secret hash set. The
 * procfacts parsers alone: test_procfacts_parse.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posture_fixture.h"
#include "procfacts.h"
#include "secmem.h"
#include "secret_hash.h"

/* ---- the matrix: one captured container per property ---- */

static const struct variant {
	const char *name;
	uint32_t failed; /* with every check but lsm required */
	bool running;	 /* kernel facts captured */
} variants[] = {
    {"compliant", 0, true},
    {"root", BIT(NON_ROOT), true},
    /* --privileged needs --userns host under remap; privileged means all capabilities and no
     * seccomp, whatever --cap-drop and the default profile say. */
    {"privileged", BIT(NO_PRIVILEGED) | BIT(CAP_DROP_ALL) | BIT(SECCOMP) | BIT(USERNS_REMAP), true},
    {"cap-add-sys-admin", BIT(CAP_DROP_ALL), true},
    {"no-cap-drop", BIT(CAP_DROP_ALL), true},
    {"seccomp-unconfined", BIT(SECCOMP), true},
    {"no-nnp", BIT(NO_NEW_PRIVILEGES), true},
    {"writable-rootfs", BIT(READ_ONLY_ROOTFS), true},
    {"net-host", BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP), true},
    {"pid-host", BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP), true},
    {"ipc-host", BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP), true},
    {"uts-host", BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP), true},
    /* /var/run/docker.sock is also on DESIGN.md's list of sensitive mounts. */
    {"docker-sock", BIT(NO_DOCKER_SOCKET) | BIT(NO_SENSITIVE_MOUNTS), false},
    {"docker-sock-private", BIT(NO_DOCKER_SOCKET), true},
    {"host-etc", BIT(NO_SENSITIVE_MOUNTS), true},
    {"no-memory", BIT(MEMORY_LIMIT), true},
    {"no-pids-limit", BIT(PIDS_LIMIT), true},
    {"secret-env", BIT(NO_SECRET_ENV), true},
    {"userns-host", BIT(USERNS_REMAP), true},
    {"root-cap-sys-admin", BIT(NON_ROOT) | BIT(CAP_DROP_ALL), true},
    {"apparmor-unconfined", 0, true},
    {"nnp-true", 0, true},
};

static void test_matrix(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		const struct variant *v = &variants[i];
		lb_inspect_facts f;
		lb_kernel_facts k;
		lb_posture_report rep;
		char what[128];

		pf_load_inspect(v->name, &f);
		snprintf(what, sizeof(what), "%s (inspect)", v->name);
		pf_evaluate(ALL_BUT_LSM, &f, NULL, NULL, &rep);
		pf_expect_failed(what, &rep, v->failed);
		for (int c = 0; c < LB_CHECK_COUNT; c++)
			assert_false(rep.check[c].kernel_checked);
		assert_int_equal(pf_load_kernel(v->name, &k), v->running);
		if (v->running) {
			snprintf(what, sizeof(what), "%s (inspect+kernel)", v->name);
			pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
			pf_expect_failed(what, &rep, v->failed);
			pf_expect_no_disagreement(what, &rep);
			assert_true(rep.check[LB_CHECK_NON_ROOT].kernel_checked);
			assert_false(rep.check[LB_CHECK_MEMORY_LIMIT].kernel_checked);
			lb_kernel_facts_clear(&k);
		}
		lb_inspect_facts_clear(&f);
	}
}

/* One requirement at a time: the line docker run prints names exactly that check. */
static const struct line_case {
	const char *variant;
	enum lb_check check;
	const char *line; /* after "refused container: ", with and without kernel facts */
} lines[] = {
    {"root", LB_CHECK_NON_ROOT, "runs as root (non-root)"},
    {"privileged", LB_CHECK_NO_PRIVILEGED, "privileged (no-privileged)"},
    {"privileged", LB_CHECK_CAP_DROP_ALL, "privileged (has all capabilities) (cap-drop-all)"},
    {"cap-add-sys-admin", LB_CHECK_CAP_DROP_ALL, "has CAP_SYS_ADMIN (cap-drop-all)"},
    {"no-cap-drop", LB_CHECK_CAP_DROP_ALL,
     "keeps the default capabilities (no --cap-drop ALL) (cap-drop-all)"},
    {"seccomp-unconfined", LB_CHECK_SECCOMP, "seccomp unconfined (seccomp)"},
    {"no-nnp", LB_CHECK_NO_NEW_PRIVILEGES, "no-new-privileges not set (no-new-privileges)"},
    {"writable-rootfs", LB_CHECK_READ_ONLY_ROOTFS, "writable root filesystem (read-only-rootfs)"},
    {"net-host", LB_CHECK_NO_HOST_NAMESPACES, "shares the host net namespace (no-host-namespaces)"},
    {"pid-host", LB_CHECK_NO_HOST_NAMESPACES, "shares the host pid namespace (no-host-namespaces)"},
    {"ipc-host", LB_CHECK_NO_HOST_NAMESPACES, "shares the host ipc namespace (no-host-namespaces)"},
    {"uts-host", LB_CHECK_NO_HOST_NAMESPACES, "shares the host uts namespace (no-host-namespaces)"},
    {"docker-sock", LB_CHECK_NO_DOCKER_SOCKET,
     "mounts the docker socket (/var/run/docker.sock) (no-docker-socket)"},
    {"docker-sock", LB_CHECK_NO_SENSITIVE_MOUNTS,
     "mounts host /var/run/docker.sock (no-sensitive-mounts)"},
    {"host-etc", LB_CHECK_NO_SENSITIVE_MOUNTS, "mounts host /etc (no-sensitive-mounts)"},
    {"no-memory", LB_CHECK_MEMORY_LIMIT, "no memory limit (memory-limit)"},
    {"no-pids-limit", LB_CHECK_PIDS_LIMIT, "no pids limit (pids-limit)"},
    {"secret-env", LB_CHECK_NO_SECRET_ENV, "secret-looking env DB_PASSWORD (no-secret-env)"},
    {"userns-host", LB_CHECK_USERNS_REMAP, "shares the host user namespace (userns-remap)"},
    {"apparmor-unconfined", LB_CHECK_LSM, "apparmor unconfined (lsm)"},
    {"compliant", LB_CHECK_LSM, "no AppArmor or SELinux confinement (lsm)"},
};

static void test_refusal_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct line_case *lc = &lines[i];
		lb_inspect_facts f;
		lb_kernel_facts k;
		lb_posture_report rep;
		char want[512], got[512];

		pf_load_inspect(lc->variant, &f);
		pf_evaluate(LB_CHECK_BIT(lc->check), &f, NULL, NULL, &rep);
		assert_int_equal(rep.failed, LB_CHECK_BIT(lc->check));
		snprintf(want, sizeof(want), "lockbox: binding web refused container: %s",
			 lc->line);
		lb_posture_refusal_line(&rep, "web", got, sizeof(got));
		assert_string_equal(got, want);
		if (pf_load_kernel(lc->variant, &k)) {
			pf_evaluate(LB_CHECK_BIT(lc->check), &f, &k, NULL, &rep);
			assert_int_equal(rep.failed, LB_CHECK_BIT(lc->check));
			lb_posture_refusal_line(&rep, "web", got, sizeof(got));
			assert_string_equal(got, want);
			assert_false(rep.check[lc->check].disagree);
			lb_kernel_facts_clear(&k);
		}
		lb_inspect_facts_clear(&f);
	}
}

/* The example, from a real root container with --cap-add SYS_ADMIN. */
static void test_refusal_line_example(void **state)
{
	static const char want[] = "lockbox: binding web refused container: runs as root "
				   "(non-root), has CAP_SYS_ADMIN (cap-drop-all)";
	uint32_t require = BIT(NON_ROOT) | BIT(CAP_DROP_ALL) | BIT(NO_NEW_PRIVILEGES);
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;
	char got[512];

	(void)state;
	pf_load_inspect("root-cap-sys-admin", &f);
	assert_true(pf_load_kernel("root-cap-sys-admin", &k));
	pf_evaluate(require, &f, NULL, NULL, &rep);
	assert_int_equal(lb_posture_refusal_line(&rep, "web", got, sizeof(got)), strlen(want));
	assert_string_equal(got, want);
	pf_evaluate(require, &f, &k, NULL, &rep);
	lb_posture_refusal_line(&rep, "web", got, sizeof(got));
	assert_string_equal(got, want);
	/* A short buffer is cut, the length needed is still told. */
	assert_int_equal(lb_posture_refusal_line(&rep, "web", got, 10), strlen(want));
	assert_string_equal(got, "lockbox: ");
	/* Nothing failed: the line says so. */
	pf_evaluate(BIT(NO_NEW_PRIVILEGES), &f, &k, NULL, &rep);
	lb_posture_refusal_line(&rep, "web", got, sizeof(got));
	assert_string_equal(got, "lockbox: binding web admitted container");
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

/* Inspect says user 1000; the kernel shows host uid 100000, root through the remap. */
static void test_disagreement_names_both_sources(void **state)
{
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;
	const lb_posture_result *r;
	char line[1024];

	(void)state;
	pf_load_inspect("compliant", &f);
	assert_true(pf_load_kernel("root", &k));
	assert_int_equal(k.uid[0], 100000);
	assert_int_equal(pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep), BIT(NON_ROOT));
	r = &rep.check[LB_CHECK_NON_ROOT];
	assert_false(r->pass);
	assert_true(r->disagree);
	assert_string_equal(r->inspect, "User=\"1000\"");
	assert_string_equal(r->kernel, "Uid 100000 100000 100000 100000 = container uid 0 via "
				       "uid_map \"0 100000 65536\"");
	assert_string_equal(r->reason,
			    "runs as root according to the kernel (Uid 100000 100000 100000 100000 "
			    "= container uid 0 via uid_map \"0 100000 65536\") but not to inspect "
			    "(User=\"1000\")");
	lb_posture_refusal_line(&rep, "web", line, sizeof(line));
	assert_non_null(strstr(line, "lockbox: binding web refused container: runs as root "
				     "according to the kernel"));
	assert_non_null(strstr(line, "(non-root)"));

	/* The other way round: inspect says root, the kernel a remapped uid 1000. */
	lb_inspect_facts_clear(&f);
	lb_kernel_facts_clear(&k);
	pf_load_inspect("root", &f);
	assert_true(pf_load_kernel("compliant", &k));
	pf_evaluate(BIT(NON_ROOT), &f, &k, NULL, &rep);
	r = &rep.check[LB_CHECK_NON_ROOT];
	assert_true(r->disagree);
	assert_string_equal(r->reason, "runs as root according to inspect (User=\"\") but not to "
				       "the kernel (Uid 101000 101000 101000 101000 = container "
				       "uid 1000 via uid_map \"0 100000 65536\")");

	/* Same kernel facts, but the kernel's view of caps and seccomp differs from inspect. */
	lb_inspect_facts_clear(&f);
	lb_kernel_facts_clear(&k);
	pf_load_inspect("compliant", &f);
	assert_true(pf_load_kernel("seccomp-unconfined", &k));
	pf_evaluate(BIT(SECCOMP), &f, &k, NULL, &rep);
	assert_true(rep.check[LB_CHECK_SECCOMP].disagree);
	assert_string_equal(rep.check[LB_CHECK_SECCOMP].reason,
			    "seccomp unconfined according to the kernel (Seccomp=0 (disabled)) but "
			    "not to inspect (SecurityOpt=[no-new-privileges] Privileged=false)");
	lb_kernel_facts_clear(&k);
	assert_true(pf_load_kernel("no-cap-drop", &k));
	pf_evaluate(BIT(CAP_DROP_ALL), &f, &k, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].reason,
			    "has CAP_CHOWN and 13 more capabilities according to the kernel "
			    "(CapEff=0 CapPrm=0 CapBnd=0xa80425fb CapAmb=0 (CAP_CHOWN "
			    "CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID "
			    "CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_MKNOD "
			    "CAP_AUDIT_WRITE CAP_SETFCAP)) but not to inspect (CapDrop=[ALL] "
			    "CapAdd=[] Privileged=false)");
	lb_kernel_facts_clear(&k);
	assert_true(pf_load_kernel("pid-host", &k));
	assert_int_equal(pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep),
			 BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP));
	assert_true(rep.check[LB_CHECK_NO_HOST_NAMESPACES].disagree);
	assert_true(rep.check[LB_CHECK_USERNS_REMAP].disagree);
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

static void test_user_names(void **state)
{
	json_t *j = pf_load_json("compliant");
	lb_inspect_facts f;
	lb_posture_report rep;

	(void)state;
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("app:app"));
	pf_load_inspect_json(j, &f);
	assert_int_equal(f.uid, -1);
	pf_evaluate(BIT(NON_ROOT), &f, NULL, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_NON_ROOT].reason, "user name not resolved to a uid");
	f.uid = 1000; /* resolved by the caller from the image's /etc/passwd */
	assert_int_equal(pf_evaluate(BIT(NON_ROOT), &f, NULL, NULL, &rep), 0);
	assert_string_equal(rep.check[LB_CHECK_NON_ROOT].inspect, "User=\"app:app\" = uid 1000");
	lb_inspect_facts_clear(&f);

	j = pf_load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("root:1000"));
	pf_load_inspect_json(j, &f);
	assert_int_equal(f.uid, 0);
	lb_inspect_facts_clear(&f);
	j = pf_load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("0"));
	pf_load_inspect_json(j, &f);
	assert_int_equal(f.uid, 0);
	lb_inspect_facts_clear(&f);
}

/* No AppArmor or SELinux on the capturing host: lsm fails everything there. With a profile,
 * inspect and kernel must both show it. */
static void test_lsm(void **state)
{
	json_t *j = pf_load_json("compliant");
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;

	(void)state;
	assert_true(pf_load_kernel("compliant", &k));
	assert_false(k.lsm_available);
	json_object_set_new(j, "AppArmorProfile", json_string("docker-default"));
	pf_load_inspect_json(j, &f);
	assert_int_equal(pf_evaluate(BIT(LSM), &f, NULL, NULL, &rep), 0);
	lb_procfacts_set_lsm(&k, "docker-default (enforce)\n");
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), 0);
	assert_string_equal(rep.check[LB_CHECK_LSM].kernel,
			    "attr/current \"docker-default (enforce)\"");
	lb_procfacts_set_lsm(&k, "unconfined\n");
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	assert_true(rep.check[LB_CHECK_LSM].disagree);
	lb_procfacts_set_lsm(&k, "docker-default (complain)");
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	/* SELinux labels come NUL-terminated. */
	lb_procfacts_set_lsm(&k, "system_u:system_r:container_t:s0:c1,c2");
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), 0);
	lb_procfacts_set_lsm(&k, "system_u:system_r:spc_t:s0");
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	lb_procfacts_set_lsm(&k, NULL);
	assert_int_equal(pf_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	assert_string_equal(rep.check[LB_CHECK_LSM].kernel,
			    "attr/current unreadable (no AppArmor or SELinux)");
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

static void test_default_require(void **state)
{
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;
	static const char *const refused[] = {
	    "privileged",	   "net-host",	"pid-host", "ipc-host", "uts-host", "docker-sock",
	    "docker-sock-private", "secret-env"};

	(void)state;
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		bool want_refused = false;

		for (size_t r = 0; r < sizeof(refused) / sizeof(refused[0]); r++)
			want_refused |= strcmp(refused[r], variants[i].name) == 0;
		pf_load_inspect(variants[i].name, &f);
		pf_evaluate(LB_CHECKS_DEFAULT, &f, NULL, NULL, &rep);
		if ((rep.failed != 0) != want_refused)
			fail_msg("%s: default require %s", variants[i].name,
				 rep.failed ? "refused" : "admitted");
		if (pf_load_kernel(variants[i].name, &k)) {
			pf_evaluate(LB_CHECKS_DEFAULT, &f, &k, NULL, &rep);
			assert_int_equal(rep.failed != 0, want_refused);
			lb_kernel_facts_clear(&k);
		}
		lb_inspect_facts_clear(&f);
	}
}

static void test_secret_env(void **state)
{
	static const char value[] = "canary-0123456789";
	_cleanup_secret_hashes_ lb_secret_hashes *h = NULL;
	json_t *j = pf_load_json("compliant");
	lb_inspect_facts f;
	lb_posture_report rep;
	lb_err e = {0};
	char line[512];

	(void)state;
	h = lb_secret_hashes_new(&e);
	assert_non_null(h);
	assert_int_equal(lb_secret_hashes_add(h, value, strlen(value), &e), 0);
	json_object_set_new(json_object_get(j, "Config"), "Env",
			    json_pack("[s,s,s,s,s,s]", "PATH=/usr/bin",
				      "DB_PASSWORD_FILE=/run/s/db",
				      "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D",
				      "KEY_PATH=/k", "X=canary-0123456789", "EMPTY"));
	pf_load_inspect_json(j, &f);
	assert_int_equal(pf_evaluate(BIT(NO_SECRET_ENV), &f, NULL, NULL, &rep), 0);
	assert_int_equal(pf_evaluate(BIT(NO_SECRET_ENV), &f, NULL, h, &rep), BIT(NO_SECRET_ENV));
	lb_posture_refusal_line(&rep, "web", line, sizeof(line));
	assert_string_equal(line, "lockbox: binding web refused container: env X holds a managed "
				  "secret (no-secret-env)");
	/* Evidence has names only, never a value. */
	assert_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, value));
	assert_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, "/run/s/db"));
	assert_non_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, "DB_PASSWORD_FILE"));
	assert_true(lb_secret_hashes_remove(h, value, strlen(value)));
	assert_int_equal(pf_evaluate(BIT(NO_SECRET_ENV), &f, NULL, h, &rep), 0);
	lb_inspect_facts_clear(&f);

	j = pf_load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "Env",
			    json_pack("[s,s,s,s,s,s]", "api_key=x", "GITHUB_TOKEN=x", "MY_SECRET=x",
				      "AWS_SECRET_ACCESS_KEY=x", "PGPASSWD=x", "X\x01Y=1"));
	pf_load_inspect_json(j, &f);
	pf_evaluate(BIT(NO_SECRET_ENV), &f, NULL, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_NO_SECRET_ENV].reason,
			    "secret-looking env api_key GITHUB_TOKEN MY_SECRET ...");
	/* Control bytes from the container's config are escaped. */
	assert_non_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, "X\\x01Y"));
	lb_inspect_facts_clear(&f);
}

static void test_secret_hashes(void **state)
{
	_cleanup_secret_hashes_ lb_secret_hashes *a = NULL, *b = NULL;
	lb_err e = {0};

	(void)state;
	a = lb_secret_hashes_new(&e);
	b = lb_secret_hashes_new(&e);
	assert_non_null(a);
	assert_non_null(b);
	assert_false(lb_secret_hashes_contains(a, "hunter22", 8));
	assert_int_equal(lb_secret_hashes_add(a, "hunter22", 8, &e), 0);
	assert_int_equal(lb_secret_hashes_add(a, "hunter22", 8, &e), 0); /* second target */
	assert_int_equal(lb_secret_hashes_add(a, "other-value", 11, &e), 0);
	assert_int_equal(lb_secret_hashes_count(a), 2);
	assert_true(lb_secret_hashes_contains(a, "hunter22", 8));
	assert_false(lb_secret_hashes_contains(a, "hunter2", 7));
	assert_false(lb_secret_hashes_contains(a, "hunter222", 9));
	assert_false(lb_secret_hashes_contains(b, "hunter22", 8));
	/* Reference counted: still there after one of two targets let go. */
	assert_true(lb_secret_hashes_remove(a, "hunter22", 8));
	assert_true(lb_secret_hashes_contains(a, "hunter22", 8));
	assert_true(lb_secret_hashes_remove(a, "hunter22", 8));
	assert_false(lb_secret_hashes_contains(a, "hunter22", 8));
	assert_false(lb_secret_hashes_remove(a, "hunter22", 8));
	assert_int_equal(lb_secret_hashes_count(a), 1);
	/* Too short to mean anything. */
	assert_int_equal(lb_secret_hashes_add(a, "abc", 3, &e), 0);
	assert_false(lb_secret_hashes_contains(a, "abc", 3));
	/* Binary values and many of them keep the set ordered. */
	for (unsigned i = 0; i < 500; i++) {
		unsigned char v[8] = {0, 1, 2, 3, (unsigned char)i, (unsigned char)(i >> 8), 0, 9};
		assert_int_equal(lb_secret_hashes_add(b, v, sizeof(v), &e), 0);
	}
	assert_int_equal(lb_secret_hashes_count(b), 500);
	for (unsigned i = 0; i < 500; i += 7) {
		unsigned char v[8] = {0, 1, 2, 3, (unsigned char)i, (unsigned char)(i >> 8), 0, 9};
		assert_true(lb_secret_hashes_contains(b, v, sizeof(v)));
	}
	assert_false(lb_secret_hashes_contains(NULL, "hunter22", 8));
}

static void test_report_json(void **state)
{
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;
	json_t *j, *c;

	(void)state;
	pf_load_inspect("root", &f);
	pf_evaluate(BIT(NON_ROOT) | BIT(NO_PRIVILEGED), &f, NULL, NULL, &rep);
	j = lb_posture_report_json(&rep);
	assert_non_null(j);
	assert_false(json_is_true(json_object_get(j, "ok")));
	assert_false(json_is_true(json_object_get(j, "kernel_checked")));
	assert_string_equal(json_string_value(json_object_get(j, "container")), f.id);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "/lbp-root");
	assert_int_equal(json_array_size(json_object_get(j, "failed")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(j, "failed"), 0)),
			    "non-root");
	assert_int_equal(json_array_size(json_object_get(j, "checks")), LB_CHECK_COUNT);
	c = json_array_get(json_object_get(j, "checks"), LB_CHECK_NON_ROOT);
	assert_string_equal(json_string_value(json_object_get(c, "check")), "non-root");
	assert_true(json_is_true(json_object_get(c, "required")));
	assert_false(json_is_true(json_object_get(c, "pass")));
	assert_string_equal(json_string_value(json_object_get(c, "reason")), "runs as root");
	assert_string_equal(json_string_value(json_object_get(c, "inspect")), "User=\"\"");
	assert_true(json_is_null(json_object_get(c, "kernel")));
	/* Not required, failing, still reported. */
	c = json_array_get(json_object_get(j, "checks"), LB_CHECK_LSM);
	assert_false(json_is_true(json_object_get(c, "required")));
	assert_false(json_is_true(json_object_get(c, "pass")));
	c = json_array_get(json_object_get(j, "checks"), LB_CHECK_NO_PRIVILEGED);
	assert_true(json_is_true(json_object_get(c, "pass")));
	assert_true(json_is_null(json_object_get(c, "reason")));
	json_decref(j);

	assert_true(pf_load_kernel("root", &k));
	pf_evaluate(BIT(NON_ROOT), &f, &k, NULL, &rep);
	j = lb_posture_report_json(&rep);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "kernel_checked")));
	c = json_array_get(json_object_get(j, "checks"), LB_CHECK_NON_ROOT);
	assert_string_equal(json_string_value(json_object_get(c, "kernel")),
			    "Uid 100000 100000 100000 100000 = container uid 0 via uid_map \"0 "
			    "100000 65536\"");
	c = json_array_get(json_object_get(j, "checks"), LB_CHECK_NO_PRIVILEGED);
	assert_true(json_is_null(json_object_get(c, "kernel")));
	json_decref(j);
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

/* Evidence strings the audit shows, from the real captures. */
static void test_evidence(void **state)
{
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;

	(void)state;
	pf_load_inspect("host-etc", &f);
	assert_true(pf_load_kernel("host-etc", &k));
	pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_NO_SENSITIVE_MOUNTS].inspect,
			    "binds /etc:/host-etc");
	assert_string_equal(rep.check[LB_CHECK_NO_SENSITIVE_MOUNTS].kernel,
			    "host /etc at /host-etc");
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].kernel,
			    "CapEff=0 CapPrm=0 CapBnd=0 CapAmb=0");
	assert_string_equal(rep.check[LB_CHECK_READ_ONLY_ROOTFS].kernel, "/ mounted ro (overlay)");
	assert_string_equal(rep.check[LB_CHECK_NO_NEW_PRIVILEGES].kernel, "NoNewPrivs=1");
	assert_string_equal(rep.check[LB_CHECK_SECCOMP].kernel, "Seccomp=2 (filter)");
	assert_string_equal(rep.check[LB_CHECK_USERNS_REMAP].inspect,
			    "daemon userns-remap on, UsernsMode=\"\"");
	assert_non_null(strstr(rep.check[LB_CHECK_USERNS_REMAP].kernel,
			       "uid_map \"0 100000 65536\", user ns "));
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);

	pf_load_inspect("cap-add-sys-admin", &f);
	assert_true(pf_load_kernel("cap-add-sys-admin", &k));
	pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].inspect,
			    "CapDrop=[ALL] CapAdd=[SYS_ADMIN] Privileged=false");
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].kernel,
			    "CapEff=0 CapPrm=0 CapBnd=0x200000 CapAmb=0 (CAP_SYS_ADMIN)");
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);

	pf_load_inspect("docker-sock-private", &f);
	assert_true(pf_load_kernel("docker-sock-private", &k));
	pf_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
	assert_non_null(strstr(rep.check[LB_CHECK_NO_DOCKER_SOCKET].kernel,
			       "/docker.sock at /var/run/docker.sock"));
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

static void test_inspect_errors(void **state)
{
	struct {
		const char *path, *want;
		json_t *value;
	} cases[] = {
	    {"HostConfig.Privileged", "HostConfig.Privileged is not a boolean", json_string("yes")},
	    {"HostConfig.CapDrop", "HostConfig.CapDrop[0] is not a string", json_pack("[i]", 1)},
	    {"HostConfig.Memory", "HostConfig.Memory is not an integer", json_string("64m")},
	    {"Config.Env", "Config.Env is not an array", json_string("A=1")},
	    {"Mounts", "Mounts[0].Source is not a string", json_pack("[{s:i}]", "Source", 1)},
	};
	lb_inspect_facts f;
	lb_err e = {0};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = pf_load_json("compliant"), *parent = j;
		const char *dot = strchr(cases[i].path, '.');
		char key[64];

		if (dot) {
			snprintf(key, sizeof(key), "%.*s", (int)(dot - cases[i].path),
				 cases[i].path);
			parent = json_object_get(j, key);
		}
		json_object_set_new(parent, dot ? dot + 1 : cases[i].path, cases[i].value);
		assert_int_equal(lb_inspect_facts_from_json(j, true, &f, &e), -1);
		if (!strstr(e.msg, cases[i].want))
			fail_msg("%s: got \"%s\"", cases[i].path, e.msg);
		json_decref(j);
	}
	json_t *j = pf_load_json("compliant");
	assert_int_equal(lb_inspect_facts_from_json(json_object_get(j, "Config"), true, &f, &e),
			 -1);
	json_decref(j);
	/* A null PidsLimit (no --pids-limit) and -1 both mean unlimited. */
	j = pf_load_json("compliant");
	json_object_set_new(json_object_get(j, "HostConfig"), "PidsLimit", json_integer(-1));
	pf_load_inspect_json(j, &f);
	assert_int_equal(f.pids_limit, 0);
	lb_inspect_facts_clear(&f);
}

static void test_info_security_options(void **state)
{
	json_t *info = json_pack("{s:[s,s,s]}", "SecurityOptions", "name=apparmor",
				 "name=seccomp,profile=default", "name=userns");

	(void)state;
	assert_true(pf_daemon_remap()); /* the capture daemon ran with --userns-remap=default */
	assert_true(lb_info_has_security_option(info, "userns"));
	assert_true(lb_info_has_security_option(info, "seccomp"));
	assert_true(lb_info_has_security_option(info, "apparmor"));
	assert_false(lb_info_has_security_option(info, "selinux"));
	assert_false(lb_info_has_security_option(info, "user"));
	json_decref(info);
}
int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_matrix),
	    cmocka_unit_test(test_refusal_lines),
	    cmocka_unit_test(test_refusal_line_example),
	    cmocka_unit_test(test_disagreement_names_both_sources),
	    cmocka_unit_test(test_user_names),
	    cmocka_unit_test(test_lsm),
	    cmocka_unit_test(test_default_require),
	    cmocka_unit_test(test_secret_env),
	    cmocka_unit_test(test_secret_hashes),
	    cmocka_unit_test(test_report_json),
	    cmocka_unit_test(test_evidence),
	    cmocka_unit_test(test_inspect_errors),
	    cmocka_unit_test(test_info_security_options),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
