/* The sealed local store: state_dir/sealed/ holds one file per secret version, encrypted
 * with libsodium secretstream under state_dir/sealed.key. Used by the broker (as a store)
 * and by lockboxctl offline. */
#ifndef LB_SEALED_H
#define LB_SEALED_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "err.h"
#include "secmem.h"

#define LB_SEALED_VALUE_MAX (1024 * 1024)
#define LB_SEALED_KEEP	    5 /* versions kept per name, for ?version=N pinning */

typedef struct lb_sealed lb_sealed;

bool lb_sealed_name_valid(const char *name);
/* create: make sealed/ and sealed.key when missing. */
int lb_sealed_open(int state_dirfd, bool create, lb_sealed **out, lb_err *e);
void lb_sealed_close(lb_sealed *s);
int lb_sealed_put(lb_sealed *s, const char *name, const lb_secbuf *value, uint32_t *version,
		  lb_err *e);
/* version 0 = latest. */
int lb_sealed_get(lb_sealed *s, const char *name, uint32_t version, lb_secbuf **out,
		  uint32_t *got_version, lb_err *e);
int lb_sealed_rm(lb_sealed *s, const char *name, lb_err *e);
/* [{"name":..,"version":N,"versions":K,"created":T}] sorted by name; no values. */
json_t *lb_sealed_list(lb_sealed *s, lb_err *e);

struct lb_store;
/* The lb_sealed behind a store of type sealed, or NULL for any other type. */
lb_sealed *lb_store_sealed(struct lb_store *s);

#endif
