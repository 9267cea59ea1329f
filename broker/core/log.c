#include "log.h"
#include "secmem.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum lb_level min_level = LB_INFO;
static int audit_fd = -1;
static const char *const level_names[] = {"debug", "info", "warn", "error"};
static lb_log_sink sink;

void lb_log_set_sink(lb_log_sink fn)
{
	sink = fn;
}

void lb_log_set_level(enum lb_level lvl)
{
	min_level = lvl;
}

enum lb_level lb_log_level(void)
{
	return min_level;
}

static void write_line(int fd, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	s[n] = '\n'; /* the dump's NUL; restored below before free */
	if (write(fd, s, n + 1) < 0) {
		/* Nothing sensible to do: logging must never stop the broker. */
	}
	s[n] = '\0';
	lb_json_free(s);
}

void lb_log(enum lb_level lvl, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *obj;

	if (lvl < min_level)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message is cut */
	va_end(ap);
	if (sink) {
		sink(lvl, msg, NULL, NULL);
		return;
	}
	obj = json_pack("{s:I,s:s,s:s}", "ts", (json_int_t)time(NULL), "level", level_names[lvl],
			"msg", msg);
	if (obj)
		write_line(STDERR_FILENO, obj);
	json_decref(obj);
}

int lb_audit_open(int state_dirfd)
{
	int fd = openat(state_dirfd, "audit.jsonl",
			O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return -1;
	lb_audit_close();
	audit_fd = fd;
	return 0;
}

void lb_audit_close(void)
{
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
}

void lb_audit(const char *event, json_t *ev)
{
	json_t *line;

	if (sink) {
		sink(LB_INFO, NULL, event, ev);
		json_decref(ev);
		return;
	}
	line = json_pack("{s:I,s:s,s:s}", "ts", (json_int_t)time(NULL), "audit", "lockbox", "event",
			 event);

	if (line && ev)
		json_object_update(line, ev);
	json_decref(ev);
	if (!line)
		return;
	if (audit_fd >= 0)
		write_line(audit_fd, line);
	write_line(STDERR_FILENO, line);
	json_decref(line);
}
