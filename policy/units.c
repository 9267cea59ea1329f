#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int lb_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t total = 0;

	if (!s || !*s)
		return -1;
	while (*s) {
		uint64_t n = 0, unit;
		const char *start = s;

		while (isdigit((unsigned char)*s)) {
			if (n > UINT64_MAX / 10 - 10)
				return -1;
			n = n * 10 + (uint64_t)(*s++ - '0');
		}
		if (s == start)
			return -1;
		if (strncmp(s, "ms", 2) == 0) {
			unit = 1;
			s += 2;
		} else if (*s == 's') {
			unit = 1000;
			s++;
		} else if (*s == 'm') {
			unit = 60 * 1000;
			s++;
		} else if (*s == 'h') {
			unit = 3600 * 1000;
			s++;
		} else if (*s == 'd') {
			unit = 86400 * 1000;
			s++;
		} else {
			return -1;
		}
		if (n > (UINT64_MAX - total) / unit)
			return -1;
		total += n * unit;
	}
	if (total == 0)
		return -1;
	*ms = total;
	return 0;
}

int lb_parse_size(const char *s, uint64_t *bytes)
{
	char *end;
	unsigned long long n;
	uint64_t mul = 1;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	if (*end) {
		switch (tolower((unsigned char)*end)) {
		case 'k':
			mul = 1024;
			break;
		case 'm':
			mul = 1024 * 1024;
			break;
		case 'g':
			mul = 1024 * 1024 * 1024;
			break;
		default:
			return -1;
		}
		if (end[1])
			return -1;
	}
	if (n == 0 || n > UINT64_MAX / mul)
		return -1;
	*bytes = n * mul;
	return 0;
}

int lb_parse_mode(const char *s, unsigned *mode)
{
	size_t len = s ? strlen(s) : 0;
	unsigned m = 0;

	if (len < 3 || len > 4)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		m = m * 8 + (unsigned)(s[i] - '0');
	}
	/* Secrets are read-only data: no special bits, no write for group/other. */
	if (m & 07000 || m & 0022)
		return -1;
	*mode = m;
	return 0;
}

static const struct {
	const char *name;
	int sig;
} signals[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},	    {"QUIT", SIGQUIT}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
    {"TERM", SIGTERM}, {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"CONT", SIGCONT}, {"PWR", SIGPWR},
};

int lb_parse_signal(const char *s, int *sig)
{
	if (!s || !*s)
		return -1;
	if (isdigit((unsigned char)*s)) {
		char *end;
		long n = strtol(s, &end, 10);
		for (size_t i = 0; !*end && i < sizeof(signals) / sizeof(signals[0]); i++)
			if (signals[i].sig == n) {
				*sig = (int)n;
				return 0;
			}
		return -1;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcasecmp(s, signals[i].name) == 0) {
			*sig = signals[i].sig;
			return 0;
		}
	return -1;
}

const char *lb_signal_name(int sig)
{
	static const char *const full[] = {
	    [SIGHUP] = "SIGHUP",     [SIGINT] = "SIGINT",   [SIGQUIT] = "SIGQUIT",
	    [SIGUSR1] = "SIGUSR1",   [SIGUSR2] = "SIGUSR2", [SIGTERM] = "SIGTERM",
	    [SIGWINCH] = "SIGWINCH", [SIGALRM] = "SIGALRM", [SIGCONT] = "SIGCONT",
	    [SIGPWR] = "SIGPWR",
	};
	// cppcheck-suppress arrayIndexOutOfBoundsCond ; sig < the element count is checked first
	if (sig > 0 && (size_t)sig < sizeof(full) / sizeof(full[0]) && full[sig])
		return full[sig]; // cppcheck-suppress arrayIndexOutOfBoundsCond ; checked above
	return "?";
}
