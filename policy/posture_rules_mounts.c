/* Posture checks of what of the host a container sees: the docker socket and sensitive host
 * paths, from inspect's Mounts and from the container's mountinfo resolved to host paths. */
#include "posture_rules.h"

#include <stdio.h>
#include <string.h>

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

/* ---- checks ---- */

/* s escaped for a reason (at most 96 bytes of it); returns buf. */
static const char *escaped(char *buf, size_t cap, const char *s)
{
	sb p;

	lb_pe_sb_init(&p, buf, cap);
	lb_pe_sb_untrusted(&p, s, 96);
	return buf;
}

static void add_bind_mounts(sb *b, const lb_inspect_facts *f)
{
	size_t i, n = 0;
	json_t *m;

	json_array_foreach (f->mounts, i, m) {
		if (strcmp(mount_str(m, "Type"), "bind") != 0)
			continue;
		lb_pe_sb_add(b, n++ ? " " : "binds ");
		lb_pe_sb_untrusted(b, mount_str(m, "Source"), 80);
		lb_pe_sb_add(b, ":");
		lb_pe_sb_untrusted(b, mount_str(m, "Destination"), 80);
	}
	if (!n)
		lb_pe_sb_add(b, "no bind mounts (%zu mounts)", json_array_size(f->mounts));
}

/* The host path of container mount cm (resolved to the candidates hp) that a check forbids,
 * or NULL. */
typedef const char *hit_fn(const ctx *c, const lb_mount *cm, const host_paths *hp);

/* The kernel side of a mount check: every container mount but its root filesystem, resolved to
 * host paths and judged by hit_of; each hit fails k with "<pre>PATH<post>". */
static void kernel_mounts(const ctx *c, side *k, hit_fn *hit_of, const char *pre, const char *post,
			  const char *none)
{
	size_t found = 0;

	for (size_t i = 0; i < c->k->mounts.n; i++) {
		const lb_mount *cm = &c->k->mounts.v[i];
		host_paths hp;
		const char *hit;
		char buf[128];

		if (strcmp(cm->mountpoint, "/") == 0)
			continue; /* its own root filesystem (overlay under DATA_ROOT) */
		resolve_host_paths(cm, &c->k->host_mounts, &hp);
		hit = hit_of(c, cm, &hp);
		if (!hit)
			continue;
		lb_pe_sb_add(&k->ev, "%shost %s at ", found++ ? ", " : "",
			     escaped(buf, sizeof(buf), hit));
		lb_pe_sb_untrusted(&k->ev, cm->mountpoint, 80);
		lb_pe_side_fail(k, "%s%s%s", pre, buf, post);
	}
	if (!found)
		lb_pe_sb_add(&k->ev, "%s among %zu mounts", none, c->k->mounts.n);
}

static const char *docker_socket_hit(const ctx *c, const lb_mount *cm, const host_paths *hp)
{
	(void)c;
	for (size_t j = 0; j < hp->n; j++)
		if (docker_socket_path(hp->p[j]))
			return hp->p[j];
	if (strcmp(base_name(cm->mountpoint), "docker.sock") == 0)
		return hp->n ? hp->p[0] : "?";
	return NULL;
}

void lb_pe_check_no_docker_socket(const ctx *c, side *in, side *k)
{
	size_t i;
	json_t *m;

	add_bind_mounts(&in->ev, c->in);
	json_array_foreach (c->in->mounts, i, m) {
		const char *src = mount_str(m, "Source"), *dst = mount_str(m, "Destination");
		if (strcmp(mount_str(m, "Type"), "bind") != 0)
			continue;
		char buf[128];

		if (docker_socket_path(src) || strcmp(base_name(dst), "docker.sock") == 0)
			lb_pe_side_fail(in, "mounts the docker socket (%s)",
					escaped(buf, sizeof(buf), src));
	}
	if (!c->k)
		return;
	kernel_mounts(c, k, docker_socket_hit, "mounts the docker socket (", ")",
		      "no docker socket");
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

static const char *sensitive_hit(const ctx *c, const lb_mount *cm, const host_paths *hp)
{
	if ((strcmp(cm->fstype, "cgroup") == 0 || strcmp(cm->fstype, "cgroup2") == 0) &&
	    path_under(cm->mountpoint, "/sys/fs/cgroup") && strcmp(cm->root, "/") != 0)
		return NULL; /* its own cgroup, as docker mounts it */
	for (size_t j = 0; j < hp->n; j++)
		if (docker_own_mount(c->in, c->k, cm, hp->p[j]))
			return NULL;
	for (size_t j = 0; j < hp->n; j++)
		if (sensitive_path(hp->p[j]))
			return hp->p[j];
	return NULL;
}

void lb_pe_check_no_sensitive_mounts(const ctx *c, side *in, side *k)
{
	size_t i, ndev = json_array_size(c->in->devices);
	json_t *m;

	add_bind_mounts(&in->ev, c->in);
	if (ndev)
		lb_pe_sb_add(&in->ev, ", %zu host devices", ndev);
	json_array_foreach (c->in->mounts, i, m) {
		const char *src = mount_str(m, "Source");
		if (strcmp(mount_str(m, "Type"), "bind") != 0 || !sensitive_path(src))
			continue;
		char buf[128];

		lb_pe_side_fail(in, "mounts host %s", escaped(buf, sizeof(buf), src));
	}
	json_array_foreach (c->in->devices, i, m) {
		char buf[128];

		lb_pe_side_fail(in, "has host device %s",
				escaped(buf, sizeof(buf), mount_str(m, "PathOnHost")));
	}
	if (!c->k)
		return;
	if (c->k->host_mounts.n == 0) {
		lb_pe_sb_add(&k->ev, "lockboxd's mountinfo unknown");
		lb_pe_side_fail(k, "kernel facts incomplete");
		return;
	}
	kernel_mounts(c, k, sensitive_hit, "mounts host ", "", "no sensitive host path");
}
