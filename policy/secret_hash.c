#include "secret_hash.h"
#include "secmem.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST_LEN crypto_generichash_BYTES

typedef struct entry {
	unsigned char d[DIGEST_LEN];
	uint32_t refs;
} entry;

struct lb_secret_hashes {
	lb_secbuf *key;
	entry *v; /* sorted by digest */
	size_t n, cap;
};

lb_secret_hashes *lb_secret_hashes_new(lb_err *e)
{
	lb_secret_hashes *h;

	if (sodium_init() < 0) {
		lb_fail(e, 0, "secret hashes: libsodium cannot initialise");
		return NULL;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->key = lb_secbuf_new(crypto_generichash_KEYBYTES))) {
		free(h);
		lb_fail(e, 12, "secret hashes: out of memory");
		return NULL;
	}
	randombytes_buf(h->key->data, h->key->len);
	return h;
}

void lb_secret_hashes_free(lb_secret_hashes *h)
{
	if (!h)
		return;
	lb_secbuf_free(h->key);
	free(h->v);
	free(h);
}

static void digest(const lb_secret_hashes *h, const void *value, size_t len,
		   unsigned char out[DIGEST_LEN])
{
	crypto_generichash(out, DIGEST_LEN, value, len, h->key->data, h->key->len);
}

/* Index of d, or where it would go (found tells which). */
static size_t find(const lb_secret_hashes *h, const unsigned char d[DIGEST_LEN], bool *found)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(h->v[mid].d, d, DIGEST_LEN);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int lb_secret_hashes_add(lb_secret_hashes *h, const void *value, size_t len, lb_err *e)
{
	unsigned char d[DIGEST_LEN];
	bool found;
	size_t i;

	if (len < LB_SECRET_HASH_MIN_LEN)
		return 0;
	digest(h, value, len, d);
	i = find(h, d, &found);
	if (found) {
		if (h->v[i].refs == UINT32_MAX)
			return lb_fail(e, 0, "secret hashes: reference count overflow");
		h->v[i].refs++;
		return 0;
	}
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 16;
		entry *v = realloc(h->v, ncap * sizeof(*v));
		if (!v)
			return lb_fail(e, 12, "secret hashes: out of memory");
		h->v = v;
		h->cap = ncap;
	}
	memmove(&h->v[i + 1], &h->v[i], (h->n - i) * sizeof(*h->v));
	memcpy(h->v[i].d, d, DIGEST_LEN);
	h->v[i].refs = 1;
	h->n++;
	return 0;
}

bool lb_secret_hashes_remove(lb_secret_hashes *h, const void *value, size_t len)
{
	unsigned char d[DIGEST_LEN];
	bool found;
	size_t i;

	if (len < LB_SECRET_HASH_MIN_LEN)
		return false;
	digest(h, value, len, d);
	i = find(h, d, &found);
	if (!found)
		return false;
	if (--h->v[i].refs == 0) {
		memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof(*h->v));
		h->n--;
	}
	return true;
}

bool lb_secret_hashes_contains(const lb_secret_hashes *h, const void *value, size_t len)
{
	unsigned char d[DIGEST_LEN];
	bool found;

	if (!h || len < LB_SECRET_HASH_MIN_LEN)
		return false;
	digest(h, value, len, d);
	find(h, d, &found);
	return found;
}

size_t lb_secret_hashes_count(const lb_secret_hashes *h)
{
	return h ? h->n : 0;
}
