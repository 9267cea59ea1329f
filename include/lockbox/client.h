/* C API for applications that read lockbox secrets themselves instead of through
 * NAME_FILE paths. Link liblockbox-client.a; libc only.
 *
 * lockbox_read() applies exactly the checks of `lockbox get` (same source file):
 * DIR is a tmpfs, mounted read-only (unless LOCKBOX_ALLOW_WRITABLE), owned by root and not
 * writable by the caller; the secret is read through ..data without leaving DIR, is a
 * regular file owned by the caller's uid or one of its gids (uid 0 may read anything),
 * has no group/other write bit, and its manifest entry has not expired. */
#ifndef LOCKBOX_CLIENT_H
#define LOCKBOX_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Accept a writable tmpfs (static targets on the host); see `lockbox --allow-writable`. */
#define LOCKBOX_ALLOW_WRITABLE 0x1u

#define LOCKBOX_ERRMSG_MAX 512

struct lockbox_error {
	int code;		      /* same value as the return code */
	char msg[LOCKBOX_ERRMSG_MAX]; /* "<check> check failed on <path>: <reason>"; no secret bytes
				       */
};

/* Reads secret NAME from DIR (NULL means /run/secrets) into BUF (CAP bytes) and stores its
 * size in *LEN. Returns 0, or an exit code of include/lockbox/exit.h:
 *   64 bad arguments or invalid NAME, 65 expired or malformed manifest, 66 no such secret,
 *   77 unsafe location or permission, 1 other error (ERANGE: CAP too small, *LEN is the
 *   size needed; nothing useful is left in BUF, it is zeroed).
 * ERR may be NULL; when given it receives the code and a message naming the check and path.
 * The caller owns BUF and should wipe it (explicit_bzero) when done. Thread-safe, no
 * allocation, every descriptor it opens is O_CLOEXEC and closed before it returns. */
int lockbox_read(const char *dir, const char *name, unsigned flags, void *buf, size_t cap,
		 size_t *len, struct lockbox_error *err);

#ifdef __cplusplus
}
#endif

#endif
