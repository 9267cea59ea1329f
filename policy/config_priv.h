/* Shared by the config parser's files (config.c, config_secret.c, config_store.c); nothing
 * else includes it. */
#ifndef LB_CONFIG_PRIV_H
#define LB_CONFIG_PRIV_H

#include "config.h"

struct ctx {
	const char *file;
	const char *text; /* the config's text (positions inside inline templates) */
	json_t *pos;
	lb_diag *d;
	int errors;
};

/* "FILE:LINE:COL: key.path: message", at the position of path in the config. */
void lb_cfg_err(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same at an explicit position (file NULL: the config itself). */
void lb_cfg_err_at(struct ctx *c, const char *file, int line, int col, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
const char *lb_cfg_type_name(const json_t *v);
/* Reject keys not in allowed (NULL-terminated). */
void lb_cfg_check_keys(struct ctx *c, const char *path, json_t *obj, const char *const *allowed);
/* obj[key] when it has type t (JSON_TRUE: any boolean); sub gets "path.key". */
json_t *lb_cfg_want(struct ctx *c, json_t *obj, const char *path, const char *key, json_type t,
		    bool required, char *sub, size_t subcap);
bool lb_cfg_abs_path_ok(const char *s);
/* A store or volume-driver identifier: letters, digits, '_', '-'; 1 to 63 bytes. */
bool lb_cfg_ident_ok(const char *s);
/* A regular file of at most cap bytes without NUL (O_NONBLOCK: never a FIFO's hang). */
char *lb_cfg_read_text(const char *path, size_t cap, size_t *len, lb_err *e);

/* config_mem.c: the name index of n structs of stride bytes, each starting with its name. */
int lb_cfg_index_build(lb_cfg_index *ix, const void *base, size_t stride, size_t n);
/* Moves every name and path the structs point at into cfg->strings (the tree can go). */
int lb_cfg_compact(lb_config *cfg);

/* config_store.c: the "stores" object; fills cfg->stores and cfg->nstores. */
void lb_cfg_parse_stores(struct ctx *c, lb_config *cfg, json_t *stores);

/* config_secret.c: one entry of a binding's "secrets". */
void lb_cfg_parse_secret(struct ctx *c, lb_config *cfg, const char *path, const char *name,
			 json_t *v, lb_secret_spec *s);

#endif
