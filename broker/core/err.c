#define LB_ERR_IMPL /* defines the functions err.h wraps for the analyzer */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lb_fail(lb_err *e, int sys, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return -1;
	e->sys = sys;
	va_start(ap, fmt);
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap); /* truncation is fine */
	va_end(ap);
	return -1;
}

int lb_fail_errno(lb_err *e, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t n;

	if (!e)
		return -1;
	e->sys = saved;
	va_start(ap, fmt);
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap); /* truncation is fine */
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int lb_fail_wrap(lb_err *e, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->msg)];
	va_list ap;

	if (!e)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t n;

	memcpy(old, e->msg, sizeof(old));
	/* Truncation is fine here: the prefix and the start of the old message matter most. */
	n = strlen(prefix);
	if (n > sizeof(e->msg) - 3)
		n = sizeof(e->msg) - 3;
	memcpy(e->msg, prefix, n);
	memcpy(e->msg + n, ": ", 2);
	memcpy(e->msg + n + 2, old, sizeof(e->msg) - n - 3);
	e->msg[sizeof(e->msg) - 1] = '\0';
	return -1;
}
