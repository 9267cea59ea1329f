/* Source URIs: STORE:PATH[#FIELD][?version=N]. */
#ifndef LB_URI_H
#define LB_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

typedef struct lb_source {
	char store[64];
	char path[512];
	char field[129];
	char version[64]; /* empty = latest */
	/* A write's parameters as canonical JSON (sorted keys, compact), from the secret's
	 * "params" (Vault PKI issue, issue 17); empty = a read. Never from the URI. */
	char params[512];
	/* When the fetch was asked for (lb_now_ns; 0 = now): a network store's shared read
	 * whose request went out before that cannot answer it (netstore_util.c). Not part of
	 * what the source names. */
	uint64_t asked_ns;
} lb_source;

int lb_source_parse(const char *uri, lb_source *out, lb_err *e);
/* Do a and b name the same thing (store, path, field, version)? params and asked_ns aside. */
bool lb_source_same(const lb_source *a, const lb_source *b);
/* "STORE:PATH[?version=N]" without the field: the unit a store fetches once. With params,
 * "?params=" and 16 hex digits of their digest follow (one issue per distinct params). */
void lb_source_key(const lb_source *s, char *buf, size_t cap);

#endif
