/* What a target holds (held.h): the blocks of its generations' secrets, interned. */
#include "held.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The held block of a generation: n entries, then their strings, in one allocation. Static
 * targets of one binding hold the same names, versions, sources and modes: equal blocks are
 * shared (interned by content and counted: ~300 bytes per target before), and only the batch
 * each file came from is the target's own (lb_target.held_batch). */
struct held_block {
	struct held_block *next; /* in its bucket */
	uint64_t hash;
	size_t n;
	unsigned refs;
	lb_held h[];
};

static struct held_block **held_buckets;
static size_t held_nbuckets, held_count;

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < len; i++)
		h = (h ^ c[i]) * 1099511628211u;
	return h;
}

static uint64_t items_hash(const lb_publish_item *items, size_t n)
{
	uint64_t h = 14695981039346656037u;

	for (size_t i = 0; i < n; i++) {
		h = fnv(h, items[i].name, strlen(items[i].name) + 1);
		h = fnv(h, items[i].version, strlen(items[i].version) + 1);
		h = fnv(h, items[i].source, strlen(items[i].source) + 1);
		h = fnv(h, &items[i].not_after, sizeof(items[i].not_after));
		h = fnv(h, &items[i].mode, sizeof(items[i].mode));
	}
	return h;
}

static bool block_is(const struct held_block *b, uint64_t hash, const lb_publish_item *items,
		     size_t n)
{
	if (b->hash != hash || b->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(b->h[i].name, items[i].name) != 0 ||
		    strcmp(b->h[i].version, items[i].version) != 0 ||
		    strcmp(b->h[i].source, items[i].source) != 0 ||
		    b->h[i].not_after != items[i].not_after || b->h[i].mode != items[i].mode)
			return false;
	return true;
}

/* The table grows with the distinct blocks (a few per binding), not with the targets. */
static void held_grow(void)
{
	size_t cap = held_nbuckets ? 2 * held_nbuckets : 16;
	struct held_block **nb = calloc(cap, sizeof(struct held_block *));

	if (!nb)
		return; /* the chains just get longer */
	for (size_t i = 0; i < held_nbuckets; i++)
		for (struct held_block *b = held_buckets[i], *next; b; b = next) {
			next = b->next;
			b->next = nb[b->hash & (cap - 1)];
			nb[b->hash & (cap - 1)] = b;
		}
	free(held_buckets);
	held_buckets = nb;
	held_nbuckets = cap;
}

lb_held *lb_held_new(const lb_publish_item *items, size_t n)
{
	uint64_t hash = items_hash(items, n);
	size_t bytes = sizeof(struct held_block) + n * sizeof(lb_held) + 1;
	struct held_block *b;
	char *p;

	if (held_count >= held_nbuckets)
		held_grow();
	for (b = held_nbuckets ? held_buckets[hash & (held_nbuckets - 1)] : NULL; b; b = b->next)
		if (block_is(b, hash, items, n)) {
			b->refs++;
			return b->h;
		}
	for (size_t i = 0; i < n; i++)
		bytes +=
		    strlen(items[i].name) + strlen(items[i].version) + strlen(items[i].source) + 3;
	b = malloc(bytes);
	if (!b)
		return NULL;
	b->hash = hash;
	b->n = n;
	b->refs = 1;
	p = (char *)(b->h + n);
	for (size_t i = 0; i < n; i++) {
		const char *src[3] = {items[i].name, items[i].version, items[i].source};
		const char **dst[3] = {&b->h[i].name, &b->h[i].version, &b->h[i].source};
		for (size_t k = 0; k < 3; k++) {
			size_t len = strlen(src[k]) + 1;
			memcpy(p, src[k], len);
			*dst[k] = p;
			p += len;
		}
		b->h[i].not_after = items[i].not_after;
		b->h[i].mode = items[i].mode;
	}
	b->next = NULL;
	if (held_nbuckets) {
		b->next = held_buckets[hash & (held_nbuckets - 1)];
		held_buckets[hash & (held_nbuckets - 1)] = b;
		held_count++;
	}
	return b->h;
}

void lb_held_release(lb_held *h)
{
	struct held_block *b, **pp;

	if (!h)
		return;
	b = (struct held_block *)((char *)h - offsetof(struct held_block, h));
	if (--b->refs)
		return;
	for (pp = held_nbuckets ? &held_buckets[b->hash & (held_nbuckets - 1)] : NULL; pp && *pp;
	     pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			held_count--;
			break;
		}
	free(b);
}

int lb_held_batches(const lb_publish_item *items, size_t n, uint64_t **out)
{
	bool any = false;

	*out = NULL;
	for (size_t i = 0; i < n; i++)
		any |= items[i].batch != 0;
	if (!any)
		return 0; /* NULL: every file from before this broker started */
	*out = malloc(n * sizeof(uint64_t));
	if (!*out)
		return -1;
	for (size_t i = 0; i < n; i++)
		(*out)[i] = items[i].batch;
	return 0;
}
