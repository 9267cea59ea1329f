/* Posture checks of what confines the process: no-new-privileges, seccomp, AppArmor/SELinux,
 * a read-only root, no --privileged, no host namespaces, memory and pids limits. */
#include "posture_rules.h"

#include <inttypes.h>
#include <string.h>

/* Does SecurityOpt hold KEY (bare, "KEY=VAL" or the older "KEY:VAL")? Returns the value
 * ("" when bare) or NULL. */
static const char *security_opt(const lb_inspect_facts *f, const char *key)
{
	size_t i, n = strlen(key);
	json_t *x;

	json_array_foreach (f->security_opt, i, x) {
		const char *s = json_string_value(x);
		if (s && strncmp(s, key, n) == 0 && (s[n] == '\0' || s[n] == '=' || s[n] == ':'))
			return s[n] ? s + n + 1 : s + n;
	}
	return NULL;
}

static void add_security_opts(sb *b, const lb_inspect_facts *f)
{
	lb_pe_sb_add(b, "SecurityOpt=");
	/* A custom seccomp profile is inlined here as JSON: keep evidence short. */
	lb_pe_string_list(b, f->security_opt, 40);
}

void lb_pe_check_no_new_privileges(const ctx *c, side *in, side *k)
{
	const char *v = security_opt(c->in, "no-new-privileges");
	bool on = v ? (*v == '\0' || strcmp(v, "true") == 0) : c->in->daemon_no_new_privileges;

	add_security_opts(&in->ev, c->in);
	if (c->in->daemon_no_new_privileges)
		lb_pe_sb_add(&in->ev, ", daemon no-new-privileges");
	if (!on)
		lb_pe_side_fail(in, "no-new-privileges not set");
	if (!c->k)
		return;
	if (c->k->no_new_privs < 0) {
		lb_pe_sb_add(&k->ev, "no NoNewPrivs line");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	lb_pe_sb_add(&k->ev, "NoNewPrivs=%d", c->k->no_new_privs);
	if (c->k->no_new_privs != 1)
		lb_pe_side_fail(k, "no-new-privileges not set");
}

void lb_pe_check_seccomp(const ctx *c, side *in, side *k)
{
	const char *v = security_opt(c->in, "seccomp");

	add_security_opts(&in->ev, c->in);
	lb_pe_sb_add(&in->ev, " Privileged=%s", c->in->privileged ? "true" : "false");
	if (v && strcmp(v, "unconfined") == 0)
		lb_pe_side_fail(in, "seccomp unconfined");
	else if (c->in->privileged)
		lb_pe_side_fail(in, "seccomp unconfined (privileged)");
	if (!c->k)
		return;
	if (c->k->seccomp < 0) {
		lb_pe_sb_add(&k->ev, "no Seccomp line");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	lb_pe_sb_add(&k->ev, "Seccomp=%d (%s)", c->k->seccomp,
		     c->k->seccomp == 2	  ? "filter"
		     : c->k->seccomp == 1 ? "strict"
					  : "disabled");
	if (c->k->seccomp == 0)
		lb_pe_side_fail(k, "seccomp unconfined");
}

static bool lsm_label_confined(const char *label)
{
	size_t n = strlen(label);

	if (n == 0 || strcmp(label, "unconfined") == 0)
		return false;
	if (n >= 10 && strcmp(label + n - 10, "(complain)") == 0)
		return false;
	/* SELinux types that are not confined: super-privileged and unconfined domains. */
	if (strstr(label, ":spc_t:") || strstr(label, ":unconfined_t:") ||
	    strstr(label, ":kernel_t:"))
		return false;
	return true;
}

void lb_pe_check_lsm(const ctx *c, side *in, side *k)
{
	const char *aa = c->in->apparmor_profile, *se = c->in->process_label;
	const char *aa_opt = security_opt(c->in, "apparmor");
	const char *label_opt = security_opt(c->in, "label");

	lb_pe_sb_add(&in->ev, "AppArmorProfile=\"");
	lb_pe_sb_untrusted(&in->ev, aa, 64);
	lb_pe_sb_add(&in->ev, "\" ProcessLabel=\"");
	lb_pe_sb_untrusted(&in->ev, se, 96);
	lb_pe_sb_add(&in->ev, "\"");
	if (aa_opt && strcmp(aa_opt, "unconfined") == 0)
		lb_pe_side_fail(in, "apparmor unconfined");
	else if (!(*aa && lsm_label_confined(aa)) && !(*se && lsm_label_confined(se)))
		lb_pe_side_fail(in, label_opt && strcmp(label_opt, "disable") == 0
					? "no AppArmor or SELinux confinement (label=disable)"
					: "no AppArmor or SELinux confinement");
	if (!c->k)
		return;
	if (!c->k->lsm_available) {
		lb_pe_sb_add(&k->ev, "attr/current unreadable (no AppArmor or SELinux)");
		lb_pe_side_fail(k, "no AppArmor or SELinux confinement");
		return;
	}
	lb_pe_sb_add(&k->ev, "attr/current \"");
	lb_pe_sb_untrusted(&k->ev, c->k->lsm_label, 128);
	lb_pe_sb_add(&k->ev, "\"");
	if (!lsm_label_confined(c->k->lsm_label))
		lb_pe_side_fail(k, "no AppArmor or SELinux confinement");
}

static const lb_mount *container_root_mount(const lb_kernel_facts *kf)
{
	const lb_mount *r = NULL;

	/* The last "/" is the one on top. */
	for (size_t i = 0; i < kf->mounts.n; i++)
		if (strcmp(kf->mounts.v[i].mountpoint, "/") == 0)
			r = &kf->mounts.v[i];
	return r;
}

void lb_pe_check_read_only_rootfs(const ctx *c, side *in, side *k)
{
	const lb_mount *root;

	lb_pe_sb_add(&in->ev, "ReadonlyRootfs=%s", c->in->readonly_rootfs ? "true" : "false");
	if (!c->in->readonly_rootfs)
		lb_pe_side_fail(in, "writable root filesystem");
	if (!c->k)
		return;
	root = container_root_mount(c->k);
	if (!root) {
		lb_pe_sb_add(&k->ev, "no / in mountinfo");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	lb_pe_sb_add(&k->ev, "/ mounted %s (", root->ro ? "ro" : "rw");
	lb_pe_sb_untrusted(&k->ev, root->fstype, 32);
	lb_pe_sb_add(&k->ev, ")");
	if (!root->ro)
		lb_pe_side_fail(k, "writable root filesystem");
}

void lb_pe_check_no_privileged(const ctx *c, side *in, side *k)
{
	(void)k; /* a privileged container's CapBnd is not the host's full set: no kernel proof */
	lb_pe_sb_add(&in->ev, "Privileged=%s", c->in->privileged ? "true" : "false");
	if (c->in->privileged)
		lb_pe_side_fail(in, "privileged");
}

void lb_pe_check_no_host_namespaces(const ctx *c, side *in, side *k)
{
	const char *modes[] = {c->in->network_mode, c->in->pid_mode, c->in->ipc_mode,
			       c->in->uts_mode};
	const char *names[] = {"net", "pid", "ipc", "uts"};
	static const enum lb_ns kns[] = {LB_NS_NET, LB_NS_PID, LB_NS_IPC, LB_NS_UTS, LB_NS_MNT};
	char buf[96] = "";
	sb shared;

	lb_pe_sb_init(&shared, buf, sizeof(buf));
	lb_pe_sb_add(&in->ev, "NetworkMode=\"");
	lb_pe_sb_untrusted(&in->ev, modes[0], 32);
	lb_pe_sb_add(&in->ev, "\" PidMode=\"");
	lb_pe_sb_untrusted(&in->ev, modes[1], 32);
	lb_pe_sb_add(&in->ev, "\" IpcMode=\"");
	lb_pe_sb_untrusted(&in->ev, modes[2], 32);
	lb_pe_sb_add(&in->ev, "\" UTSMode=\"");
	lb_pe_sb_untrusted(&in->ev, modes[3], 32);
	lb_pe_sb_add(&in->ev, "\"");
	for (int i = 0; i < 4; i++)
		if (strcmp(modes[i], "host") == 0)
			lb_pe_sb_add(&shared, "%s%s", shared.len ? " and " : "", names[i]);
	if (shared.len)
		lb_pe_side_fail(in, "shares the host %s namespace%s", buf,
				strchr(buf, ' ') ? "s" : "");
	if (!c->k)
		return;
	lb_pe_sb_init(&shared, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(kns) / sizeof(kns[0]); i++) {
		uint64_t a = c->k->ns[kns[i]], b = c->k->host_ns[kns[i]];
		lb_pe_sb_add(&k->ev, "%s%s %" PRIu64 "%s", i ? ", " : "", lb_ns_name(kns[i]), a,
			     a && a == b ? " (host)" : "");
		if (!a || !b) {
			lb_pe_side_fail(k, "ns/%s unknown", lb_ns_name(kns[i]));
			return;
		}
		if (a == b)
			lb_pe_sb_add(&shared, "%s%s", shared.len ? " and " : "",
				     lb_ns_name(kns[i]));
	}
	if (shared.len)
		lb_pe_side_fail(k, "shares the host %s namespace%s", buf,
				strchr(buf, ' ') ? "s" : "");
}

void lb_pe_check_memory_limit(const ctx *c, side *in, side *k)
{
	(void)k;
	lb_pe_sb_add(&in->ev, "Memory=%" PRId64, c->in->memory);
	if (c->in->memory <= 0)
		lb_pe_side_fail(in, "no memory limit");
}

void lb_pe_check_pids_limit(const ctx *c, side *in, side *k)
{
	(void)k;
	lb_pe_sb_add(&in->ev, "PidsLimit=%" PRId64, c->in->pids_limit);
	if (c->in->pids_limit <= 0)
		lb_pe_side_fail(in, "no pids limit");
}
