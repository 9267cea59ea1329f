/* The procfacts parsers on the captured /proc files of real containers and on hostile text,
 * and lb_procfacts_read on this process's own /proc. */
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

static void test_procfacts_parsers(void **state)
{
	lb_kernel_facts k = {0}; /* cmocka asserts longjmp; the analyzer cannot tell */
	lb_mounts m = {0};
	uint64_t ns[LB_NS_COUNT];
	lb_err e = {0};

	(void)state;
	assert_true(pf_load_kernel("privileged", &k));
	assert_int_equal(k.uid[0], 1000);
	assert_int_equal(k.seccomp, 0);
	assert_int_equal(k.no_new_privs, 1);
	/* Not the full set of this kernel's 41 capabilities: CAP_SYS_RESOURCE and the newest
	 * three are missing, so CapBnd cannot tell privileged. */
	assert_int_equal(k.cap_bnd, UINT64_C(0x3ffeffffff));
	assert_int_equal(k.uid_map.n, 1);
	assert_int_equal(k.uid_map.r[0].count, 4294967295u);
	lb_kernel_facts_clear(&k);

	assert_true(pf_load_kernel("compliant", &k));
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
/* An AppArmor label longer than the facts hold is no label (not confined), never a prefix that
 * lost its "(complain)". */
static void test_long_lsm_label(void **state)
{
	char label[LB_LSM_LABEL_MAX], text[400];

	(void)state;
	memset(text, 'p', sizeof(text));
	snprintf(text + 300, sizeof(text) - 300, " (complain)\n");
	assert_true(lb_procfacts_label(label, text));
	assert_string_equal(label, "");
	assert_true(lb_procfacts_label(label, "docker-default (enforce)\n"));
	assert_string_equal(label, "docker-default (enforce)");
	assert_false(lb_procfacts_label(label, NULL));
}

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
	pf_load_inspect("compliant", &f);
	pf_evaluate(BIT(NO_HOST_NAMESPACES), &f, &k, NULL, &rep);
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
	    cmocka_unit_test(test_procfacts_parsers),
	    cmocka_unit_test(test_procfacts_read_self),
	    cmocka_unit_test(test_long_lsm_label),
	};

	if (lb_secmem_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
