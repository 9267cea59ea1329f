#include "secmem.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <jansson.h>

/* jansson keeps parsed strings (which may be secrets from a store reply) in its own heap
 * blocks; this allocator records each block's size so that it can zero it on free. */
static void *zeroing_malloc(size_t n)
{
	size_t *p = malloc(n + sizeof(size_t));

	if (!p)
		return NULL;
	*p = n;
	return p + 1;
}

static void zeroing_free(void *ptr)
{
	size_t *p;

	if (!ptr)
		return;
	p = (size_t *)ptr - 1;
	sodium_memzero(ptr, *p);
	free(p);
}

int lb_secmem_init(void)
{
	if (sodium_init() < 0)
		return -1;
	json_set_alloc_funcs(zeroing_malloc, zeroing_free);
	return 0;
}

/* A forked child (the publisher, broker/pubfork.c; the network worker, until its exec) gets
 * zero pages instead of copies of every secret lockboxd holds: fork does not pass mlock on,
 * so its copies could be swapped out once lockboxd frees its own. The pages of a buffer are
 * its own (sodium_malloc maps each buffer with guard pages). Before Linux 4.14 this is a
 * no-op. */
static void wipe_on_fork(const void *data, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)data & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)data + len + pg - 1) & ~(pg - 1);

	(void)madvise((void *)lo, hi - lo, MADV_WIPEONFORK);
}

lb_secbuf *lb_secbuf_new(size_t len)
{
	lb_secbuf *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->data = sodium_malloc(len + 1);
	if (!b->data) {
		free(b);
		return NULL;
	}
	sodium_memzero(b->data, len + 1);
	wipe_on_fork(b->data, len + 1);
	b->len = len;
	return b;
}

lb_secbuf *lb_secbuf_dup(const void *p, size_t len)
{
	lb_secbuf *b = lb_secbuf_new(len);

	if (b && len)
		memcpy(b->data, p, len);
	return b;
}

void lb_secbuf_free(lb_secbuf *b)
{
	if (!b)
		return;
	sodium_free(b->data); /* zeroes before unmapping */
	free(b);
}

void lb_json_free(void *p)
{
	zeroing_free(p);
}

void lb_freezero(void *p, size_t len)
{
	if (!p)
		return;
	sodium_memzero(p, len);
	free(p);
}
