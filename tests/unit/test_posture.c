/* Posture gate: real `docker inspect` output and /proc files of real containers (captured by
 * tests/docker/capture_inspect.sh from dockerd 20.10 with --userns-remap=default) through
 * lb_inspect_facts_from_json, the procfacts parsers and lb_posture_evaluate; the managed-secret
 * hash set; procfacts on this process's own /proc. */
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

#include "posture_eval.h"
#include "procfacts.h"
#include "secmem.h"
#include "secret_hash.h"

#ifndef LB_POSTURE_FIXTURES
#error "LB_POSTURE_FIXTURES must name tests/unit/fixtures/inspect"
#endif

#define BIT(c) LB_CHECK_BIT(LB_CHECK_##c)
/* Every check but lsm: the capturing host has neither AppArmor nor SELinux, so lsm fails
 * every container there (DESIGN.md); it has its own tests. */
#define ALL_BUT_LSM (((UINT32_C(1) << LB_CHECK_COUNT) - 1) & ~BIT(LSM))

static char *slurp(const char *name)
{
	char path[512];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", LB_POSTURE_FIXTURES, name);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	(void)fclose(f); /* read only */
	return buf;
}

static bool fixture_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", LB_POSTURE_FIXTURES, name);
	return stat(path, &st) == 0;
}

static bool daemon_remap(void)
{
	char *text = slurp("info_security_options.json");
	json_t *opts, *info;
	bool on;

	assert_non_null(text);
	opts = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(opts);
	info = json_pack("{s:o}", "SecurityOptions", opts);
	on = lb_info_has_security_option(info, "userns");
	json_decref(info);
	return on;
}

static json_t *load_json(const char *variant)
{
	char name[128];
	char *text;
	json_t *j;

	snprintf(name, sizeof(name), "%s.json", variant);
	text = slurp(name);
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	return j;
}

static void load_inspect_json(json_t *j, lb_inspect_facts *f)
{
	lb_err e = {0};

	if (lb_inspect_facts_from_json(j, daemon_remap(), f, &e))
		fail_msg("inspect: %s", e.msg);
	json_decref(j);
}

static void load_inspect(const char *variant, lb_inspect_facts *f)
{
	load_inspect_json(load_json(variant), f);
}

/* The kernel facts of a captured container, through the same parsers procfacts uses. */
static bool load_kernel(const char *variant, lb_kernel_facts *k)
{
	char name[160];
	char *status, *uid_map, *gid_map, *mountinfo, *ns, *host_ns, *host_mi, *attr;
	lb_err e = {0};

	snprintf(name, sizeof(name), "%s.proc/status", variant);
	if (!fixture_exists(name))
		return false;
	lb_kernel_facts_init(k);
	status = slurp(name);
	snprintf(name, sizeof(name), "%s.proc/uid_map", variant);
	uid_map = slurp(name);
	snprintf(name, sizeof(name), "%s.proc/gid_map", variant);
	gid_map = slurp(name);
	snprintf(name, sizeof(name), "%s.proc/mountinfo", variant);
	mountinfo = slurp(name);
	snprintf(name, sizeof(name), "%s.proc/ns", variant);
	ns = slurp(name);
	snprintf(name, sizeof(name), "%s.proc/attr_current", variant);
	attr = slurp(name);
	if (!attr) {
		snprintf(name, sizeof(name), "%s.proc/apparmor_current", variant);
		attr = slurp(name);
	}
	host_ns = slurp("host.ns");
	host_mi = slurp("host.mountinfo");
	assert_non_null(status);
	assert_non_null(uid_map);
	assert_non_null(gid_map);
	assert_non_null(mountinfo);
	assert_non_null(ns);
	assert_non_null(host_ns);
	assert_non_null(host_mi);
	if (lb_procfacts_parse_status(status, k, &e) ||
	    lb_procfacts_parse_maps(uid_map, gid_map, k, &e) ||
	    lb_procfacts_parse_mountinfo(mountinfo, &k->mounts, &e) ||
	    lb_procfacts_parse_mountinfo(host_mi, &k->host_mounts, &e) ||
	    lb_procfacts_parse_ns(ns, k->ns, &e) || lb_procfacts_parse_ns(host_ns, k->host_ns, &e))
		fail_msg("%s: %s", variant, e.msg);
	lb_procfacts_set_lsm(k, attr);
	free(status);
	free(uid_map);
	free(gid_map);
	free(mountinfo);
	free(ns);
	free(host_ns);
	free(host_mi);
	free(attr);
	return true;
}

static char *failed_names(uint32_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < LB_CHECK_COUNT; i++)
		if (mask & LB_CHECK_BIT(i))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						lb_check_name((enum lb_check)i));
	return buf;
}

static void expect_failed(const char *what, const lb_posture_report *rep, uint32_t want)
{
	char got_s[512], want_s[512], line[2048];

	if (rep->failed == want)
		return;
	lb_posture_refusal_line(rep, "web", line, sizeof(line));
	fail_msg("%s: failed {%s}, expected {%s}\n  %s", what,
		 failed_names(rep->failed, got_s, sizeof(got_s)),
		 failed_names(want, want_s, sizeof(want_s)), line);
}

static void expect_no_disagreement(const char *what, const lb_posture_report *rep)
{
	for (int i = 0; i < LB_CHECK_COUNT; i++)
		if (rep->check[i].disagree)
			fail_msg("%s: %s: inspect and kernel disagree: %s", what,
				 lb_check_name((enum lb_check)i), rep->check[i].reason);
}

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

		load_inspect(v->name, &f);
		snprintf(what, sizeof(what), "%s (inspect)", v->name);
		lb_posture_evaluate(ALL_BUT_LSM, &f, NULL, NULL, &rep);
		expect_failed(what, &rep, v->failed);
		for (int c = 0; c < LB_CHECK_COUNT; c++)
			assert_false(rep.check[c].kernel_checked);
		assert_int_equal(load_kernel(v->name, &k), v->running);
		if (v->running) {
			snprintf(what, sizeof(what), "%s (inspect+kernel)", v->name);
			lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
			expect_failed(what, &rep, v->failed);
			expect_no_disagreement(what, &rep);
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

		load_inspect(lc->variant, &f);
		lb_posture_evaluate(LB_CHECK_BIT(lc->check), &f, NULL, NULL, &rep);
		assert_int_equal(rep.failed, LB_CHECK_BIT(lc->check));
		snprintf(want, sizeof(want), "lockbox: binding web refused container: %s",
			 lc->line);
		lb_posture_refusal_line(&rep, "web", got, sizeof(got));
		assert_string_equal(got, want);
		if (load_kernel(lc->variant, &k)) {
			lb_posture_evaluate(LB_CHECK_BIT(lc->check), &f, &k, NULL, &rep);
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
	load_inspect("root-cap-sys-admin", &f);
	assert_true(load_kernel("root-cap-sys-admin", &k));
	lb_posture_evaluate(require, &f, NULL, NULL, &rep);
	assert_int_equal(lb_posture_refusal_line(&rep, "web", got, sizeof(got)), strlen(want));
	assert_string_equal(got, want);
	lb_posture_evaluate(require, &f, &k, NULL, &rep);
	lb_posture_refusal_line(&rep, "web", got, sizeof(got));
	assert_string_equal(got, want);
	/* A short buffer is cut, the length needed is still told. */
	assert_int_equal(lb_posture_refusal_line(&rep, "web", got, 10), strlen(want));
	assert_string_equal(got, "lockbox: ");
	/* Nothing failed: the line says so. */
	lb_posture_evaluate(BIT(NO_NEW_PRIVILEGES), &f, &k, NULL, &rep);
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
	load_inspect("compliant", &f);
	assert_true(load_kernel("root", &k));
	assert_int_equal(k.uid[0], 100000);
	assert_int_equal(lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep), BIT(NON_ROOT));
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
	load_inspect("root", &f);
	assert_true(load_kernel("compliant", &k));
	lb_posture_evaluate(BIT(NON_ROOT), &f, &k, NULL, &rep);
	r = &rep.check[LB_CHECK_NON_ROOT];
	assert_true(r->disagree);
	assert_string_equal(r->reason, "runs as root according to inspect (User=\"\") but not to "
				       "the kernel (Uid 101000 101000 101000 101000 = container "
				       "uid 1000 via uid_map \"0 100000 65536\")");

	/* Same kernel facts, but the kernel's view of caps and seccomp differs from inspect. */
	lb_inspect_facts_clear(&f);
	lb_kernel_facts_clear(&k);
	load_inspect("compliant", &f);
	assert_true(load_kernel("seccomp-unconfined", &k));
	lb_posture_evaluate(BIT(SECCOMP), &f, &k, NULL, &rep);
	assert_true(rep.check[LB_CHECK_SECCOMP].disagree);
	assert_string_equal(rep.check[LB_CHECK_SECCOMP].reason,
			    "seccomp unconfined according to the kernel (Seccomp=0 (disabled)) but "
			    "not to inspect (SecurityOpt=[no-new-privileges] Privileged=false)");
	lb_kernel_facts_clear(&k);
	assert_true(load_kernel("no-cap-drop", &k));
	lb_posture_evaluate(BIT(CAP_DROP_ALL), &f, &k, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].reason,
			    "has CAP_CHOWN and 13 more capabilities according to the kernel "
			    "(CapEff=0 CapPrm=0 CapBnd=0xa80425fb CapAmb=0 (CAP_CHOWN "
			    "CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID "
			    "CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT CAP_MKNOD "
			    "CAP_AUDIT_WRITE CAP_SETFCAP)) but not to inspect (CapDrop=[ALL] "
			    "CapAdd=[] Privileged=false)");
	lb_kernel_facts_clear(&k);
	assert_true(load_kernel("pid-host", &k));
	assert_int_equal(lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep),
			 BIT(NO_HOST_NAMESPACES) | BIT(USERNS_REMAP));
	assert_true(rep.check[LB_CHECK_NO_HOST_NAMESPACES].disagree);
	assert_true(rep.check[LB_CHECK_USERNS_REMAP].disagree);
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);
}

static void test_user_names(void **state)
{
	json_t *j = load_json("compliant");
	lb_inspect_facts f;
	lb_posture_report rep;

	(void)state;
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("app:app"));
	load_inspect_json(j, &f);
	assert_int_equal(f.uid, -1);
	lb_posture_evaluate(BIT(NON_ROOT), &f, NULL, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_NON_ROOT].reason, "user name not resolved to a uid");
	f.uid = 1000; /* resolved by the caller from the image's /etc/passwd */
	assert_int_equal(lb_posture_evaluate(BIT(NON_ROOT), &f, NULL, NULL, &rep), 0);
	assert_string_equal(rep.check[LB_CHECK_NON_ROOT].inspect, "User=\"app:app\" = uid 1000");
	lb_inspect_facts_clear(&f);

	j = load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("root:1000"));
	load_inspect_json(j, &f);
	assert_int_equal(f.uid, 0);
	lb_inspect_facts_clear(&f);
	j = load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "User", json_string("0"));
	load_inspect_json(j, &f);
	assert_int_equal(f.uid, 0);
	lb_inspect_facts_clear(&f);
}

/* No AppArmor or SELinux on the capturing host: lsm fails everything there. With a profile,
 * inspect and kernel must both show it. */
static void test_lsm(void **state)
{
	json_t *j = load_json("compliant");
	lb_inspect_facts f;
	lb_kernel_facts k;
	lb_posture_report rep;

	(void)state;
	assert_true(load_kernel("compliant", &k));
	assert_false(k.lsm_available);
	json_object_set_new(j, "AppArmorProfile", json_string("docker-default"));
	load_inspect_json(j, &f);
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, NULL, NULL, &rep), 0);
	lb_procfacts_set_lsm(&k, "docker-default (enforce)\n");
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), 0);
	assert_string_equal(rep.check[LB_CHECK_LSM].kernel,
			    "attr/current \"docker-default (enforce)\"");
	lb_procfacts_set_lsm(&k, "unconfined\n");
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	assert_true(rep.check[LB_CHECK_LSM].disagree);
	lb_procfacts_set_lsm(&k, "docker-default (complain)");
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	/* SELinux labels come NUL-terminated. */
	lb_procfacts_set_lsm(&k, "system_u:system_r:container_t:s0:c1,c2");
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), 0);
	lb_procfacts_set_lsm(&k, "system_u:system_r:spc_t:s0");
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
	lb_procfacts_set_lsm(&k, NULL);
	assert_int_equal(lb_posture_evaluate(BIT(LSM), &f, &k, NULL, &rep), BIT(LSM));
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
		load_inspect(variants[i].name, &f);
		lb_posture_evaluate(LB_CHECKS_DEFAULT, &f, NULL, NULL, &rep);
		if ((rep.failed != 0) != want_refused)
			fail_msg("%s: default require %s", variants[i].name,
				 rep.failed ? "refused" : "admitted");
		if (load_kernel(variants[i].name, &k)) {
			lb_posture_evaluate(LB_CHECKS_DEFAULT, &f, &k, NULL, &rep);
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
	json_t *j = load_json("compliant");
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
	load_inspect_json(j, &f);
	assert_int_equal(lb_posture_evaluate(BIT(NO_SECRET_ENV), &f, NULL, NULL, &rep), 0);
	assert_int_equal(lb_posture_evaluate(BIT(NO_SECRET_ENV), &f, NULL, h, &rep),
			 BIT(NO_SECRET_ENV));
	lb_posture_refusal_line(&rep, "web", line, sizeof(line));
	assert_string_equal(line, "lockbox: binding web refused container: env X holds a managed "
				  "secret (no-secret-env)");
	/* Evidence has names only, never a value. */
	assert_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, value));
	assert_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, "/run/s/db"));
	assert_non_null(strstr(rep.check[LB_CHECK_NO_SECRET_ENV].inspect, "DB_PASSWORD_FILE"));
	assert_true(lb_secret_hashes_remove(h, value, strlen(value)));
	assert_int_equal(lb_posture_evaluate(BIT(NO_SECRET_ENV), &f, NULL, h, &rep), 0);
	lb_inspect_facts_clear(&f);

	j = load_json("compliant");
	json_object_set_new(json_object_get(j, "Config"), "Env",
			    json_pack("[s,s,s,s,s,s]", "api_key=x", "GITHUB_TOKEN=x", "MY_SECRET=x",
				      "AWS_SECRET_ACCESS_KEY=x", "PGPASSWD=x", "X\x01Y=1"));
	load_inspect_json(j, &f);
	lb_posture_evaluate(BIT(NO_SECRET_ENV), &f, NULL, NULL, &rep);
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
	load_inspect("root", &f);
	lb_posture_evaluate(BIT(NON_ROOT) | BIT(NO_PRIVILEGED), &f, NULL, NULL, &rep);
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

	assert_true(load_kernel("root", &k));
	lb_posture_evaluate(BIT(NON_ROOT), &f, &k, NULL, &rep);
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
	load_inspect("host-etc", &f);
	assert_true(load_kernel("host-etc", &k));
	lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
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

	load_inspect("cap-add-sys-admin", &f);
	assert_true(load_kernel("cap-add-sys-admin", &k));
	lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].inspect,
			    "CapDrop=[ALL] CapAdd=[SYS_ADMIN] Privileged=false");
	assert_string_equal(rep.check[LB_CHECK_CAP_DROP_ALL].kernel,
			    "CapEff=0 CapPrm=0 CapBnd=0x200000 CapAmb=0 (CAP_SYS_ADMIN)");
	lb_kernel_facts_clear(&k);
	lb_inspect_facts_clear(&f);

	load_inspect("docker-sock-private", &f);
	assert_true(load_kernel("docker-sock-private", &k));
	lb_posture_evaluate(ALL_BUT_LSM, &f, &k, NULL, &rep);
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
		json_t *j = load_json("compliant"), *parent = j;
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
	json_t *j = load_json("compliant");
	assert_int_equal(lb_inspect_facts_from_json(json_object_get(j, "Config"), true, &f, &e),
			 -1);
	json_decref(j);
	/* A null PidsLimit (no --pids-limit) and -1 both mean unlimited. */
	j = load_json("compliant");
	json_object_set_new(json_object_get(j, "HostConfig"), "PidsLimit", json_integer(-1));
	load_inspect_json(j, &f);
	assert_int_equal(f.pids_limit, 0);
	lb_inspect_facts_clear(&f);
}

static void test_info_security_options(void **state)
{
	json_t *info = json_pack("{s:[s,s,s]}", "SecurityOptions", "name=apparmor",
				 "name=seccomp,profile=default", "name=userns");

	(void)state;
	assert_true(daemon_remap()); /* the capture daemon ran with --userns-remap=default */
	assert_true(lb_info_has_security_option(info, "userns"));
	assert_true(lb_info_has_security_option(info, "seccomp"));
	assert_true(lb_info_has_security_option(info, "apparmor"));
	assert_false(lb_info_has_security_option(info, "selinux"));
	assert_false(lb_info_has_security_option(info, "user"));
	json_decref(info);
}

static void test_procfacts_parsers(void **state)
{
	lb_kernel_facts k = {0}; /* cmocka asserts longjmp; the analyzer cannot tell */
	lb_mounts m = {0};
	uint64_t ns[LB_NS_COUNT];
	lb_err e = {0};

	(void)state;
	assert_true(load_kernel("privileged", &k));
	assert_int_equal(k.uid[0], 1000);
	assert_int_equal(k.seccomp, 0);
	assert_int_equal(k.no_new_privs, 1);
	/* Not the full set of this kernel's 41 capabilities: CAP_SYS_RESOURCE and the newest
	 * three are missing, so CapBnd cannot tell privileged. */
	assert_int_equal(k.cap_bnd, UINT64_C(0x3ffeffffff));
	assert_int_equal(k.uid_map.n, 1);
	assert_int_equal(k.uid_map.r[0].count, 4294967295u);
	lb_kernel_facts_clear(&k);

	assert_true(load_kernel("compliant", &k));
	assert_int_equal(k.uid[1], 101000);
	assert_int_equal(k.gid[1], 100000);
	assert_int_equal(k.seccomp, 2);
	assert_int_equal(k.cap_bnd, 0);
	assert_int_equal(k.uid_map.r[0].outside, 100000);
	assert_true(k.mounts.n > 20);
	assert_string_equal(k.mounts.v[0].mountpoint, "/");
	assert_true(k.mounts.v[0].ro);
	assert_string_equal(k.mounts.v[0].fstype, "overlay");
	assert_true(k.ns[LB_NS_NET] != 0 && k.ns[LB_NS_NET] != k.host_ns[LB_NS_NET]);
	lb_kernel_facts_clear(&k);

	lb_kernel_facts_init(&k);
	assert_int_equal(lb_procfacts_parse_status("Name:\tx\nUid:\t1 2 3\n", &k, &e), -1);
	assert_non_null(strstr(e.msg, "malformed Uid"));
	assert_int_equal(lb_procfacts_parse_status("Uid:\t1 1 1 1\nGid:\t1 1 1 1\n", &k, &e), -1);
	assert_non_null(strstr(e.msg, "missing"));
	assert_int_equal(
	    lb_procfacts_parse_status("Uid:\t1 1 1 1\nGid:\t1 1 1 1\nCapEff:\tzz\n", &k, &e), -1);
	assert_int_equal(lb_procfacts_parse_status("Uid:\t5 5 5 5\nGid:\t6 6 6 6\nCapEff:\t0\n"
						   "CapPrm:\t0\nCapBnd:\tFF\n",
						   &k, &e),
			 0);
	assert_int_equal(k.cap_bnd, 255);
	assert_int_equal(k.seccomp, -1); /* no Seccomp line: unknown, and the check fails */
	assert_int_equal(lb_procfacts_parse_maps("0 100000 65536\n", "junk", &k, &e), -1);
	assert_non_null(strstr(e.msg, "gid_map"));

	assert_int_equal(lb_procfacts_parse_ns("net:[12]\nuser:[34]\ncgroup:[5]\n", ns, &e), 0);
	assert_int_equal(ns[LB_NS_NET], 12);
	assert_int_equal(ns[LB_NS_USER], 34);
	assert_int_equal(ns[LB_NS_PID], 0);
	assert_int_equal(lb_procfacts_parse_ns("net 12\n", ns, &e), -1);
	assert_int_equal(lb_procfacts_parse_ns("net:[x]\n", ns, &e), -1);

	assert_int_equal(lb_procfacts_parse_mountinfo(
			     "36 35 98:0 /mnt\\040with\\011tab /a\\134b rw,noatime master:1 "
			     "shared:2 - ext3 /dev/root rw,errors=continue\n"
			     "37 35 0:5 / /ro ro,nosuid - tmpfs tmpfs rw\n"
			     "516 26 0:4 net:[4026532181] /run/docker/netns/90164ee9bf8e rw - nsfs "
			     "nsfs rw\n",
			     &m, &e),
			 0);
	assert_int_equal(m.n, 3);
	assert_string_equal(m.v[2].root, "net:[4026532181]");
	assert_int_equal(m.v[0].major, 98);
	assert_string_equal(m.v[0].root, "/mnt with\ttab");
	assert_string_equal(m.v[0].mountpoint, "/a\\b");
	assert_string_equal(m.v[0].fstype, "ext3");
	assert_false(m.v[0].ro);
	assert_true(m.v[1].ro);
	assert_int_equal(lb_procfacts_parse_mountinfo("36 35 98:0 / / rw shared:1 ext3\n", &m, &e),
			 -1);
	assert_non_null(strstr(e.msg, "line 1"));
	assert_int_equal(m.n, 0);
	assert_int_equal(lb_procfacts_parse_mountinfo("36 35 98 / / rw - ext3 x rw\n", &m, &e), -1);
	lb_mounts_clear(&m);
	lb_kernel_facts_clear(&k);
}

/* procfacts on a live process: this test itself, which shares every namespace with itself. */
static void test_procfacts_read_self(void **state)
{
	lb_kernel_facts k;
	lb_err e = {0};
	lb_inspect_facts f;
	lb_posture_report rep;

	(void)state;
	lb_kernel_facts_init(&k);
	if (lb_procfacts_read(getpid(), &k, &e))
		fail_msg("%s", e.msg);
	assert_true(k.have_status);
	assert_true(k.have_maps);
	assert_int_equal(k.uid[0], getuid());
	assert_true(k.mounts.n > 0);
	assert_true(k.host_mounts.n > 0); /* the same table, but others mount things meanwhile */
	for (int i = 0; i < LB_NS_COUNT; i++) {
		assert_true(k.ns[i] != 0);
		assert_int_equal(k.ns[i], k.host_ns[i]);
	}
	load_inspect("compliant", &f);
	lb_posture_evaluate(BIT(NO_HOST_NAMESPACES), &f, &k, NULL, &rep);
	assert_int_equal(rep.failed, BIT(NO_HOST_NAMESPACES));
	assert_true(rep.check[LB_CHECK_NO_HOST_NAMESPACES].disagree);
	assert_non_null(strstr(rep.check[LB_CHECK_NO_HOST_NAMESPACES].reason,
			       "shares the host net and pid and ipc and uts and mnt namespaces "
			       "according to the kernel"));
	lb_inspect_facts_clear(&f);
	lb_kernel_facts_clear(&k);

	/* Errors name the pid and the file. */
	lb_kernel_facts_init(&k);
	assert_int_equal(lb_procfacts_read(0x3ffffff0, &k, &e), -1);
	assert_non_null(strstr(e.msg, "/proc/1073741808"));
	assert_int_equal(lb_procfacts_read(-1, &k, &e), -1);
	lb_kernel_facts_clear(&k);
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
	    cmocka_unit_test(test_procfacts_parsers),
	    cmocka_unit_test(test_procfacts_read_self),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
