/* Posture checks of who the process is: non-root (Config.User; /proc status ids through
 * uid_map), userns-remap and the capability sets. */
#include "posture_rules.h"

#include <ctype.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>

static void add_cap_name(sb *b, unsigned cap)
{
	const char *n = lb_cap_name(cap);

	if (n)
		lb_pe_sb_add(b, "%s", n);
	else
		lb_pe_sb_add(b, "cap%u", cap);
}

/* "has CAP_SYS_ADMIN", "has CAP_A and CAP_B", "has CAP_A and 13 more capabilities". */
static void caps_reason(sb *b, uint64_t set)
{
	unsigned n = 0, first = 64, second = 64;

	for (unsigned i = 0; i < 64; i++)
		if (set & (UINT64_C(1) << i)) {
			if (n == 0)
				first = i;
			else if (n == 1)
				second = i;
			n++;
		}
	lb_pe_sb_add(b, "has ");
	add_cap_name(b, first);
	if (n == 2) {
		lb_pe_sb_add(b, " and ");
		add_cap_name(b, second);
	} else if (n > 2) {
		lb_pe_sb_add(b, " and %u more capabilities", n - 1);
	}
}

static void caps_list(sb *b, uint64_t set)
{
	bool any = false;

	for (unsigned i = 0; i < 64; i++)
		if (set & (UINT64_C(1) << i)) {
			lb_pe_sb_add(b, any ? " " : "");
			add_cap_name(b, i);
			any = true;
		}
}

/* "SYS_ADMIN", "cap_sys_admin", "CAP_SYS_ADMIN" -> "CAP_SYS_ADMIN" (docker accepts them all). */
static void add_docker_cap(sb *b, const char *s)
{
	char name[64];
	size_t i, off = 0;

	if (strncasecmp(s, "CAP_", 4) != 0) {
		memcpy(name, "CAP_", 4);
		off = 4;
	}
	for (i = 0; s[i] && off + i < sizeof(name) - 1; i++)
		name[off + i] = (char)toupper((unsigned char)s[i]);
	name[off + i] = '\0';
	lb_pe_sb_untrusted(b, name, 48);
}

static bool array_has_ci(const json_t *a, const char *want)
{
	size_t i;
	json_t *x;

	json_array_foreach (a, i, x) {
		const char *s = json_string_value(x);
		if (s && (strcasecmp(s, want) == 0 ||
			  (strncasecmp(s, "CAP_", 4) == 0 && strcasecmp(s + 4, want) == 0)))
			return true;
	}
	return false;
}
/* ---- uid maps ---- */

/* /proc/PID/status shows ids as the reader's namespace sees them: map back through uid_map. */
static bool idmap_to_inside(const lb_idmap *m, uint32_t host, uint32_t *inside)
{
	if (m->n == 0) {
		*inside = host;
		return true;
	}
	for (size_t i = 0; i < m->n; i++)
		if (host >= m->r[i].outside && host - m->r[i].outside < m->r[i].count) {
			*inside = m->r[i].inside + (host - m->r[i].outside);
			return true;
		}
	return false;
}

static void add_idmap(sb *b, const lb_idmap *m)
{
	lb_pe_sb_add(b, "\"");
	if (m->n == 0)
		lb_pe_sb_add(b, "identity");
	for (size_t i = 0; i < m->n && i < 3; i++)
		lb_pe_sb_add(b, "%s%" PRIu32 " %" PRIu32 " %" PRIu32, i ? "; " : "", m->r[i].inside,
			     m->r[i].outside, m->r[i].count);
	if (m->n > 3)
		lb_pe_sb_add(b, "; ...");
	lb_pe_sb_add(b, "\"");
}

/* ---- checks ---- */

void lb_pe_check_non_root(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	uint32_t inside[4];

	lb_pe_sb_add(&in->ev, "User=\"");
	lb_pe_sb_untrusted(&in->ev, c->in->user, 64);
	lb_pe_sb_add(&in->ev, "\"");
	if (c->in->uid >= 0 && lb_pe_user_uid(c->in->user) < 0)
		lb_pe_sb_add(&in->ev, " = uid %" PRId64, c->in->uid);
	if (c->in->uid == 0)
		lb_pe_side_fail(in, "runs as root");
	else if (c->in->uid < 0)
		lb_pe_side_fail(in, "user name not resolved to a uid");
	if (!kf)
		return;
	if (!kf->have_status || !kf->have_maps) {
		lb_pe_sb_add(&k->ev, "no /proc status or uid_map");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	lb_pe_sb_add(&k->ev, "Uid %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32, kf->uid[0],
		     kf->uid[1], kf->uid[2], kf->uid[3]);
	for (int i = 0; i < 4; i++)
		if (!idmap_to_inside(&kf->uid_map, kf->uid[i], &inside[i])) {
			lb_pe_sb_add(&k->ev, " via uid_map ");
			add_idmap(&k->ev, &kf->uid_map);
			lb_pe_side_fail(k, "uid %" PRIu32 " is not in the container's uid_map",
					kf->uid[i]);
			return;
		}
	if (inside[0] == inside[1] && inside[1] == inside[2] && inside[2] == inside[3])
		lb_pe_sb_add(&k->ev, " = container uid %" PRIu32, inside[0]);
	else
		lb_pe_sb_add(&k->ev,
			     " = container uids %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32,
			     inside[0], inside[1], inside[2], inside[3]);
	lb_pe_sb_add(&k->ev, " via uid_map ");
	add_idmap(&k->ev, &kf->uid_map);
	for (int i = 0; i < 4; i++)
		if (inside[i] == 0) {
			lb_pe_side_fail(k, "runs as root");
			return;
		}
}

void lb_pe_check_userns_remap(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	uint32_t inside;

	lb_pe_sb_add(&in->ev, "daemon userns-remap %s, UsernsMode=\"",
		     c->in->daemon_userns_remap ? "on" : "off");
	lb_pe_sb_untrusted(&in->ev, c->in->userns_mode, 32);
	lb_pe_sb_add(&in->ev, "\"");
	if (!c->in->daemon_userns_remap)
		lb_pe_side_fail(in, "dockerd runs without userns-remap");
	else if (strcmp(c->in->userns_mode, "host") == 0)
		lb_pe_side_fail(in, "shares the host user namespace");
	if (!kf)
		return;
	if (!kf->have_maps || !kf->ns[LB_NS_USER] || !kf->host_ns[LB_NS_USER]) {
		lb_pe_sb_add(&k->ev, "uid_map or user namespace unknown");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	lb_pe_sb_add(&k->ev, "uid_map ");
	add_idmap(&k->ev, &kf->uid_map);
	lb_pe_sb_add(&k->ev, ", user ns %" PRIu64 " (lockboxd's %" PRIu64 ")", kf->ns[LB_NS_USER],
		     kf->host_ns[LB_NS_USER]);
	if (kf->ns[LB_NS_USER] == kf->host_ns[LB_NS_USER])
		lb_pe_side_fail(k, "shares the host user namespace");
	else if (idmap_to_inside(&kf->uid_map, 0, &inside))
		lb_pe_side_fail(k, "host root is mapped into the container (as uid %" PRIu32 ")",
				inside);
}

void lb_pe_check_cap_drop_all(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	size_t n_add = json_array_size(c->in->cap_add);

	lb_pe_sb_add(&in->ev, "CapDrop=");
	lb_pe_string_list(&in->ev, c->in->cap_drop, 32);
	lb_pe_sb_add(&in->ev, " CapAdd=");
	lb_pe_string_list(&in->ev, c->in->cap_add, 32);
	lb_pe_sb_add(&in->ev, " Privileged=%s", c->in->privileged ? "true" : "false");
	if (c->in->privileged) {
		lb_pe_side_fail(in, "privileged (has all capabilities)");
	} else if (n_add && array_has_ci(c->in->cap_add, "ALL")) {
		lb_pe_side_fail(in, "has all capabilities");
	} else if (n_add) {
		sb why;
		char buf[LB_EVIDENCE_MAX];

		lb_pe_sb_init(&why, buf, sizeof(buf));
		lb_pe_sb_add(&why, "has ");
		add_docker_cap(&why, json_string_value(json_array_get(c->in->cap_add, 0)));
		if (n_add == 2) {
			lb_pe_sb_add(&why, " and ");
			add_docker_cap(&why, json_string_value(json_array_get(c->in->cap_add, 1)));
		} else if (n_add > 2) {
			lb_pe_sb_add(&why, " and %zu more capabilities", n_add - 1);
		}
		lb_pe_side_fail(in, "%s", buf);
	} else if (!array_has_ci(c->in->cap_drop, "ALL")) {
		lb_pe_side_fail(in, "keeps the default capabilities (no --cap-drop ALL)");
	}
	if (!kf)
		return;
	if (!kf->have_status) {
		lb_pe_sb_add(&k->ev, "no /proc status");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	/* A non-root process has CapEff 0 whatever the container was given: the bounding set is
	 * what --cap-drop ALL empties. */
	lb_pe_sb_add(&k->ev,
		     "CapEff=%#" PRIx64 " CapPrm=%#" PRIx64 " CapBnd=%#" PRIx64 " CapAmb=%#" PRIx64,
		     kf->cap_eff, kf->cap_prm, kf->cap_bnd, kf->cap_amb);
	uint64_t all = kf->cap_eff | kf->cap_prm | kf->cap_bnd | kf->cap_amb;
	if (all) {
		sb why;
		char buf[LB_EVIDENCE_MAX];

		lb_pe_sb_add(&k->ev, " (");
		caps_list(&k->ev, all);
		lb_pe_sb_add(&k->ev, ")");
		lb_pe_sb_init(&why, buf, sizeof(buf));
		caps_reason(&why, all);
		lb_pe_side_fail(k, "%s", buf);
	}
}
