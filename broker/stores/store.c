#include "store.h"

#include <stdlib.h>
#include <string.h>

/* Every store type; their options are declared in <store>_opts.c (storeopts.h). */
static const lb_store_ops *const all_ops[] = {
    &lb_sealed_ops, &lb_vault_ops,    &lb_aws_sm_ops, &lb_aws_ssm_ops,
    &lb_gcp_sm_ops, &lb_azure_kv_ops, NULL,
};

const lb_store_ops *lb_store_ops_of(const char *type)
{
	for (const lb_store_ops *const *o = all_ops; *o; o++)
		if (strcmp((*o)->type, type) == 0)
			return *o;
	return NULL;
}

lb_store *lb_store_open(const lb_store_cfg *cfg, const lb_store_env *env, lb_err *e)
{
	const lb_store_ops *ops = lb_store_ops_of(cfg->type);
	lb_store *s;

	if (!ops)
		return lb_fail(e, 0, "store %s: unsupported type %s", cfg->name, cfg->type), NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->ops = ops;
	s->cfg = cfg;
	s->env = *env;
	snprintf(s->name, sizeof(s->name), "%s", cfg->name);
	if (ops->open(s, e)) {
		lb_fail_wrap(e, "store %s", cfg->name);
		free(s);
		return NULL;
	}
	return s;
}

void lb_store_close(lb_store *s)
{
	if (!s)
		return;
	s->ops->close(s);
	free(s);
}

void lb_store_fetch(lb_store *s, const lb_source *src, const char *target, lb_fetch_cb cb,
		    void *ctx)
{
	s->ops->fetch(s, src, target, cb, ctx);
}

void lb_store_release(lb_store *s, const char *target)
{
	if (s->ops->release)
		s->ops->release(s, target);
}

json_t *lb_store_health(lb_store *s)
{
	return s->ops->health ? s->ops->health(s) : json_pack("{s:s}", "health", "ok");
}

void lb_fetch_result_clear(lb_fetch_result *r)
{
	lb_secbuf_free(r->value);
	memset(r, 0, sizeof(*r));
}

int lb_store_select_field(const lb_fetch_result *r, const lb_source *src, lb_secbuf **out,
			  lb_err *e)
{
	_cleanup_json_ json_t *obj = NULL;
	json_t *v = NULL;
	const char *key;

	if (!r->structured && !src->field[0]) {
		*out = lb_secbuf_dup(r->value->data, r->value->len);
		return *out ? 0 : lb_fail(e, ENOMEM, "out of secure memory");
	}
	obj = json_loadb((const char *)r->value->data, r->value->len, 0, NULL);
	if (!json_is_object(obj))
		return lb_fail(e, 0, "%s:%s is not a JSON object, so #%s cannot be selected",
			       src->store, src->path, src->field);
	if (src->field[0]) {
		v = json_object_get(obj, src->field);
		if (!v)
			return lb_fail(e, 0, "%s:%s has no field \"%s\"", src->store, src->path,
				       src->field);
	} else if (json_object_size(obj) == 1) {
		json_object_foreach (obj, key, v)
			break;
	} else {
		v = obj;
	}
	if (json_is_string(v)) {
		*out = lb_secbuf_dup(json_string_value(v), json_string_length(v));
	} else {
		char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!dump)
			return lb_fail(e, ENOMEM, "out of memory");
		*out = lb_secbuf_dup(dump, strlen(dump));
		lb_json_free(dump);
	}
	return *out ? 0 : lb_fail(e, ENOMEM, "out of secure memory");
}
