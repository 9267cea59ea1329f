#include "posture_eval.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bounded text buffers ---- */

typedef struct sb {
	char *p;
	size_t cap, len;
	bool cut;
} sb;

static void sb_init(sb *b, char *buf, size_t cap)
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

__attribute__((format(printf, 2, 3))) static void sb_add(sb *b, const char *fmt, ...)
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

/* Text that came from outside (inspect fields, env names, paths): printable ASCII only, the
 * rest as \xNN, at most max bytes of it (STYLE.md rule 8). */
static void sb_untrusted(sb *b, const char *s, size_t max)
{
	size_t i;

	// cppcheck-suppress arrayIndexOutOfBoundsCond ; the loop stops at s's NUL, before max
	for (i = 0; i < max && s[i] && !b->cut; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			sb_add(b, "%c", c);
		else
			sb_add(b, "\\x%02x", c);
	}
	if (s[i] && i >= max)
		sb_add(b, "...");
}

/* ---- inspect facts ---- */

static const char *const empty = "";

static int field_string(const json_t *obj, const char *key, const char *where, const char **out,
			lb_err *e)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = empty;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return lb_fail(e, 0, "container inspect: %s%s is not a string", where, key);
	*out = json_string_value(v);
	return 0;
}

static int field_bool(const json_t *obj, const char *key, const char *where, bool *out, lb_err *e)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return lb_fail(e, 0, "container inspect: %s%s is not a boolean", where, key);
	*out = json_is_true(v);
	return 0;
}

static int field_int(const json_t *obj, const char *key, const char *where, int64_t *out, lb_err *e)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return lb_fail(e, 0, "container inspect: %s%s is not an integer", where, key);
	*out = (int64_t)json_integer_value(v);
	return 0;
}

/* An array of strings (objects when want_objects), or NULL when null/absent. */
static int field_array(const json_t *obj, const char *key, const char *where, bool want_objects,
		       const json_t **out, lb_err *e)
{
	const json_t *v = obj ? json_object_get(obj, key) : NULL;
	size_t i;
	json_t *x;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return lb_fail(e, 0, "container inspect: %s%s is not an array", where, key);
	json_array_foreach (v, i, x) {
		if (want_objects ? !json_is_object(x) : !json_is_string(x))
			return lb_fail(e, 0, "container inspect: %s%s[%zu] is not %s", where, key,
				       i, want_objects ? "an object" : "a string");
	}
	*out = v;
	return 0;
}

/* The uid a Config.User stands for when that is decidable without the image's /etc/passwd. */
static int64_t user_uid(const char *user)
{
	size_t n = strcspn(user, ":");
	uint64_t v = 0;

	if (n == 0)
		return 0; /* "" or ":GID": the image default, root */
	if (n == 4 && strncmp(user, "root", 4) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)user[i]))
			return -1;
		v = v * 10 + (uint64_t)(user[i] - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	return (int64_t)v;
}

int lb_inspect_facts_from_json(json_t *inspect, bool daemon_userns_remap, lb_inspect_facts *f,
			       lb_err *e)
{
	const json_t *config, *hc;
	size_t i;
	json_t *m;

	memset(f, 0, sizeof(*f));
	if (!json_is_object(inspect))
		return lb_fail(e, 0, "container inspect: not a JSON object");
	config = json_object_get(inspect, "Config");
	hc = json_object_get(inspect, "HostConfig");
	if (!json_is_object(config) || !json_is_object(hc))
		return lb_fail(e, 0, "container inspect: Config or HostConfig is not an object");
	if (field_string(inspect, "Id", "", &f->id, e) || !*f->id)
		return *f->id ? -1 : lb_fail(e, 0, "container inspect: no Id");
	if (field_string(inspect, "Name", "", &f->name, e) ||
	    field_string(inspect, "AppArmorProfile", "", &f->apparmor_profile, e) ||
	    field_string(inspect, "ProcessLabel", "", &f->process_label, e) ||
	    field_string(inspect, "ResolvConfPath", "", &f->resolv_conf_path, e) ||
	    field_string(inspect, "HostnamePath", "", &f->hostname_path, e) ||
	    field_string(inspect, "HostsPath", "", &f->hosts_path, e) ||
	    field_string(config, "User", "Config.", &f->user, e) ||
	    field_array(config, "Env", "Config.", false, &f->env, e) ||
	    field_bool(hc, "Privileged", "HostConfig.", &f->privileged, e) ||
	    field_bool(hc, "ReadonlyRootfs", "HostConfig.", &f->readonly_rootfs, e) ||
	    field_string(hc, "NetworkMode", "HostConfig.", &f->network_mode, e) ||
	    field_string(hc, "PidMode", "HostConfig.", &f->pid_mode, e) ||
	    field_string(hc, "IpcMode", "HostConfig.", &f->ipc_mode, e) ||
	    field_string(hc, "UTSMode", "HostConfig.", &f->uts_mode, e) ||
	    field_string(hc, "UsernsMode", "HostConfig.", &f->userns_mode, e) ||
	    field_int(hc, "Memory", "HostConfig.", &f->memory, e) ||
	    field_int(hc, "PidsLimit", "HostConfig.", &f->pids_limit, e) ||
	    field_array(hc, "CapAdd", "HostConfig.", false, &f->cap_add, e) ||
	    field_array(hc, "CapDrop", "HostConfig.", false, &f->cap_drop, e) ||
	    field_array(hc, "SecurityOpt", "HostConfig.", false, &f->security_opt, e) ||
	    field_array(hc, "Devices", "HostConfig.", true, &f->devices, e) ||
	    field_array(inspect, "Mounts", "", true, &f->mounts, e))
		return -1;
	if (f->pids_limit < 0)
		f->pids_limit = 0;
	json_array_foreach (f->mounts, i, m) {
		const char *s;
		char where[32];

		snprintf(where, sizeof(where), "Mounts[%zu].", i);
		if (field_string(m, "Type", where, &s, e) ||
		    field_string(m, "Source", where, &s, e) ||
		    field_string(m, "Destination", where, &s, e))
			return -1;
	}
	json_array_foreach (f->devices, i, m) {
		const char *s;
		char where[40];

		snprintf(where, sizeof(where), "HostConfig.Devices[%zu].", i);
		if (field_string(m, "PathOnHost", where, &s, e))
			return -1;
	}
	f->uid = user_uid(f->user);
	f->daemon_userns_remap = daemon_userns_remap;
	f->doc = json_incref(inspect);
	return 0;
}

void lb_inspect_facts_clear(lb_inspect_facts *f)
{
	json_decref(f->doc);
	memset(f, 0, sizeof(*f));
}

bool lb_info_has_security_option(const json_t *info, const char *name)
{
	const json_t *opts = json_object_get(info, "SecurityOptions");
	size_t i, n = strlen(name);
	json_t *o;

	json_array_foreach (opts, i, o) {
		const char *s = json_string_value(o);
		if (s && strncmp(s, "name=", 5) == 0 && strncmp(s + 5, name, n) == 0 &&
		    (s[5 + n] == '\0' || s[5 + n] == ','))
			return true;
	}
	return false;
}

/* ---- kernel facts ---- */

static const char *const ns_names[LB_NS_COUNT] = {
    [LB_NS_NET] = "net", [LB_NS_PID] = "pid",	[LB_NS_IPC] = "ipc",
    [LB_NS_UTS] = "uts", [LB_NS_USER] = "user", [LB_NS_MNT] = "mnt",
};

const char *lb_ns_name(enum lb_ns ns)
{
	return (unsigned)ns < LB_NS_COUNT ? ns_names[ns] : "?";
}

void lb_mounts_clear(lb_mounts *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].root);
		free(m->v[i].mountpoint);
		free(m->v[i].fstype);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

void lb_kernel_facts_init(lb_kernel_facts *k)
{
	memset(k, 0, sizeof(*k));
	k->no_new_privs = -1;
	k->seccomp = -1;
}

void lb_kernel_facts_clear(lb_kernel_facts *k)
{
	lb_mounts_clear(&k->mounts);
	lb_mounts_clear(&k->host_mounts);
	lb_kernel_facts_init(k);
}

/* ---- capabilities ---- */

static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

const char *lb_cap_name(unsigned cap)
{
	return cap < sizeof(cap_names) / sizeof(cap_names[0]) ? cap_names[cap] : NULL;
}

static void add_cap_name(sb *b, unsigned cap)
{
	const char *n = lb_cap_name(cap);

	if (n)
		sb_add(b, "%s", n);
	else
		sb_add(b, "cap%u", cap);
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
	sb_add(b, "has ");
	add_cap_name(b, first);
	if (n == 2) {
		sb_add(b, " and ");
		add_cap_name(b, second);
	} else if (n > 2) {
		sb_add(b, " and %u more capabilities", n - 1);
	}
}

static void caps_list(sb *b, uint64_t set)
{
	bool any = false;

	for (unsigned i = 0; i < 64; i++)
		if (set & (UINT64_C(1) << i)) {
			sb_add(b, any ? " " : "");
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
	sb_untrusted(b, name, 48);
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

static void add_string_list(sb *b, const json_t *a, size_t each_max)
{
	size_t i;
	json_t *x;

	sb_add(b, "[");
	json_array_foreach (a, i, x) {
		sb_add(b, i ? " " : "");
		sb_untrusted(b, json_string_value(x), each_max);
	}
	sb_add(b, "]");
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
	sb_add(b, "\"");
	if (m->n == 0)
		sb_add(b, "identity");
	for (size_t i = 0; i < m->n && i < 3; i++)
		sb_add(b, "%s%" PRIu32 " %" PRIu32 " %" PRIu32, i ? "; " : "", m->r[i].inside,
		       m->r[i].outside, m->r[i].count);
	if (m->n > 3)
		sb_add(b, "; ...");
	sb_add(b, "\"");
}

/* ---- paths ---- */

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Host paths a container must not see: exact ones (a parent of everything) and subtrees. */
static const char *const sensitive_exact[] = {"/", "/etc", "/var", "/run", "/var/run", "/var/lib"};
static const char *const sensitive_tree[] = {"/proc",
					     "/sys",
					     "/dev",
					     "/boot",
					     "/root",
					     "/var/lib/docker",
					     "/var/lib/containerd",
					     "/run/containerd",
					     "/run/docker",
					     "/var/run/docker",
					     "/run/docker.sock",
					     "/var/run/docker.sock",
					     "/etc/shadow",
					     "/etc/gshadow",
					     "/etc/sudoers",
					     "/etc/ssh",
					     "/etc/lockbox",
					     "/var/lib/lockbox",
					     "/run/lockbox",
					     "/var/lib/kubelet",
					     "/etc/kubernetes"};

static bool sensitive_path(const char *path)
{
	for (size_t i = 0; i < sizeof(sensitive_exact) / sizeof(sensitive_exact[0]); i++)
		if (strcmp(path, sensitive_exact[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof(sensitive_tree) / sizeof(sensitive_tree[0]); i++)
		if (path_under(path, sensitive_tree[i]))
			return true;
	return false;
}

/* The docker socket itself, or a directory that holds it. */
static bool docker_socket_path(const char *path)
{
	return strcmp(base_name(path), "docker.sock") == 0 || strcmp(path, "/run") == 0 ||
	       strcmp(path, "/var/run") == 0 || strcmp(path, "/run/docker") == 0 ||
	       strcmp(path, "/var/run/docker") == 0;
}

/* Device nodes runc binds from the host into every container under a user namespace (it
 * cannot mknod there); also the target of the masked /proc paths. */
static const char *const default_devices[] = {"/dev/null",   "/dev/zero",    "/dev/full",
					      "/dev/random", "/dev/urandom", "/dev/tty"};

static bool default_device(const char *path)
{
	for (size_t i = 0; i < sizeof(default_devices) / sizeof(default_devices[0]); i++)
		if (strcmp(path, default_devices[i]) == 0)
			return true;
	return false;
}

static const char *mount_str(const json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));
	return s ? s : "";
}

/* Where a container's mount comes from on the host: every host mount of the same device
 * whose root contains the container mount's root gives one candidate path. */
typedef struct host_paths {
	char p[4][512];
	size_t n;
} host_paths;

static void resolve_host_paths(const lb_mount *cm, const lb_mounts *host, host_paths *out)
{
	out->n = 0;
	for (size_t i = 0; i < host->n && out->n < 4; i++) {
		const lb_mount *h = &host->v[i];
		const char *rest;
		int n;

		if (h->major != cm->major || h->minor != cm->minor ||
		    !path_under(cm->root, h->root))
			continue;
		rest = strcmp(h->root, "/") == 0 ? cm->root : cm->root + strlen(h->root);
		if (strcmp(rest, "/") == 0)
			rest = "";
		if (strcmp(h->mountpoint, "/") == 0)
			n = snprintf(out->p[out->n], sizeof(out->p[0]), "%s", *rest ? rest : "/");
		else
			n = snprintf(out->p[out->n], sizeof(out->p[0]), "%s%s", h->mountpoint,
				     rest);
		if (n > 0 && (size_t)n < sizeof(out->p[0]))
			out->n++;
	}
}

/* ---- evaluation ---- */

enum { NO_SAY = -1, FAIL = 0, PASS = 1 };

typedef struct side {
	int v;
	sb ev, why;
	char evbuf[LB_EVIDENCE_MAX], whybuf[LB_EVIDENCE_MAX];
} side;

typedef struct ctx {
	const lb_inspect_facts *in;
	const lb_kernel_facts *k; /* NULL before start */
	const lb_secret_hashes *h;
} ctx;

static void side_init(side *s, int v)
{
	s->v = v;
	sb_init(&s->ev, s->evbuf, sizeof(s->evbuf));
	sb_init(&s->why, s->whybuf, sizeof(s->whybuf));
}

/* The first failure gives the reason; later ones are joined with "; ". */
__attribute__((format(printf, 2, 3))) static void side_fail(side *s, const char *fmt, ...)
{
	char tmp[LB_EVIDENCE_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(tmp, sizeof(tmp), fmt, ap); /* a long detail is cut */
	va_end(ap);
	sb_add(&s->why, "%s%s", s->v == FAIL ? "; " : "", tmp);
	s->v = FAIL;
}

static void check_non_root(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	uint32_t inside[4];

	sb_add(&in->ev, "User=\"");
	sb_untrusted(&in->ev, c->in->user, 64);
	sb_add(&in->ev, "\"");
	if (c->in->uid >= 0 && user_uid(c->in->user) < 0)
		sb_add(&in->ev, " = uid %" PRId64, c->in->uid);
	if (c->in->uid == 0)
		side_fail(in, "runs as root");
	else if (c->in->uid < 0)
		side_fail(in, "user name not resolved to a uid");
	if (!kf)
		return;
	if (!kf->have_status || !kf->have_maps) {
		sb_add(&k->ev, "no /proc status or uid_map");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	sb_add(&k->ev, "Uid %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32, kf->uid[0], kf->uid[1],
	       kf->uid[2], kf->uid[3]);
	for (int i = 0; i < 4; i++)
		if (!idmap_to_inside(&kf->uid_map, kf->uid[i], &inside[i])) {
			sb_add(&k->ev, " via uid_map ");
			add_idmap(&k->ev, &kf->uid_map);
			side_fail(k, "uid %" PRIu32 " is not in the container's uid_map",
				  kf->uid[i]);
			return;
		}
	if (inside[0] == inside[1] && inside[1] == inside[2] && inside[2] == inside[3])
		sb_add(&k->ev, " = container uid %" PRIu32, inside[0]);
	else
		sb_add(&k->ev, " = container uids %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32,
		       inside[0], inside[1], inside[2], inside[3]);
	sb_add(&k->ev, " via uid_map ");
	add_idmap(&k->ev, &kf->uid_map);
	for (int i = 0; i < 4; i++)
		if (inside[i] == 0) {
			side_fail(k, "runs as root");
			return;
		}
}

static void check_userns_remap(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	uint32_t inside;

	sb_add(&in->ev, "daemon userns-remap %s, UsernsMode=\"",
	       c->in->daemon_userns_remap ? "on" : "off");
	sb_untrusted(&in->ev, c->in->userns_mode, 32);
	sb_add(&in->ev, "\"");
	if (!c->in->daemon_userns_remap)
		side_fail(in, "dockerd runs without userns-remap");
	else if (strcmp(c->in->userns_mode, "host") == 0)
		side_fail(in, "shares the host user namespace");
	if (!kf)
		return;
	if (!kf->have_maps || !kf->ns[LB_NS_USER] || !kf->host_ns[LB_NS_USER]) {
		sb_add(&k->ev, "uid_map or user namespace unknown");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	sb_add(&k->ev, "uid_map ");
	add_idmap(&k->ev, &kf->uid_map);
	sb_add(&k->ev, ", user ns %" PRIu64 " (lockboxd's %" PRIu64 ")", kf->ns[LB_NS_USER],
	       kf->host_ns[LB_NS_USER]);
	if (kf->ns[LB_NS_USER] == kf->host_ns[LB_NS_USER])
		side_fail(k, "shares the host user namespace");
	else if (idmap_to_inside(&kf->uid_map, 0, &inside))
		side_fail(k, "host root is mapped into the container (as uid %" PRIu32 ")", inside);
}

static void check_cap_drop_all(const ctx *c, side *in, side *k)
{
	const lb_kernel_facts *kf = c->k;
	size_t n_add = json_array_size(c->in->cap_add);

	sb_add(&in->ev, "CapDrop=");
	add_string_list(&in->ev, c->in->cap_drop, 32);
	sb_add(&in->ev, " CapAdd=");
	add_string_list(&in->ev, c->in->cap_add, 32);
	sb_add(&in->ev, " Privileged=%s", c->in->privileged ? "true" : "false");
	if (c->in->privileged) {
		side_fail(in, "privileged (has all capabilities)");
	} else if (n_add && array_has_ci(c->in->cap_add, "ALL")) {
		side_fail(in, "has all capabilities");
	} else if (n_add) {
		sb why;
		char buf[LB_EVIDENCE_MAX];

		sb_init(&why, buf, sizeof(buf));
		sb_add(&why, "has ");
		add_docker_cap(&why, json_string_value(json_array_get(c->in->cap_add, 0)));
		if (n_add == 2) {
			sb_add(&why, " and ");
			add_docker_cap(&why, json_string_value(json_array_get(c->in->cap_add, 1)));
		} else if (n_add > 2) {
			sb_add(&why, " and %zu more capabilities", n_add - 1);
		}
		side_fail(in, "%s", buf);
	} else if (!array_has_ci(c->in->cap_drop, "ALL")) {
		side_fail(in, "keeps the default capabilities (no --cap-drop ALL)");
	}
	if (!kf)
		return;
	if (!kf->have_status) {
		sb_add(&k->ev, "no /proc status");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	/* A non-root process has CapEff 0 whatever the container was given: the bounding set is
	 * what --cap-drop ALL empties. */
	sb_add(&k->ev,
	       "CapEff=%#" PRIx64 " CapPrm=%#" PRIx64 " CapBnd=%#" PRIx64 " CapAmb=%#" PRIx64,
	       kf->cap_eff, kf->cap_prm, kf->cap_bnd, kf->cap_amb);
	uint64_t all = kf->cap_eff | kf->cap_prm | kf->cap_bnd | kf->cap_amb;
	if (all) {
		sb why;
		char buf[LB_EVIDENCE_MAX];

		sb_add(&k->ev, " (");
		caps_list(&k->ev, all);
		sb_add(&k->ev, ")");
		sb_init(&why, buf, sizeof(buf));
		caps_reason(&why, all);
		side_fail(k, "%s", buf);
	}
}

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
	sb_add(b, "SecurityOpt=");
	/* A custom seccomp profile is inlined here as JSON: keep evidence short. */
	add_string_list(b, f->security_opt, 40);
}

static void check_no_new_privileges(const ctx *c, side *in, side *k)
{
	const char *v = security_opt(c->in, "no-new-privileges");
	bool on = v ? (*v == '\0' || strcmp(v, "true") == 0) : c->in->daemon_no_new_privileges;

	add_security_opts(&in->ev, c->in);
	if (c->in->daemon_no_new_privileges)
		sb_add(&in->ev, ", daemon no-new-privileges");
	if (!on)
		side_fail(in, "no-new-privileges not set");
	if (!c->k)
		return;
	if (c->k->no_new_privs < 0) {
		sb_add(&k->ev, "no NoNewPrivs line");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	sb_add(&k->ev, "NoNewPrivs=%d", c->k->no_new_privs);
	if (c->k->no_new_privs != 1)
		side_fail(k, "no-new-privileges not set");
}

static void check_seccomp(const ctx *c, side *in, side *k)
{
	const char *v = security_opt(c->in, "seccomp");

	add_security_opts(&in->ev, c->in);
	sb_add(&in->ev, " Privileged=%s", c->in->privileged ? "true" : "false");
	if (v && strcmp(v, "unconfined") == 0)
		side_fail(in, "seccomp unconfined");
	else if (c->in->privileged)
		side_fail(in, "seccomp unconfined (privileged)");
	if (!c->k)
		return;
	if (c->k->seccomp < 0) {
		sb_add(&k->ev, "no Seccomp line");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	sb_add(&k->ev, "Seccomp=%d (%s)", c->k->seccomp,
	       c->k->seccomp == 2   ? "filter"
	       : c->k->seccomp == 1 ? "strict"
				    : "disabled");
	if (c->k->seccomp == 0)
		side_fail(k, "seccomp unconfined");
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

static void check_lsm(const ctx *c, side *in, side *k)
{
	const char *aa = c->in->apparmor_profile, *se = c->in->process_label;
	const char *aa_opt = security_opt(c->in, "apparmor");
	const char *label_opt = security_opt(c->in, "label");

	sb_add(&in->ev, "AppArmorProfile=\"");
	sb_untrusted(&in->ev, aa, 64);
	sb_add(&in->ev, "\" ProcessLabel=\"");
	sb_untrusted(&in->ev, se, 96);
	sb_add(&in->ev, "\"");
	if (aa_opt && strcmp(aa_opt, "unconfined") == 0)
		side_fail(in, "apparmor unconfined");
	else if (!(*aa && lsm_label_confined(aa)) && !(*se && lsm_label_confined(se)))
		side_fail(in, label_opt && strcmp(label_opt, "disable") == 0
				  ? "no AppArmor or SELinux confinement (label=disable)"
				  : "no AppArmor or SELinux confinement");
	if (!c->k)
		return;
	if (!c->k->lsm_available) {
		sb_add(&k->ev, "attr/current unreadable (no AppArmor or SELinux)");
		side_fail(k, "no AppArmor or SELinux confinement");
		return;
	}
	sb_add(&k->ev, "attr/current \"");
	sb_untrusted(&k->ev, c->k->lsm_label, 128);
	sb_add(&k->ev, "\"");
	if (!lsm_label_confined(c->k->lsm_label))
		side_fail(k, "no AppArmor or SELinux confinement");
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

static void check_read_only_rootfs(const ctx *c, side *in, side *k)
{
	const lb_mount *root;

	sb_add(&in->ev, "ReadonlyRootfs=%s", c->in->readonly_rootfs ? "true" : "false");
	if (!c->in->readonly_rootfs)
		side_fail(in, "writable root filesystem");
	if (!c->k)
		return;
	root = container_root_mount(c->k);
	if (!root) {
		sb_add(&k->ev, "no / in mountinfo");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	sb_add(&k->ev, "/ mounted %s (", root->ro ? "ro" : "rw");
	sb_untrusted(&k->ev, root->fstype, 32);
	sb_add(&k->ev, ")");
	if (!root->ro)
		side_fail(k, "writable root filesystem");
}

static void check_no_privileged(const ctx *c, side *in, side *k)
{
	(void)k; /* a privileged container's CapBnd is not the host's full set: no kernel proof */
	sb_add(&in->ev, "Privileged=%s", c->in->privileged ? "true" : "false");
	if (c->in->privileged)
		side_fail(in, "privileged");
}

static void check_no_host_namespaces(const ctx *c, side *in, side *k)
{
	const char *modes[] = {c->in->network_mode, c->in->pid_mode, c->in->ipc_mode,
			       c->in->uts_mode};
	const char *names[] = {"net", "pid", "ipc", "uts"};
	static const enum lb_ns kns[] = {LB_NS_NET, LB_NS_PID, LB_NS_IPC, LB_NS_UTS, LB_NS_MNT};
	char buf[96] = "";
	sb shared;

	sb_init(&shared, buf, sizeof(buf));
	sb_add(&in->ev, "NetworkMode=\"");
	sb_untrusted(&in->ev, modes[0], 32);
	sb_add(&in->ev, "\" PidMode=\"");
	sb_untrusted(&in->ev, modes[1], 32);
	sb_add(&in->ev, "\" IpcMode=\"");
	sb_untrusted(&in->ev, modes[2], 32);
	sb_add(&in->ev, "\" UTSMode=\"");
	sb_untrusted(&in->ev, modes[3], 32);
	sb_add(&in->ev, "\"");
	for (int i = 0; i < 4; i++)
		if (strcmp(modes[i], "host") == 0)
			sb_add(&shared, "%s%s", shared.len ? " and " : "", names[i]);
	if (shared.len)
		side_fail(in, "shares the host %s namespace%s", buf, strchr(buf, ' ') ? "s" : "");
	if (!c->k)
		return;
	sb_init(&shared, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(kns) / sizeof(kns[0]); i++) {
		uint64_t a = c->k->ns[kns[i]], b = c->k->host_ns[kns[i]];
		sb_add(&k->ev, "%s%s %" PRIu64 "%s", i ? ", " : "", lb_ns_name(kns[i]), a,
		       a && a == b ? " (host)" : "");
		if (!a || !b) {
			side_fail(k, "ns/%s unknown", lb_ns_name(kns[i]));
			return;
		}
		if (a == b)
			sb_add(&shared, "%s%s", shared.len ? " and " : "", lb_ns_name(kns[i]));
	}
	if (shared.len)
		side_fail(k, "shares the host %s namespace%s", buf, strchr(buf, ' ') ? "s" : "");
}

static void add_bind_mounts(sb *b, const lb_inspect_facts *f)
{
	size_t i, n = 0;
	json_t *m;

	json_array_foreach (f->mounts, i, m) {
		if (strcmp(mount_str(m, "Type"), "bind") != 0)
			continue;
		sb_add(b, n++ ? " " : "binds ");
		sb_untrusted(b, mount_str(m, "Source"), 80);
		sb_add(b, ":");
		sb_untrusted(b, mount_str(m, "Destination"), 80);
	}
	if (!n)
		sb_add(b, "no bind mounts (%zu mounts)", json_array_size(f->mounts));
}

static void check_no_docker_socket(const ctx *c, side *in, side *k)
{
	size_t i;
	json_t *m;

	add_bind_mounts(&in->ev, c->in);
	json_array_foreach (c->in->mounts, i, m) {
		const char *src = mount_str(m, "Source"), *dst = mount_str(m, "Destination");
		if (strcmp(mount_str(m, "Type"), "bind") != 0)
			continue;
		if (docker_socket_path(src) || strcmp(base_name(dst), "docker.sock") == 0) {
			char buf[128];
			sb p;

			sb_init(&p, buf, sizeof(buf));
			sb_untrusted(&p, src, 96);
			side_fail(in, "mounts the docker socket (%s)", buf);
		}
	}
	if (!c->k)
		return;
	size_t found = 0;
	for (i = 0; i < c->k->mounts.n; i++) {
		const lb_mount *cm = &c->k->mounts.v[i];
		host_paths hp;
		const char *hit = NULL;

		if (strcmp(cm->mountpoint, "/") == 0)
			continue;
		resolve_host_paths(cm, &c->k->host_mounts, &hp);
		for (size_t j = 0; j < hp.n && !hit; j++)
			if (docker_socket_path(hp.p[j]))
				hit = hp.p[j];
		if (!hit && strcmp(base_name(cm->mountpoint), "docker.sock") == 0)
			hit = hp.n ? hp.p[0] : "?";
		if (!hit)
			continue;
		char buf[128];
		sb p;

		sb_init(&p, buf, sizeof(buf));
		sb_untrusted(&p, hit, 96);
		sb_add(&k->ev, "%shost %s at ", found++ ? ", " : "", buf);
		sb_untrusted(&k->ev, cm->mountpoint, 80);
		side_fail(k, "mounts the docker socket (%s)", buf);
	}
	if (!found)
		sb_add(&k->ev, "no docker socket among %zu mounts", c->k->mounts.n);
}

/* A container mount that docker makes for every container: its resolv.conf, hostname and
 * hosts files, the default device nodes, volumes, a shareable IPC's shm; and what comes with a
 * host namespace (no-host-namespaces judges that): the host's /sys that runc binds read-only
 * when the container shares the host network namespace (sysfs cannot be mounted anew there),
 * the host's /dev/shm with --ipc host. */
static bool shares_ns(const lb_kernel_facts *k, enum lb_ns ns)
{
	return k->ns[ns] && k->ns[ns] == k->host_ns[ns];
}

static bool docker_own_mount(const lb_inspect_facts *f, const lb_kernel_facts *k,
			     const lb_mount *cm, const char *host)
{
	size_t i;
	json_t *m;

	if (default_device(host))
		return true;
	if ((*f->resolv_conf_path && strcmp(host, f->resolv_conf_path) == 0) ||
	    (*f->hostname_path && strcmp(host, f->hostname_path) == 0) ||
	    (*f->hosts_path && strcmp(host, f->hosts_path) == 0))
		return true;
	json_array_foreach (f->mounts, i, m) {
		if (strcmp(mount_str(m, "Type"), "bind") != 0 &&
		    strcmp(host, mount_str(m, "Source")) == 0 &&
		    strcmp(cm->mountpoint, mount_str(m, "Destination")) == 0)
			return true;
	}
	if (*f->hosts_path) {
		/* DATA_ROOT/containers/ID/hosts -> DATA_ROOT/containers/<any>/mounts/shm */
		char dir[512];
		const char *s;
		size_t n;

		snprintf(dir, sizeof(dir), "%s", f->hosts_path);
		for (int up = 0; up < 2; up++) {
			char *slash = strrchr(dir, '/');
			if (slash)
				*slash = '\0';
		}
		n = strlen(dir);
		if (n && strncmp(host, dir, n) == 0 && host[n] == '/' &&
		    (s = strstr(host + n + 1, "/mounts/shm")) && strcmp(s, "/mounts/shm") == 0)
			return true;
	}
	if (strcmp(cm->mountpoint, "/sys") == 0 && strcmp(host, "/sys") == 0 && cm->ro &&
	    strcmp(cm->fstype, "sysfs") == 0 && shares_ns(k, LB_NS_NET))
		return true;
	if (strcmp(cm->mountpoint, "/dev/shm") == 0 && strcmp(host, "/dev/shm") == 0 &&
	    shares_ns(k, LB_NS_IPC))
		return true;
	return false;
}

static void check_no_sensitive_mounts(const ctx *c, side *in, side *k)
{
	size_t i, ndev = json_array_size(c->in->devices);
	json_t *m;

	add_bind_mounts(&in->ev, c->in);
	if (ndev)
		sb_add(&in->ev, ", %zu host devices", ndev);
	json_array_foreach (c->in->mounts, i, m) {
		const char *src = mount_str(m, "Source");
		if (strcmp(mount_str(m, "Type"), "bind") != 0 || !sensitive_path(src))
			continue;
		char buf[128];
		sb p;

		sb_init(&p, buf, sizeof(buf));
		sb_untrusted(&p, src, 96);
		side_fail(in, "mounts host %s", buf);
	}
	json_array_foreach (c->in->devices, i, m) {
		char buf[128];
		sb p;

		sb_init(&p, buf, sizeof(buf));
		sb_untrusted(&p, mount_str(m, "PathOnHost"), 96);
		side_fail(in, "has host device %s", buf);
	}
	if (!c->k)
		return;
	if (c->k->host_mounts.n == 0) {
		sb_add(&k->ev, "lockboxd's mountinfo unknown");
		side_fail(k, "kernel facts incomplete");
		return;
	}
	size_t found = 0;
	for (i = 0; i < c->k->mounts.n; i++) {
		const lb_mount *cm = &c->k->mounts.v[i];
		host_paths hp;
		const char *hit = NULL;
		bool own = false;

		if (strcmp(cm->mountpoint, "/") == 0)
			continue; /* the container's own root filesystem (overlay under DATA_ROOT)
				   */
		if ((strcmp(cm->fstype, "cgroup") == 0 || strcmp(cm->fstype, "cgroup2") == 0) &&
		    path_under(cm->mountpoint, "/sys/fs/cgroup") && strcmp(cm->root, "/") != 0)
			continue; /* its own cgroup, as docker mounts it */
		resolve_host_paths(cm, &c->k->host_mounts, &hp);
		for (size_t j = 0; j < hp.n && !own; j++)
			own = docker_own_mount(c->in, c->k, cm, hp.p[j]);
		for (size_t j = 0; j < hp.n && !own && !hit; j++)
			if (sensitive_path(hp.p[j]))
				hit = hp.p[j];
		if (!hit)
			continue;
		char buf[128];
		sb p;

		sb_init(&p, buf, sizeof(buf));
		sb_untrusted(&p, hit, 96);
		sb_add(&k->ev, "%shost %s at ", found++ ? ", " : "", buf);
		sb_untrusted(&k->ev, cm->mountpoint, 80);
		side_fail(k, "mounts host %s", buf);
	}
	if (!found)
		sb_add(&k->ev, "no sensitive host path among %zu mounts", c->k->mounts.n);
}

static void check_memory_limit(const ctx *c, side *in, side *k)
{
	(void)k;
	sb_add(&in->ev, "Memory=%" PRId64, c->in->memory);
	if (c->in->memory <= 0)
		side_fail(in, "no memory limit");
}

static void check_pids_limit(const ctx *c, side *in, side *k)
{
	(void)k;
	sb_add(&in->ev, "PidsLimit=%" PRId64, c->in->pids_limit);
	if (c->in->pids_limit <= 0)
		side_fail(in, "no pids limit");
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

/* DESIGN.md: names like *PASSWORD*, *SECRET*, *TOKEN*, *KEY* without a _FILE suffix (or
 * _PATH: a path is not the secret). GPG_KEY(S) of the official language images is a public
 * key fingerprint. */
static bool secret_looking_name(const char *name, size_t n)
{
	static const char *const words[] = {"PASSWORD", "PASSWD",      "SECRET",     "TOKEN",
					    "API_KEY",	"PRIVATE_KEY", "CREDENTIAL", "KEY"};
	char up[256];

	if (n >= sizeof(up))
		n = sizeof(up) - 1;
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[n] = '\0';
	if (ends_with(up, n, "_FILE") || ends_with(up, n, "_PATH") || strcmp(up, "GPG_KEY") == 0 ||
	    strcmp(up, "GPG_KEYS") == 0)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(up, words[i]))
			return true;
	return false;
}

static void check_no_secret_env(const ctx *c, side *in, side *k)
{
	char names_buf[LB_EVIDENCE_MAX], vals_buf[LB_EVIDENCE_MAX];
	size_t i, n_names = 0, n_vals = 0;
	sb names, vals;
	json_t *x;

	(void)k; /* /proc/PID/environ would bring the values into lockboxd: inspect has them */
	sb_init(&names, names_buf, sizeof(names_buf));
	sb_init(&vals, vals_buf, sizeof(vals_buf));
	sb_add(&in->ev, "Env names [");
	json_array_foreach (c->in->env, i, x) {
		const char *s = json_string_value(x), *eq = strchr(s, '=');
		size_t n = eq ? (size_t)(eq - s) : strlen(s);
		char name[80];

		snprintf(name, sizeof(name), "%.*s", (int)(n < 79 ? n : 79), s);
		sb_add(&in->ev, i ? " " : "");
		sb_untrusted(&in->ev, name, 64);
		if (secret_looking_name(s, n)) {
			if (n_names++ < 3) {
				sb_add(&names, n_names > 1 ? " " : "");
				sb_untrusted(&names, name, 64);
			}
		}
		if (eq && c->h && lb_secret_hashes_contains(c->h, eq + 1, strlen(eq + 1))) {
			if (n_vals++ < 3) {
				sb_add(&vals, n_vals > 1 ? " " : "");
				sb_untrusted(&vals, name, 64);
			}
		}
	}
	sb_add(&in->ev, "]%s", c->h ? ", values checked against managed secrets" : "");
	if (n_names)
		side_fail(in, "secret-looking env %s%s", names_buf, n_names > 3 ? " ..." : "");
	if (n_vals)
		side_fail(in, "env %s holds a managed secret%s", vals_buf,
			  n_vals > 3 ? " ..." : "");
}

typedef void (*check_fn)(const ctx *c, side *in, side *k);

static const check_fn checks[LB_CHECK_COUNT] = {
    [LB_CHECK_NON_ROOT] = check_non_root,
    [LB_CHECK_USERNS_REMAP] = check_userns_remap,
    [LB_CHECK_CAP_DROP_ALL] = check_cap_drop_all,
    [LB_CHECK_NO_NEW_PRIVILEGES] = check_no_new_privileges,
    [LB_CHECK_SECCOMP] = check_seccomp,
    [LB_CHECK_LSM] = check_lsm,
    [LB_CHECK_READ_ONLY_ROOTFS] = check_read_only_rootfs,
    [LB_CHECK_NO_PRIVILEGED] = check_no_privileged,
    [LB_CHECK_NO_HOST_NAMESPACES] = check_no_host_namespaces,
    [LB_CHECK_NO_DOCKER_SOCKET] = check_no_docker_socket,
    [LB_CHECK_NO_SENSITIVE_MOUNTS] = check_no_sensitive_mounts,
    [LB_CHECK_MEMORY_LIMIT] = check_memory_limit,
    [LB_CHECK_PIDS_LIMIT] = check_pids_limit,
    [LB_CHECK_NO_SECRET_ENV] = check_no_secret_env,
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
		sb_init(&s, r->reason, sizeof(r->reason));
		sb_add(&s, "%s according to %s (%s) but not to %s (%s)", bad->whybuf,
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
	sb_init(&s, rep->container, sizeof(rep->container));
	sb_untrusted(&s, in->id ? in->id : "", 72);
	sb_init(&s, rep->name, sizeof(rep->name));
	sb_untrusted(&s, in->name ? in->name : "", 100);
	for (int i = 0; i < LB_CHECK_COUNT; i++) {
		lb_posture_result *r = &rep->check[i];

		side_init(&si, PASS);
		side_init(&sk, k && has_kernel_source[i] ? PASS : NO_SAY);
		checks[i](&c, &si, &sk);
		if (sk.v == NO_SAY)
			sb_init(&sk.ev, sk.evbuf, sizeof(sk.evbuf));
		combine(r, &si, &sk);
		r->required = (require & LB_CHECK_BIT(i)) != 0;
		if (r->required && !r->pass)
			rep->failed |= LB_CHECK_BIT(i);
	}
	return rep->failed;
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

	sb_init(&s, tmp, sizeof(tmp));
	sb_add(&s, "lockbox: binding ");
	sb_untrusted(&s, binding ? binding : "?", 128);
	if (rep->failed == 0) {
		sb_add(&s, " admitted container");
	} else {
		sb_add(&s, " refused container: ");
		for (int i = 0; i < LB_CHECK_COUNT; i++) {
			if (!(rep->failed & LB_CHECK_BIT(i)))
				continue;
			sb_add(&s, "%s%s (%s)", any ? ", " : "", rep->check[i].reason,
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
