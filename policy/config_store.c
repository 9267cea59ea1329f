/* The "stores" section: each store's options checked against the schema declared next to the
 * store (storeopts.h). */
#include "config_priv.h"
#include "storeopts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_opts(struct ctx *c, const char *path, json_t *obj, const lb_opt_schema *s);

struct opt_report_ctx {
	struct ctx *c;
	const char *path;
};

static void opt_report(void *ctx, const char *key, const char *fmt, ...)
{
	struct opt_report_ctx *r = ctx;
	char msg[768], sub[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a message cut at 767 bytes is fine */
	va_end(ap);
	snprintf(sub, sizeof(sub), "%s%s%s", r->path, key ? "." : "", key ? key : "");
	lb_cfg_err(r->c, sub, "%s", msg);
}

// NOLINTNEXTLINE(misc-no-recursion): as deep as the schema's own nesting (compiled in)
static void check_opt(struct ctx *c, const char *path, json_t *obj, const lb_opt *o)
{
	static const json_type types[] = {
	    [LB_OPT_STRING] = JSON_STRING, [LB_OPT_IDENT] = JSON_STRING,
	    [LB_OPT_PATH] = JSON_STRING,   [LB_OPT_HTTPS] = JSON_STRING,
	    [LB_OPT_INT] = JSON_INTEGER,   [LB_OPT_BOOL] = JSON_TRUE,
	    [LB_OPT_OBJECT] = JSON_OBJECT, [LB_OPT_CHOICE] = JSON_STRING,
	};
	char sub[512], list[256] = "";
	json_t *x =
	    lb_cfg_want(c, obj, path, o->key, types[o->type], o->required, sub, sizeof(sub));
	const char *sv = x ? json_string_value(x) : NULL;
	json_int_t n;

	if (!x)
		return;
	switch (o->type) {
	case LB_OPT_IDENT:
		if (!lb_cfg_ident_ok(sv))
			lb_cfg_err(c, sub, "bad %s \"%s\"", o->key, sv);
		break;
	case LB_OPT_PATH:
		if (!lb_cfg_abs_path_ok(sv))
			lb_cfg_err(c, sub, "must be an absolute path without \"..\"");
		break;
	case LB_OPT_HTTPS:
		if (strncmp(sv, "https://", 8) != 0)
			lb_cfg_err(c, sub, "must be an https:// URL (TLS is always verified)");
		break;
	case LB_OPT_INT:
		n = json_integer_value(x);
		if (n < o->min || n > o->max)
			lb_cfg_err(c, sub,
				   o->max == o->min + 1 ? "must be %lld or %lld"
							: "must be between %lld and %lld",
				   (long long)o->min, (long long)o->max);
		break;
	case LB_OPT_CHOICE:
		for (size_t i = 0; o->choices[i]; i++) {
			if (strcmp(o->choices[i], sv) == 0)
				return;
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 i == 0		     ? ""
				 : o->choices[i + 1] ? ", "
						     : " or ",
				 o->choices[i]);
		}
		lb_cfg_err(c, sub, "unknown %s \"%s\" (expected %s)", o->choice_name, sv, list);
		break;
	case LB_OPT_OBJECT:
		check_opts(c, sub, x, o->sub);
		break;
	case LB_OPT_STRING:
	case LB_OPT_BOOL:
		break;
	}
}

/* A store's options against the schema declared next to the store (storeopts.h). */
// NOLINTNEXTLINE(misc-no-recursion): as deep as the schema's own nesting (compiled in)
static void check_opts(struct ctx *c, const char *path, json_t *obj, const lb_opt_schema *s)
{
	const char *keys[64];
	size_t n = 0;
	struct opt_report_ctx rc = {c, path};

	for (const lb_opt *o = s->opts; o->key && n < 63; o++)
		keys[n++] = o->key;
	keys[n] = NULL;
	lb_cfg_check_keys(c, path, obj, keys);
	for (const lb_opt *o = s->opts; o->key; o++)
		check_opt(c, path, obj, o);
	if (s->check)
		s->check(obj, opt_report, &rc);
}

void lb_cfg_parse_stores(struct ctx *c, lb_config *cfg, json_t *stores)
{
	const char *name;
	json_t *v;
	size_t i = 0;

	cfg->stores = calloc(json_object_size(stores) + 1, sizeof(*cfg->stores));
	if (!cfg->stores) {
		lb_cfg_err(c, "stores", "out of memory for %zu stores", json_object_size(stores));
		return;
	}
	json_object_foreach (stores, name, v) {
		char path[512], sub[512];
		json_t *type;

		snprintf(path, sizeof(path), "stores.%s", name);
		if (!lb_cfg_ident_ok(name)) {
			lb_cfg_err(c, path,
				   "bad store name (letters, digits, '_', '-'; at most 63)");
			continue;
		}
		if (!json_is_object(v)) {
			lb_cfg_err(c, path, "expected object, got %s", lb_cfg_type_name(v));
			continue;
		}
		type = lb_cfg_want(c, v, path, "type", JSON_STRING, true, sub, sizeof(sub));
		if (!type)
			continue;
		{
			const lb_store_schema *const *t;
			char list[128] = "";

			for (t = lb_store_schemas; *t; t++)
				if (strcmp(json_string_value(type), (*t)->type) == 0)
					break;
			if (!*t) {
				for (t = lb_store_schemas; *t; t++)
					snprintf(list + strlen(list), sizeof(list) - strlen(list),
						 "%s%s", list[0] ? ", " : "", (*t)->type);
				lb_cfg_err(
				    c, sub,
				    "unsupported store type \"%s\" (this build supports: %s)",
				    json_string_value(type), list);
				continue;
			}
			check_opts(c, path, v, &(*t)->opts);
		}
		cfg->stores[i].name = name;
		cfg->stores[i].type = json_string_value(type);
		cfg->stores[i].opts = json_incref(v);
		i++;
	}
	cfg->nstores = i;
}
