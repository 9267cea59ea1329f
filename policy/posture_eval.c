/* The posture gate's evaluation: every check's two sides combined into one result, and the
 * report's JSON and refusal line. The checks are in posture_rules_*.c, the facts they judge
 * are parsed in posture_facts.c. Pure: no I/O. */
#include "posture_rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- bounded text buffers ---- */

void lb_pe_sb_init(sb *b, char *buf, size_t cap)
{
	b->p = buf;
	b->cap = cap;
	b->len = 0;
	b->cut = false;
	buf[0] = '\0';
}

/* Mark the end of a cut-short buffer with "..." so that nobody mistakes it for the whole. */
static void sb_mark_cut(sb *b)
{
	if (b->cut)
		return;
	b->cut = true;
	if (b->cap >= 4) {
		b->len = b->cap - 1;
		memcpy(b->p + b->cap - 4, "...", 4);
	}
}

void lb_pe_sb_add(sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cut)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		sb_mark_cut(b);
		return;
	}
	b->len += (size_t)n;
}

void lb_pe_sb_untrusted(sb *b, const char *s, size_t max)
{
	size_t i;

	// cppcheck-suppress arrayIndexOutOfBoundsCond ; the loop stops at s's NUL, before max
	for (i = 0; i < max && s[i] && !b->cut; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			lb_pe_sb_add(b, "%c", c);
		else
			lb_pe_sb_add(b, "\\x%02x", c);
	}
	if (s[i] && i >= max)
		lb_pe_sb_add(b, "...");
}

void lb_pe_string_list(sb *b, const json_t *a, size_t each_max)
{
	size_t i;
	json_t *x;

	lb_pe_sb_add(b, "[");
	json_array_foreach (a, i, x) {
		lb_pe_sb_add(b, i ? " " : "");
		lb_pe_sb_untrusted(b, json_string_value(x), each_max);
	}
	lb_pe_sb_add(b, "]");
}

/* ---- evaluation ---- */

static void side_init(side *s, int v, bool quiet)
{
	s->v = v;
	s->quiet = quiet;
	if (quiet) { /* a full buffer: every add returns at once */
		s->evbuf[0] = s->whybuf[0] = '\0';
		s->ev = (sb){.p = s->evbuf, .cap = 1, .len = 0, .cut = true};
		s->why = (sb){.p = s->whybuf, .cap = 1, .len = 0, .cut = true};
		return;
	}
	lb_pe_sb_init(&s->ev, s->evbuf, sizeof(s->evbuf));
	lb_pe_sb_init(&s->why, s->whybuf, sizeof(s->whybuf));
}

void lb_pe_side_fail(side *s, const char *fmt, ...)
{
	char tmp[LB_EVIDENCE_MAX];
	va_list ap;

	if (s->quiet) {
		s->v = FAIL;
		return;
	}
	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap); /* a long detail is cut */
	va_end(ap);
	lb_pe_sb_add(&s->why, "%s%s", s->v == FAIL ? "; " : "", tmp);
	s->v = FAIL;
}

typedef void (*check_fn)(const ctx *c, side *in, side *k);

static const check_fn checks[LB_CHECK_COUNT] = {
    [LB_CHECK_NON_ROOT] = lb_pe_check_non_root,
    [LB_CHECK_USERNS_REMAP] = lb_pe_check_userns_remap,
    [LB_CHECK_CAP_DROP_ALL] = lb_pe_check_cap_drop_all,
    [LB_CHECK_NO_NEW_PRIVILEGES] = lb_pe_check_no_new_privileges,
    [LB_CHECK_SECCOMP] = lb_pe_check_seccomp,
    [LB_CHECK_LSM] = lb_pe_check_lsm,
    [LB_CHECK_READ_ONLY_ROOTFS] = lb_pe_check_read_only_rootfs,
    [LB_CHECK_NO_PRIVILEGED] = lb_pe_check_no_privileged,
    [LB_CHECK_NO_HOST_NAMESPACES] = lb_pe_check_no_host_namespaces,
    [LB_CHECK_NO_DOCKER_SOCKET] = lb_pe_check_no_docker_socket,
    [LB_CHECK_NO_SENSITIVE_MOUNTS] = lb_pe_check_no_sensitive_mounts,
    [LB_CHECK_MEMORY_LIMIT] = lb_pe_check_memory_limit,
    [LB_CHECK_PIDS_LIMIT] = lb_pe_check_pids_limit,
    [LB_CHECK_NO_SECRET_ENV] = lb_pe_check_no_secret_env,
};

/* Checks whose kernel source is not implemented leave their kernel side at NO_SAY. */
static const bool has_kernel_source[LB_CHECK_COUNT] = {
    [LB_CHECK_NON_ROOT] = true,		[LB_CHECK_USERNS_REMAP] = true,
    [LB_CHECK_CAP_DROP_ALL] = true,	[LB_CHECK_NO_NEW_PRIVILEGES] = true,
    [LB_CHECK_SECCOMP] = true,		[LB_CHECK_LSM] = true,
    [LB_CHECK_READ_ONLY_ROOTFS] = true, [LB_CHECK_NO_HOST_NAMESPACES] = true,
    [LB_CHECK_NO_DOCKER_SOCKET] = true, [LB_CHECK_NO_SENSITIVE_MOUNTS] = true,
};

static void combine(lb_posture_result *r, const side *in, const side *k)
{
	snprintf(r->inspect, sizeof(r->inspect), "%s", in->evbuf);
	snprintf(r->kernel, sizeof(r->kernel), "%s", k->v == NO_SAY ? "" : k->evbuf);
	r->kernel_checked = k->v != NO_SAY;
	r->disagree = false;
	r->reason[0] = '\0';
	if (k->v == NO_SAY) {
		r->pass = in->v == PASS;
		if (!r->pass)
			snprintf(r->reason, sizeof(r->reason), "%s", in->whybuf);
	} else if (in->v == PASS && k->v == PASS) {
		r->pass = true;
	} else if (in->v == FAIL && k->v == FAIL) {
		/* Both sources agree: inspect's words name what the operator asked for
		 * ("has CAP_NET_ADMIN" rather than the 15 capabilities the kernel lists); the
		 * kernel's evidence is beside it in the report. */
		r->pass = false;
		snprintf(r->reason, sizeof(r->reason), "%s", in->whybuf);
	} else {
		const side *bad = in->v == FAIL ? in : k, *good = in->v == FAIL ? k : in;
		sb s;

		r->pass = false;
		r->disagree = true;
		lb_pe_sb_init(&s, r->reason, sizeof(r->reason));
		lb_pe_sb_add(&s, "%s according to %s (%s) but not to %s (%s)", bad->whybuf,
			     bad == k ? "the kernel" : "inspect", bad->evbuf,
			     good == k ? "the kernel" : "inspect", good->evbuf);
	}
}

uint32_t lb_posture_evaluate(uint32_t require, const lb_inspect_facts *in, const lb_kernel_facts *k,
			     const lb_secret_hashes *hashes, lb_posture_report *rep)
{
	const ctx c = {.in = in, .k = k, .h = hashes};
	side si, sk;
	sb s;

	memset(rep, 0, sizeof(*rep));
	rep->require = require;
	rep->kernel = k != NULL;
	lb_pe_sb_init(&s, rep->container, sizeof(rep->container));
	lb_pe_sb_untrusted(&s, in->id ? in->id : "", 72);
	lb_pe_sb_init(&s, rep->name, sizeof(rep->name));
	lb_pe_sb_untrusted(&s, in->name ? in->name : "", 100);
	for (int i = 0; i < LB_CHECK_COUNT; i++) {
		lb_posture_result *r = &rep->check[i];

		side_init(&si, PASS, false);
		side_init(&sk, k && has_kernel_source[i] ? PASS : NO_SAY, false);
		checks[i](&c, &si, &sk);
		if (sk.v == NO_SAY)
			lb_pe_sb_init(&sk.ev, sk.evbuf, sizeof(sk.evbuf));
		combine(r, &si, &sk);
		r->required = (require & LB_CHECK_BIT(i)) != 0;
		if (r->required && !r->pass)
			rep->failed |= LB_CHECK_BIT(i);
	}
	return rep->failed;
}

uint32_t lb_posture_verdict(uint32_t require, uint32_t only, const lb_inspect_facts *in,
			    const lb_kernel_facts *k, const lb_secret_hashes *hashes)
{
	const ctx c = {.in = in, .k = k, .h = hashes};
	uint32_t failed = 0;
	side si, sk;

	for (int i = 0; i < LB_CHECK_COUNT; i++) {
		if (!(require & only & LB_CHECK_BIT(i)))
			continue;
		side_init(&si, PASS, true);
		side_init(&sk, k && has_kernel_source[i] ? PASS : NO_SAY, true);
		checks[i](&c, &si, &sk);
		/* combine()'s verdict: inspect must pass, and the kernel too where it has a say. */
		if (si.v != PASS || (sk.v != NO_SAY && sk.v != PASS))
			failed |= LB_CHECK_BIT(i);
	}
	return failed;
}

/* ---- output ---- */

json_t *lb_posture_report_json(const lb_posture_report *rep)
{
	json_t *checks_a = json_array(), *failed = json_array();

	if (!checks_a || !failed)
		goto fail;
	for (int i = 0; i < LB_CHECK_COUNT; i++) {
		const lb_posture_result *r = &rep->check[i];
		json_t *c = json_pack("{s:s, s:b, s:b, s:b, s:s?, s:s, s:s?}", "check",
				      lb_check_name((enum lb_check)i), "required", r->required,
				      "pass", r->pass, "disagree", r->disagree, "reason",
				      r->pass ? NULL : r->reason, "inspect", r->inspect, "kernel",
				      r->kernel_checked ? r->kernel : NULL);
		if (!c || json_array_append_new(checks_a, c))
			goto fail;
		if (r->required && !r->pass &&
		    json_array_append_new(failed, json_string(lb_check_name((enum lb_check)i))))
			goto fail;
	}
	/* "o" hands both arrays over, also when packing fails. */
	return json_pack("{s:s, s:s, s:b, s:b, s:o, s:o}", "container", rep->container, "name",
			 rep->name, "ok", rep->failed == 0, "kernel_checked", rep->kernel, "failed",
			 failed, "checks", checks_a);
fail:
	json_decref(failed);
	json_decref(checks_a);
	return NULL;
}

size_t lb_posture_refusal_line(const lb_posture_report *rep, const char *binding, char *buf,
			       size_t len)
{
	char tmp[(LB_REASON_MAX + 32) * LB_CHECK_COUNT + 256];
	size_t need;
	bool any = false;
	sb s;

	lb_pe_sb_init(&s, tmp, sizeof(tmp));
	lb_pe_sb_add(&s, "lockbox: binding ");
	lb_pe_sb_untrusted(&s, binding ? binding : "?", 128);
	if (rep->failed == 0) {
		lb_pe_sb_add(&s, " admitted container");
	} else {
		lb_pe_sb_add(&s, " refused container: ");
		for (int i = 0; i < LB_CHECK_COUNT; i++) {
			if (!(rep->failed & LB_CHECK_BIT(i)))
				continue;
			lb_pe_sb_add(&s, "%s%s (%s)", any ? ", " : "", rep->check[i].reason,
				     lb_check_name((enum lb_check)i));
			any = true;
		}
	}
	need = s.len;
	if (len) {
		size_t n = need < len - 1 ? need : len - 1;
		memcpy(buf, tmp, n);
		buf[n] = '\0';
	}
	return need;
}
