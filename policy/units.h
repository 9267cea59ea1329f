/* Small value grammars of the config: durations, sizes, file modes, signals, listen
 * addresses. */
#ifndef LB_UNITS_H
#define LB_UNITS_H

#include <stdint.h>
#include <sys/socket.h>

/* "30s", "5m", "1h", "1h30m", "500ms", "2d" → milliseconds (> 0). */
int lb_parse_duration(const char *s, uint64_t *ms);
/* "1m", "512k", "1g", "4096" → bytes (> 0). */
int lb_parse_size(const char *s, uint64_t *bytes);
/* "0440" → 0440; 3 or 4 octal digits, no setuid/setgid/sticky, no write for group/other. */
int lb_parse_mode(const char *s, unsigned *mode);
/* "SIGHUP", "HUP" or "1" → signal number; catchable signals only. */
int lb_parse_signal(const char *s, int *sig);
const char *lb_signal_name(int sig);
/* "127.0.0.1:9464" or "[::1]:9464" → a socket address: a numeric IPv4 or bracketed IPv6
 * address (no name lookup) and a port 1..65535. */
int lb_parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *len);

#endif
