/* One error type threaded through every call (STYLE.md rule 1). */
#ifndef LB_ERR_H
#define LB_ERR_H

#include <errno.h>

typedef struct lb_err {
	int code; /* an lb_exit value or 0 */
	int sys;  /* errno at the failure, 0 if none */
	char msg[512];
} lb_err;

/* Fill e (if non-NULL) and return -1. The message is printf-formatted. */
int lb_fail(lb_err *e, int sys, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, appending ": strerror(errno)". */
int lb_fail_errno(lb_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefix an existing message with more context ("while X: <old>"). */
int lb_fail_wrap(lb_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#if defined(__clang_analyzer__) && !defined(LB_ERR_IMPL)
/* The static analyzer (clang-tidy, tests/lint) sees one file at a time: without this it assumes
 * these may return 0 and reports the outputs a failed callee leaves unset as garbage. */
#define lb_fail(...)	   (lb_fail(__VA_ARGS__), -1)
#define lb_fail_errno(...) (lb_fail_errno(__VA_ARGS__), -1)
#define lb_fail_wrap(...)  (lb_fail_wrap(__VA_ARGS__), -1)
#endif

#endif
