/* The posture tests' fixtures and the verdict-against-report check (posture_fixture.h). */
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

#include "posture_fixture.h"
#include "procfacts.h"

#ifndef LB_POSTURE_FIXTURES
#error "LB_POSTURE_FIXTURES must name tests/unit/fixtures/inspect"
#endif

char *pf_slurp(const char *name)
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

bool pf_fixture_exists(const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", LB_POSTURE_FIXTURES, name);
	return stat(path, &st) == 0;
}

bool pf_daemon_remap(void)
{
	char *text = pf_slurp("info_security_options.json");
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

json_t *pf_load_json(const char *variant)
{
	char name[128];
	char *text;
	json_t *j;

	snprintf(name, sizeof(name), "%s.json", variant);
	text = pf_slurp(name);
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(j);
	return j;
}

void pf_load_inspect_json(json_t *j, lb_inspect_facts *f)
{
	lb_err e = {0};

	if (lb_inspect_facts_from_json(j, pf_daemon_remap(), f, &e))
		fail_msg("inspect: %s", e.msg);
	json_decref(j);
}

void pf_load_inspect(const char *variant, lb_inspect_facts *f)
{
	pf_load_inspect_json(pf_load_json(variant), f);
}

/* The kernel facts of a captured container, through the same parsers procfacts uses. */
bool pf_load_kernel(const char *variant, lb_kernel_facts *k)
{
	char name[160];
	char *status, *uid_map, *gid_map, *mountinfo, *ns, *host_ns, *host_mi, *attr;
	lb_err e = {0};

	snprintf(name, sizeof(name), "%s.proc/status", variant);
	if (!pf_fixture_exists(name))
		return false;
	lb_kernel_facts_init(k);
	status = pf_slurp(name);
	snprintf(name, sizeof(name), "%s.proc/uid_map", variant);
	uid_map = pf_slurp(name);
	snprintf(name, sizeof(name), "%s.proc/gid_map", variant);
	gid_map = pf_slurp(name);
	snprintf(name, sizeof(name), "%s.proc/mountinfo", variant);
	mountinfo = pf_slurp(name);
	snprintf(name, sizeof(name), "%s.proc/ns", variant);
	ns = pf_slurp(name);
	snprintf(name, sizeof(name), "%s.proc/attr_current", variant);
	attr = pf_slurp(name);
	if (!attr) {
		snprintf(name, sizeof(name), "%s.proc/apparmor_current", variant);
		attr = pf_slurp(name);
	}
	host_ns = pf_slurp("host.ns");
	host_mi = pf_slurp("host.mountinfo");
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

char *pf_failed_names(uint32_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < LB_CHECK_COUNT; i++)
		if (mask & LB_CHECK_BIT(i))
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						lb_check_name((enum lb_check)i));
	return buf;
}

void pf_expect_failed(const char *what, const lb_posture_report *rep, uint32_t want)
{
	char got_s[512], want_s[512], line[2048];

	if (rep->failed == want)
		return;
	lb_posture_refusal_line(rep, "web", line, sizeof(line));
	fail_msg("%s: failed {%s}, expected {%s}\n  %s", what,
		 pf_failed_names(rep->failed, got_s, sizeof(got_s)),
		 pf_failed_names(want, want_s, sizeof(want_s)), line);
}

void pf_expect_no_disagreement(const char *what, const lb_posture_report *rep)
{
	for (int i = 0; i < LB_CHECK_COUNT; i++)
		if (rep->check[i].disagree)
			fail_msg("%s: %s: inspect and kernel disagree: %s", what,
				 lb_check_name((enum lb_check)i), rep->check[i].reason);
}

uint32_t pf_evaluate(uint32_t require, const lb_inspect_facts *in, const lb_kernel_facts *k,
		     const lb_secret_hashes *hashes, lb_posture_report *rep)
{
	uint32_t failed = lb_posture_evaluate(require, in, k, hashes, rep), every = 0;
	lb_posture_report all;

	assert_int_equal(failed, rep->failed);
	assert_int_equal(lb_posture_verdict(require, ALL_CHECKS, in, k, hashes), failed);
	(void)lb_posture_evaluate(ALL_CHECKS, in, k, hashes, &all);
	for (int i = 0; i < LB_CHECK_COUNT; i++) {
		uint32_t bit = LB_CHECK_BIT(i);
		if (!all.check[i].pass)
			every |= bit;
		assert_int_equal(lb_posture_verdict(ALL_CHECKS, bit, in, k, hashes), every & bit);
	}
	assert_int_equal(lb_posture_verdict(ALL_CHECKS, ALL_CHECKS, in, k, hashes), every);
	return failed;
}
