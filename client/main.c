/* lockbox: the in-container client. Commands get, wait, check and exec (exec.c).
 * libc only and no stdio, so that the static binary stays a few dozen KiB. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "cli.h"

#ifndef LOCKBOX_VERSION
#define LOCKBOX_VERSION "unknown"
#endif

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_GRACE_MS   10000

static const char usage[] =
    "usage: lockbox exec [--dir D] [--wait NAME...] [--timeout DUR] [--strict]\n"
    "         [--allow-writable] [--init] [--restart-on-rotate] [--grace DUR] -- CMD...\n"
    "       lockbox get NAME [--dir D] [--allow-writable]\n"
    "       lockbox wait NAME... [--dir D] [--timeout DUR] [--allow-writable]\n"
    "       lockbox check [--dir D] [--allow-writable]\n"
    "D: " LB_DEFAULT_DIR "; DUR: N[ms|s|m|h], default 30s, 0 checks once.\n"
    "exec exports NAME_FILE=D/NAME and becomes CMD; as PID 1, with --init or with\n"
    "--restart-on-rotate it runs CMD as a child and stays as its init (reaps, forwards signals).\n"
    "Exit: 64 usage, 65 expired/malformed, 66 no such secret, 75 timeout, 77 unsafe.\n";

void lb_say(int fd, ...)
{
	char buf[1024];
	const char *s;
	size_t off = 0, n;
	ssize_t w;
	va_list ap;

	va_start(ap, fd);
	while ((s = va_arg(ap, const char *))) {
		n = strlen(s);
		if (n > sizeof(buf) - off)
			n = sizeof(buf) - off;
		memcpy(buf + off, s, n);
		off += n;
	}
	va_end(ap);
	for (size_t done = 0; done < off; done += (size_t)w) {
		w = write(fd, buf + done, off - done);
		if (w < 0 && errno == EINTR)
			w = 0;
		else if (w < 0)
			return;
	}
}

void lb_say_err(const lb_err *err)
{
	lb_say(2, "lockbox: ", err->msg, "\n", LB_END);
}

static int usage_error(const char *what, const char *arg)
{
	lb_say(2, "lockbox: ", what, arg ? " " : "", arg ? arg : "", "\n", usage, LB_END);
	return LB_EXIT_USAGE;
}

/* N, Nms, Ns, Nm, Nh; plain N is seconds. */
static int parse_duration(const char *s, int64_t *ms)
{
	int64_t v = 0, unit = 1000;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > 100000000)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (!strcmp(p, "ms"))
		unit = 1;
	else if (!strcmp(p, "m"))
		unit = 60000;
	else if (!strcmp(p, "h"))
		unit = 3600000;
	else if (*p && strcmp(p, "s") != 0)
		return -1;
	*ms = v * unit;
	return 0;
}

/* Stream the verified fd to stdout: sendfile keeps the secret out of our memory. */
LB_NOINLINE static int copy_out(int fd, size_t size, const char *name)
{
	char buf[4096];
	ssize_t n, w;
	int rc = 0;

	while (size > 0) {
		n = sendfile(1, fd, NULL, size);
		if (n > 0) {
			size -= (size_t)n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EINVAL && errno != ENOSYS)
			goto fail;
		break;
	}
	while (size > 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		for (ssize_t done = 0; done < n; done += w) {
			w = write(1, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR)
				w = 0;
			else if (w < 0)
				goto fail;
		}
	}
	goto out;
fail:
	lb_say(2, "lockbox: output failed for ", name, ": ", lb_errstr(errno), "\n", LB_END);
	rc = 1;
out:
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static int cmd_get(const struct lb_opts *o)
{
	struct lb_dir d;
	lb_err err;
	size_t size;
	int fd = -1, rc;

	if (o->nnames != 1)
		return usage_error("get takes exactly one NAME", NULL);
	lb_dir_init(&d);
	rc = lb_dir_open(&d, o->dir, o->flags, &err);
	if (!rc)
		rc = lb_data_open(&d, &err);
	if (!rc)
		rc = lb_secret_open(&d, o->names[0], &fd, &size, &err);
	if (rc) {
		lb_say_err(&err);
		lb_say_status(&d, rc);
		goto out;
	}
	rc = copy_out(fd, size, o->names[0]);
out:
	if (fd >= 0)
		close(fd);
	lb_dir_close(&d);
	return rc;
}

static int cmd_wait(const struct lb_opts *o)
{
	struct lb_dir d;
	lb_err err;
	int rc;

	if (o->nnames < 1)
		return usage_error("wait needs at least one NAME", NULL);
	lb_dir_init(&d);
	rc = lb_dir_open(&d, o->dir, o->flags, &err);
	if (!rc)
		rc = lb_wait(&d, o->names, o->nnames, o->timeout_ms, NULL, &err);
	if (rc) {
		lb_say_err(&err);
		lb_say_status(&d, rc);
	}
	lb_dir_close(&d);
	return rc;
}

static void check_report(const char *check, const char *dir, const char *rel, const char *detail)
{
	lb_say(1, "ok    ", check, " ", dir, rel ? "/" : "", rel ? rel : "", detail ? " (" : "",
	       detail ? detail : "", detail ? ")" : "", "\n", LB_END);
}

struct check_all {
	struct lb_dir *d;
	int rc;
};

static void check_entry(const struct lb_entry *e, void *arg)
{
	struct check_all *c = arg;
	char name[LB_NAME_MAX + 1];
	lb_err err;
	size_t size;
	int fd, rc;

	memcpy(name, e->name, e->name_len);
	name[e->name_len] = '\0';
	rc = lb_secret_open(c->d, name, &fd, &size, &err);
	if (rc) {
		lb_say(1, "FAIL  ", err.msg, "\n", LB_END);
		lb_say_err(&err);
		if (!c->rc)
			c->rc = rc;
		return;
	}
	close(fd);
	rc = lb_link_check(c->d, name, &err);
	if (rc) {
		lb_say(1, "FAIL  ", err.msg, "\n", LB_END);
		lb_say_err(&err);
		if (!c->rc)
			c->rc = rc;
	}
}

/* Prints every check and its result; the exit code makes it a Docker HEALTHCHECK. */
static int cmd_check(const struct lb_opts *o)
{
	struct check_all c = {0};
	struct lb_dir d;
	lb_err err;
	int rc;

	if (o->nnames)
		return usage_error("check takes no NAME", NULL);
	lb_dir_init(&d);
	d.report = check_report;
	rc = lb_dir_open(&d, o->dir, o->flags, &err);
	if (!rc)
		rc = lb_data_open(&d, &err);
	if (rc) {
		lb_say(1, "FAIL  ", err.msg, "\n", LB_END);
		lb_say_err(&err);
		lb_say_status(&d, rc);
		goto out;
	}
	c.d = &d;
	lb_manifest_each(&d, check_entry, &c);
	rc = c.rc;
out:
	lb_dir_close(&d);
	return rc;
}

enum { CMD_GET, CMD_WAIT, CMD_CHECK, CMD_EXEC };

int main(int argc, char **argv)
{
	struct lb_opts o = {
	    .dir = LB_DEFAULT_DIR,
	    .timeout_ms = DEFAULT_TIMEOUT_MS,
	    .grace_ms = DEFAULT_GRACE_MS,
	};
	bool in_wait = false;
	const char *a, *v;
	int cmd, i;

	if (argc < 2)
		return usage_error("missing command", NULL);
	a = argv[1];
	if (!strcmp(a, "--version")) {
		lb_say(1, "lockbox ", LOCKBOX_VERSION, "\n", LB_END);
		return 0;
	}
	if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
		lb_say(1, usage, LB_END);
		return 0;
	}
	if (!strcmp(a, "get"))
		cmd = CMD_GET;
	else if (!strcmp(a, "wait"))
		cmd = CMD_WAIT;
	else if (!strcmp(a, "check"))
		cmd = CMD_CHECK;
	else if (!strcmp(a, "exec"))
		cmd = CMD_EXEC;
	else
		return usage_error("unknown command", a);

	/* Positional NAMEs are packed into argv itself: each one sits at or after its slot. */
	o.names = (const char **)argv + 2;
	for (i = 2; i < argc; i++) {
		a = argv[i];
		if (cmd == CMD_EXEC && !strcmp(a, "--")) {
			o.cmd = argv + i + 1;
			break;
		}
		if (strncmp(a, "--", 2) != 0) {
			if (cmd == CMD_EXEC && !in_wait)
				return usage_error("exec: CMD must follow --, unexpected", a);
			o.names[o.nnames++] = a;
			continue;
		}
		in_wait = false;
		if (!strcmp(a, "--allow-writable")) {
			o.flags |= LOCKBOX_ALLOW_WRITABLE;
			continue;
		}
		if (cmd == CMD_EXEC && !strcmp(a, "--strict")) {
			o.strict = true;
			continue;
		}
		if (cmd == CMD_EXEC && !strcmp(a, "--init")) {
			o.init = true;
			continue;
		}
		if (cmd == CMD_EXEC && !strcmp(a, "--restart-on-rotate")) {
			o.restart = true;
			continue;
		}
		if (cmd == CMD_EXEC && !strcmp(a, "--wait")) {
			in_wait = true;
			continue;
		}
		/* Options with a value: --opt V or --opt=V. */
		v = strchr(a, '=');
		if (v)
			v++;
		else if (i + 1 < argc)
			v = argv[++i];
		else
			return usage_error("missing value for", a);
		if (!strncmp(a, "--dir", 5) && (a[5] == '=' || !a[5])) {
			if (!*v)
				return usage_error("empty --dir", NULL);
			o.dir = v;
		} else if (cmd != CMD_GET && cmd != CMD_CHECK && !strncmp(a, "--timeout", 9) &&
			   (a[9] == '=' || !a[9])) {
			if (parse_duration(v, &o.timeout_ms) < 0)
				return usage_error("bad duration for --timeout:", v);
		} else if (cmd == CMD_EXEC && !strncmp(a, "--grace", 7) && (a[7] == '=' || !a[7])) {
			if (parse_duration(v, &o.grace_ms) < 0)
				return usage_error("bad duration for --grace:", v);
		} else {
			return usage_error("unknown option", a);
		}
	}

	switch (cmd) {
	case CMD_GET:
		return cmd_get(&o);
	case CMD_WAIT:
		return cmd_wait(&o);
	case CMD_CHECK:
		return cmd_check(&o);
	default:
		if (!o.cmd || !o.cmd[0])
			return usage_error("exec needs -- CMD...", NULL);
		return lb_cmd_exec(&o);
	}
}
