/* A store type's options, declared once next to the store (broker/stores/<store>_opts.c):
 * keys, types, defaults and validation. policy/config.c validates a configuration with
 * it; the store reads its options (and their defaults) through it. */
#ifndef LB_STOREOPTS_H
#define LB_STOREOPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

enum lb_opt_type {
	LB_OPT_STRING,
	LB_OPT_IDENT, /* letters, digits, '_', '-'; at most 63 */
	LB_OPT_PATH,  /* an absolute path without ".." */
	LB_OPT_HTTPS, /* an https:// URL (TLS is always verified) */
	LB_OPT_INT,   /* min..max */
	LB_OPT_BOOL,
	LB_OPT_OBJECT, /* with its own options (sub) */
	LB_OPT_CHOICE, /* one of choices[] */
};

typedef struct lb_opt_schema lb_opt_schema;

typedef struct lb_opt {
	const char *key;
	enum lb_opt_type type;
	bool required;
	const char *def; /* default of a string option, or NULL */
	int64_t min, max;
	const char *const *choices; /* LB_OPT_CHOICE, NULL-terminated */
	const char *choice_name;    /* "auth method": in "unknown auth method \"x\"" */
	const lb_opt_schema *sub;   /* LB_OPT_OBJECT */
} lb_opt;

/* Reports one problem at key (NULL: the object itself) of the object checked. */
typedef void (*lb_opt_report)(void *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct lb_opt_schema {
	const lb_opt *opts; /* ends with {NULL} */
	/* Rules across keys (optional), run after the keys' own checks. */
	void (*check)(json_t *obj, lb_opt_report report, void *ctx);
};

typedef struct lb_store_schema {
	const char *type; /* "vault" */
	lb_opt_schema opts;
} lb_store_schema;

/* Every store type there is, in the order "this build supports" lists them. */
extern const lb_store_schema *const lb_store_schemas[];
extern const lb_store_schema lb_sealed_schema, lb_vault_schema, lb_aws_sm_schema, lb_aws_ssm_schema,
    lb_gcp_sm_schema, lb_azure_kv_schema;

/* A copy of a non-empty string option, else of its declared default (s may be NULL: no
 * defaults), else NULL. */
char *lb_opt_str(json_t *obj, const lb_opt_schema *s, const char *key);

#endif
