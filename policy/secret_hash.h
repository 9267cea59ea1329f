/* The set of secret values lockbox manages, kept only as keyed BLAKE2b digests, so that
 * `no-secret-env` can find a managed secret's value in a container's environment without
 * keeping any plaintext for the comparison (DESIGN.md, "Posture gate"). */
#ifndef LB_SECRET_HASH_H
#define LB_SECRET_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include "err.h"

/* Values shorter than this are neither added nor looked up: "1" or "yes" in an environment
 * is not evidence of a leaked secret. */
#define LB_SECRET_HASH_MIN_LEN 4

typedef struct lb_secret_hashes lb_secret_hashes;

/* A new empty set with a fresh random key (kept in an lb_secbuf; libsodium is initialised
 * here if it was not yet). The key never leaves the process, so digests mean nothing
 * elsewhere and across restarts. */
lb_secret_hashes *lb_secret_hashes_new(lb_err *e);
void lb_secret_hashes_free(lb_secret_hashes *h);
static inline void lb_secret_hashes_freep(lb_secret_hashes **h)
{
	lb_secret_hashes_free(*h);
}
#define _cleanup_secret_hashes_ __attribute__((cleanup(lb_secret_hashes_freep)))

/* Reference counted: one add per target that holds the value, one remove when it lets go. */
int lb_secret_hashes_add(lb_secret_hashes *h, const void *value, size_t len, lb_err *e);
/* false when the value was not in the set. */
bool lb_secret_hashes_remove(lb_secret_hashes *h, const void *value, size_t len);
bool lb_secret_hashes_contains(const lb_secret_hashes *h, const void *value, size_t len);
/* Distinct values in the set. */
size_t lb_secret_hashes_count(const lb_secret_hashes *h);

#endif
