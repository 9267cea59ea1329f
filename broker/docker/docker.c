/* The Docker module's lifecycle, the consumer's ids and the rotation notify. */
#include "docker_int.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"
#include "units.h"

#include <ctype.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PASSWD_MAX (256 * 1024)

/* --- consumer identity --- */

static int open_in_root(int rootfd, const char *path)
{
	struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};

	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

/* Looks name (or a numeric id) up in the container's own passwd or group file, resolved
 * inside its root. field: the numeric column wanted (2 = uid/gid, 3 = primary gid). */
static int lookup_in_root(int pid, const char *file, const char *name, int field, uint32_t *out)
{
	char path[64];
	_cleanup_close_ int rootfd = -1;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len;
	lb_err e;

	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0 || (fd = open_in_root(rootfd, file)) < 0)
		return -1;
	if (lb_read_fd(fd, file, PASSWD_MAX, &text, &len, &e) < 0)
		return -1;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *cols[4] = {0};
		int n = 0;
		for (char *p = line; n < 4 && p; n++) {
			cols[n] = p;
			p = strchr(p, ':');
			if (p)
				*p++ = '\0';
		}
		if (n < 4 || !cols[field])
			continue;
		if (strcmp(cols[0], name) == 0 || strcmp(cols[2], name) == 0) {
			char *end;
			unsigned long v = strtoul(cols[field], &end, 10);
			if (*end || v > UINT32_MAX)
				return -1;
			*out = (uint32_t)v;
			return 0;
		}
	}
	return -1;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* Config.User: "", "uid", "uid:gid", "name", "name:group". */
int consumer_ids(int pid, const char *user, uint32_t *uid, uint32_t *gid, lb_err *e)
{
	char u[256], *g;

	snprintf(u, sizeof(u), "%s", user ? user : "");
	g = strchr(u, ':');
	if (g)
		*g++ = '\0';
	*uid = 0;
	*gid = 0;
	if (u[0]) {
		if (all_digits(u))
			*uid = (uint32_t)strtoul(u, NULL, 10);
		else if (lookup_in_root(pid, "etc/passwd", u, 2, uid) < 0)
			return lb_fail(e, 0, "user \"%s\" not found in the container's /etc/passwd",
				       u);
		if (!g && lookup_in_root(pid, "etc/passwd", u, 3, gid) < 0)
			*gid = 0;
	}
	if (g && *g) {
		if (all_digits(g))
			*gid = (uint32_t)strtoul(g, NULL, 10);
		else if (lookup_in_root(pid, "etc/group", g, 2, gid) < 0)
			return lb_fail(e, 0, "group \"%s\" not found in the container's /etc/group",
				       g);
	}
	return 0;
}

/* --- lifecycle --- */

struct lb_docker *lb_docker_new(lb_broker *b, lb_err *e)
{
	const lb_config *cfg = lb_broker_cfg(b);
	struct lb_docker *d = calloc(1, sizeof(*d));
	lb_engine_handlers h = {.on_event = dk_on_event, .on_connected = dk_on_connected};
	const char *base = strrchr(cfg->plugin_socket, '/') + 1;
	size_t n = strlen(base);

	if (!d)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	d->b = b;
	d->doomed = json_array();
	d->doom_timer = lb_timer_new(lb_broker_loop(b), dk_on_doom, d);
	if (n > 5 && strcmp(base + n - 5, ".sock") == 0)
		n -= 5;
	snprintf(d->driver, sizeof(d->driver), "%.*s", (int)n, base);
	if (mkdirat(lb_broker_run_dirfd(b), MOUNTS_DIR, 0711) < 0 && errno != EEXIST) {
		lb_fail_errno(e, "mkdir %s/%s", cfg->run_dir, MOUNTS_DIR);
		goto fail;
	}
	d->mdirfd = lb_open_dir_at(lb_broker_run_dirfd(b), MOUNTS_DIR, e);
	if (d->mdirfd < 0)
		goto fail;
	dk_load_volumes(d);
	d->pl = lb_plugin_listen(lb_broker_loop(b), cfg->plugin_socket, dk_on_plugin, d, e);
	if (!d->pl)
		goto fail;
	d->en = lb_engine_new(lb_broker_loop(b), lb_broker_http(b), cfg->docker_socket, &h, d, e);
	if (!d->en)
		goto fail;
	lb_log(LB_INFO, "docker: volume driver \"%s\" on %s, dockerd at %s", d->driver,
	       cfg->plugin_socket, cfg->docker_socket);
	return d;
fail:
	lb_docker_free(d);
	return NULL;
}

void lb_docker_free(struct lb_docker *d)
{
	if (!d)
		return;
	lb_engine_free(d->en);
	lb_plugin_free(d->pl);
	while (d->vols) {
		struct volume *v = d->vols;
		d->vols = v->next;
		json_decref(v->inspect);
		free(v);
	}
	json_decref(d->doomed);
	lb_timer_free(d->doom_timer);
	if (d->mdirfd > 0)
		close(d->mdirfd);
	free(d);
}

bool lb_docker_claims(struct lb_docker *d, const char *name)
{
	return d && dk_find_volume(d, name);
}

static void on_killed(void *ctx, long status, json_t *body, const char *err)
{
	char *id = ctx;

	(void)body;
	if (status != 204)
		lb_log(LB_WARN, "docker: notify of container %.12s failed: %s", id,
		       status ? "unexpected status" : err);
	free(id);
}

void lb_docker_published(struct lb_docker *d, lb_target *t, bool new_bytes)
{
	const lb_binding *bd;
	char path[200];
	char *id;

	if (!d || !t->container[0])
		return;
	if (!t->first_gen) {
		t->first_gen = t->generation; /* its first delivery, not a rotation */
		return;
	}
	bd = lb_config_binding(lb_broker_cfg(d->b), t->binding);
	/* A generation that only moves a lease's expiry changes nothing the app reads. */
	if (!new_bytes || !bd || !bd->notify_sig || !(id = strdup(t->container)))
		return;
	snprintf(path, sizeof(path), "containers/%s/kill?signal=%s", t->container,
		 lb_signal_name(bd->notify_sig));
	if (lb_engine_call(d->en, "POST", path, on_killed, id) < 0)
		free(id);
	else
		lb_audit("notify", json_pack("{s:s,s:s,s:s,s:I}", "target", t->name, "container",
					     t->container, "signal", lb_signal_name(bd->notify_sig),
					     "generation", (json_int_t)t->generation));
}
