#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

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

int lb_parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *p;
	unsigned long port = 0;
	bool v6;
	size_t hl;

	if (!s)
		return -1;
	v6 = s[0] == '[';
	if (v6) {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -1;
		colon = end + 1;
		hl = (size_t)(end - s - 1);
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || !colon[1] || strlen(colon + 1) > 5)
		return -1;
	for (p = colon + 1; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(sa, 0, sizeof(*sa));
	if (v6) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -1;
		*len = sizeof(*a4);
	}
	return 0;
}
