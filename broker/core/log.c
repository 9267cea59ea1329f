#include "log.h"
#include "jsonw.h"
#include "secmem.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

static void write_all_or_drop(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		/* Nothing sensible to do on an error: logging must never stop the broker. */
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Audit lines of a held stretch (lb_audit_hold): one write per destination when it ends. */
#define HELD_MAX (64 * 1024)
static unsigned held_depth;
static char *held_buf;
static size_t held_len;

static void flush_held(void)
{
	if (!held_len)
		return;
	if (audit_fd >= 0)
		write_all_or_drop(audit_fd, held_buf, held_len);
	write_all_or_drop(STDERR_FILENO, held_buf, held_len);
	held_len = 0;
}

/* Keeps the line for the end of the held stretch; false if it must be written now. */
static bool hold_line(const char *s, size_t n)
{
	if (!held_depth)
		return false;
	if (!held_buf && !(held_buf = malloc(HELD_MAX)))
		return false;
	if (held_len + n > HELD_MAX)
		flush_held();
	if (n > HELD_MAX)
		return false;
	memcpy(held_buf + held_len, s, n);
	held_len += n;
	return true;
}

/* An audit line to the audit log and stderr (held during a pass), or a log line to stderr. */
static void write_text(const char *s, size_t n, bool audit)
{
	if (audit && hold_line(s, n))
		return;
	flush_held(); /* stderr and the audit log keep the order of events */
	if (audit && audit_fd >= 0)
		write_all_or_drop(audit_fd, s, n);
	write_all_or_drop(STDERR_FILENO, s, n);
}

/* One dump for every destination. */
static void write_line(json_t *obj, bool audit)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t n;

	if (!s)
		return;
	n = strlen(s);
	s[n] = '\n'; /* the dump's NUL; restored below before free */
	write_text(s, n + 1, audit);
	s[n] = '\0';
	lb_json_free(s);
}

void lb_audit_hold(void)
{
	held_depth++;
}

void lb_audit_release(void)
{
	if (held_depth && --held_depth == 0) {
		flush_held();
		free(held_buf);
		held_buf = NULL;
	}
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
		write_line(obj, false);
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
	write_line(line, true);
	json_decref(line);
}

void lb_audit_text(const char *event, const char *fields)
{
	lb_jsonw w = {0};

	if (sink) {
		/* A sink takes events as trees (the worker relays them): parse the members. */
		lb_jsonw_raw(&w, "{");
		lb_jsonw_raw(&w, fields);
		lb_jsonw_raw(&w, "}");
		lb_audit(event, w.oom ? NULL : json_loads(w.buf, 0, NULL));
		lb_jsonw_free(&w);
		return;
	}
	lb_jsonw_raw(&w, "{\"ts\":");
	lb_jsonw_int(&w, (int64_t)time(NULL));
	lb_jsonw_raw(&w, ",\"audit\":\"lockbox\",\"event\":");
	lb_jsonw_str(&w, event);
	lb_jsonw_raw(&w, ",");
	lb_jsonw_raw(&w, fields);
	lb_jsonw_raw(&w, "}\n");
	if (!w.oom)
		write_text(w.buf, w.len, true);
	lb_jsonw_free(&w);
}
