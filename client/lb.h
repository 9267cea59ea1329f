/* Internal interface of the lockbox client. verify.c and manifest.c are compiled twice:
 * with musl-gcc into the static `lockbox` binary and with the host compiler into
 * liblockbox-client.a, so that the binary and lockbox_read() share one set of checks. */
#ifndef LOCKBOX_CLIENT_LB_H
#define LOCKBOX_CLIENT_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <lockbox/client.h>
#include <lockbox/exit.h>
#include <lockbox/layout.h>

typedef struct lockbox_error lb_err;

/* A manifest up to this size is read into struct lb_dir itself, a larger one (up to
 * LB_MANIFEST_MAX) into an anonymous mapping: the common case costs no mmap, munmap and page
 * fault (one secret's entry is about 80 bytes). */
#define LB_MANIFEST_INLINE 1024

/* Called after each check that passed; `lockbox check` prints these. REL may be NULL. */
typedef void (*lb_report_fn)(const char *check, const char *dir, const char *rel,
			     const char *detail);

struct lb_dir {
	const char *path; /* D as given: messages and NAME_FILE values */
	unsigned flags;	  /* LOCKBOX_ALLOW_WRITABLE */
	uid_t euid;	  /* the caller's, taken once by lb_dir_open */
	int dfd;	  /* D itself */
	int datafd;	  /* the generation ..data pointed to when it was opened; -1 before */
	char *manifest;	  /* that generation's manifest, validated: manifest_inline or a mapping */
	size_t manifest_len;
	int64_t generation; /* -1 when the manifest has none */
	lb_report_fn report;
	char manifest_inline[LB_MANIFEST_INLINE];
};

/* One manifest entry, as the scanner hands it out. NAME is not NUL-terminated. */
struct lb_entry {
	const char *name;
	size_t name_len;
	bool has_not_after; /* absent or null: the secret has no lease and does not expire */
	int64_t not_after;
};

typedef void (*lb_entry_fn)(const struct lb_entry *entry, void *arg);

/* Validates the whole manifest and calls FN for every entry of "secrets" (FN may be NULL).
 * Returns 0, or -1 with *ERR_OFF set to the byte offset where the input stopped making sense
 * and *WHAT to a static reason. */
int lb_manifest_scan(const char *buf, size_t len, lb_entry_fn fn, void *arg, int64_t *generation,
		     size_t *err_off, const char **what);

/* On a function that holds a large buffer and runs off the common path: it stays out of its
 * callers' frames, so the common path (exec -- CMD with secrets ready) reaches fewer stack
 * pages, and each new page is a page fault (about 5 us on a virtual machine). */
#define LB_NOINLINE __attribute__((noinline))

/* Ends the string pieces of lb_fail and lb_say. A plain NULL is not enough: it may be an int 0,
 * and va_arg(ap, const char *) of an int is undefined (cppcheck varFuncNullUB). */
#define LB_END ((const char *)NULL)

/* Fills ERR with "<check> check failed on <dir>[/<rel>]: " followed by the string pieces up to
 * LB_END, and returns CODE. */
__attribute__((sentinel)) int lb_fail(lb_err *err, int code, const char *check, const char *dir,
				      const char *rel, ...);
/* Text for errno E (a few known ones, else "errno N" written into BUF). */
const char *lb_strerror(int e, char buf[24]);
/* For use as an argument: the buffer lives until the end of the caller's block. */
#define lb_errstr(e) lb_strerror((e), (char[24]){0})
void lb_clock(int clock, struct timespec *ts);
/* Decimal text of V in BUF (>= 24 bytes), returned for use as a piece of a message. */
char *lb_fmt_i64(char *buf, int64_t v);

void lb_dir_init(struct lb_dir *d);
void lb_dir_close(struct lb_dir *d);
/* Opens D and checks it: tmpfs, read-only mount (or LOCKBOX_ALLOW_WRITABLE), root-owned,
 * not writable by the caller. Returns 0 or an exit code with ERR filled. */
int lb_dir_open(struct lb_dir *d, const char *path, unsigned flags, lb_err *err);
/* Opens the generation behind ..data without leaving D, checks it and loads its manifest.
 * Closes a generation opened before. LB_EXIT_NOINPUT when D is not populated yet. */
int lb_data_open(struct lb_dir *d, lb_err *err);
/* Opens secret NAME of the open generation and checks file type, owner, mode and the
 * manifest's not_after. On success *FD is an O_CLOEXEC descriptor and *SIZE its size. */
int lb_secret_open(struct lb_dir *d, const char *name, int *fd, size_t *size, lb_err *err);
/* Checks that D/NAME, the path given to applications, is the layout's link ..data/NAME.
 * LB_EXIT_NOINPUT while it is missing. */
int lb_link_check(struct lb_dir *d, const char *name, lb_err *err);
/* Calls FN for each entry of the open generation's manifest. */
void lb_manifest_each(const struct lb_dir *d, lb_entry_fn fn, void *arg);

#endif
