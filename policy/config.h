/* lockbox.json: strict parse and validation (DESIGN.md, "Configuration"). */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "layout.h"
#include "template.h"
#include "uri.h"

#define LB_DEFAULT_CONFIG "/etc/lockbox/lockbox.json"
#define LB_CONFIG_MAX	  (1024 * 1024)

typedef struct lb_secret_spec {
	char name[LB_NAME_MAX + 1];
	char uri[1024];
	/* A rendered secret's src is "template:FILE" or "template:NAME", never fetched: its
	 * sources are the template's. */
	lb_source src;
	unsigned mode;
	lb_template *tmpl; /* {"template"} or {"template_file"}: owned; else NULL */
} lb_secret_spec;

/* The sources a secret is made of: its own, or its template's. */
static inline size_t lb_secret_nsources(const lb_secret_spec *s)
{
	return s->tmpl ? lb_template_nsources(s->tmpl) : 1;
}
static inline const lb_source *lb_secret_source(const lb_secret_spec *s, size_t i)
{
	return s->tmpl ? lb_template_source(s->tmpl, i) : &s->src;
}

typedef struct lb_binding {
	const char *name;
	lb_secret_spec *secrets;
	size_t nsecrets;
	json_t *match; /* {"images":[...],"labels":{...}} or NULL: owned (one per binding) */
	uint32_t require;
	int notify_sig; /* 0 = none */
	uint64_t refresh_ms;
	uint64_t grace_ms;
	uint64_t size;
	bool has_uid, has_gid;
	uint32_t uid, gid;
	bool on_refuse_warn;
} lb_binding;

typedef struct lb_store_cfg {
	const char *name;
	const char *type;
	/* The store's whole object, owned (one per store, not per target): its open() reads it
	 * through its schema, the worker gets it as JSON, a reload compares it (json_equal). */
	json_t *opts;
} lb_store_cfg;

typedef struct lb_target_cfg {
	const char *name;
	const lb_binding *binding;
	uint32_t uid, gid;
	const char *uid_map; /* NULL = identity */
	const char *gid_map; /* NULL = same as uid_map when literal, else derived */
} lb_target_cfg;

/* Name -> position + 1 (0: empty slot), open addressing: lookups by name are O(1) at about
 * 8 bytes per name (config_mem.c). */
typedef struct lb_cfg_index {
	uint32_t *slot;
	size_t mask; /* capacity - 1 */
} lb_cfg_index;

/* What a parse keeps: compact structs. The JSON tree is freed once parsed; every name and
 * path the structs point at is in one block (strings). */
typedef struct lb_config {
	char *strings;
	const char *run_dir;
	const char *state_dir;
	const char *docker_socket; /* NULL without a docker key */
	const char *plugin_socket;
	const char *metrics_listen; /* "127.0.0.1:9464"; NULL: /metrics on RUN_DIR only */
	bool metrics_container_ids; /* container ids as a label of Docker targets' gauges */
	lb_store_cfg *stores;
	size_t nstores;
	lb_binding *bindings;
	size_t nbindings;
	lb_target_cfg *targets;
	size_t ntargets;
	lb_cfg_index binding_index, target_index;
} lb_config;

/* Diagnostics: one formatted line per problem ("FILE:LINE:COL: key.path: message"). */
typedef struct lb_diag {
	char **lines;
	size_t n;
} lb_diag;

void lb_diag_free(lb_diag *d);

/* Parse text (name is used in messages). Returns a config, or NULL with d filled. */
lb_config *lb_config_parse(const char *text, const char *name, lb_diag *d);
/* Read (capped at LB_CONFIG_MAX) and parse a file. */
lb_config *lb_config_load(const char *path, lb_diag *d);
void lb_config_free(lb_config *c);
/* run_dir and state_dir only, leniently: lockboxctl must reach the broker (e.g. to show
 * the errors of a config that no longer validates). Missing keys give the defaults;
 * returns -1 with d filled when the file is not even JSON (defaults are still set). */
int lb_config_dirs(const char *path, char *run_dir, char *state_dir, size_t cap, lb_diag *d);

const lb_binding *lb_config_binding(const lb_config *c, const char *name);
const lb_store_cfg *lb_config_store(const lb_config *c, const char *name);
const lb_target_cfg *lb_config_target(const lb_config *c, const char *name);

#endif
