/* Secret bytes live only in sodium_malloc'd buffers (guard pages, mlock, zeroed on free). */
#ifndef LB_SECMEM_H
#define LB_SECMEM_H

#include <stddef.h>
#include "cleanup.h"

typedef struct lb_secbuf {
	unsigned char *data; /* sodium_malloc'd, len + 1 bytes, NUL-terminated for convenience */
	size_t len;
} lb_secbuf;

/* sodium_init + jansson zeroing allocator; call once at start. */
int lb_secmem_init(void);
lb_secbuf *lb_secbuf_new(size_t len);
lb_secbuf *lb_secbuf_dup(const void *p, size_t len);
void lb_secbuf_free(lb_secbuf *b);
static inline void lb_secbuf_freep(lb_secbuf **b)
{
	lb_secbuf_free(*b);
}
#define _cleanup_secbuf_ _cleanup_(lb_secbuf_freep)

/* Free a string jansson allocated (json_dumps) through the zeroing allocator. */
void lb_json_free(void *p);

/* Zero then free a heap string that may have held secret bytes (e.g. a JSON dump). */
void lb_freezero(void *p, size_t len);

#endif
