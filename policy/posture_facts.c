/* The facts the posture gate judges: dockerd's inspect of a container (checked for type,
 * field by field) and the kernel facts' lifecycle; the names of namespaces and capabilities. */
#include "posture_rules.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* ---- inspect facts ---- */

static const char *const empty = "";

/* obj[key] into *out when it has type t (JSON_TRUE: a boolean); NULL when null or absent. */
static int field(const json_t *obj, const char *key, const char *where, json_type t,
		 const json_t **out, lb_err *e)
{
	static const char *const what[] = {[JSON_STRING] = "a string",
					   [JSON_INTEGER] = "an integer",
					   [JSON_TRUE] = "a boolean",
					   [JSON_ARRAY] = "an array"};
	const json_t *v = obj ? json_object_get(obj, key) : NULL;

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (t == JSON_TRUE ? !json_is_boolean(v) : json_typeof(v) != t)
		return lb_fail(e, 0, "container inspect: %s%s is not %s", where, key, what[t]);
	*out = v;
	return 0;
}

static int field_string(const json_t *obj, const char *key, const char *where, const char **out,
			lb_err *e)
{
	const json_t *v;
	int rc = field(obj, key, where, JSON_STRING, &v, e);

	*out = v ? json_string_value(v) : empty;
	return rc;
}

static int field_bool(const json_t *obj, const char *key, const char *where, bool *out, lb_err *e)
{
	const json_t *v;
	int rc = field(obj, key, where, JSON_TRUE, &v, e);

	*out = json_is_true(v); /* NULL when absent */
	return rc;
}

static int field_int(const json_t *obj, const char *key, const char *where, int64_t *out, lb_err *e)
{
	const json_t *v;
	int rc = field(obj, key, where, JSON_INTEGER, &v, e);

	*out = v ? (int64_t)json_integer_value(v) : 0;
	return rc;
}

/* An array of strings (objects when want_objects), or NULL when null/absent. */
static int field_array(const json_t *obj, const char *key, const char *where, bool want_objects,
		       const json_t **out, lb_err *e)
{
	const json_t *v;
	size_t i;
	json_t *x;

	*out = NULL;
	if (field(obj, key, where, JSON_ARRAY, &v, e))
		return -1;
	json_array_foreach (v, i, x) {
		if (want_objects ? !json_is_object(x) : !json_is_string(x))
			return lb_fail(e, 0, "container inspect: %s%s[%zu] is not %s", where, key,
				       i, want_objects ? "an object" : "a string");
	}
	*out = v;
	return 0;
}

int64_t lb_pe_user_uid(const char *user)
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
	f->uid = lb_pe_user_uid(f->user);
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
