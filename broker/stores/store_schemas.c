/* Every store type's option schema (storeopts.h), for policy/config.c. */
#include "storeopts.h"

#include <stdlib.h>
#include <string.h>

const lb_store_schema *const lb_store_schemas[] = {
    &lb_sealed_schema,
    &lb_vault_schema,
    &lb_aws_sm_schema,
    &lb_aws_ssm_schema,
    &lb_gcp_sm_schema,
    &lb_azure_kv_schema,
    NULL,
};

char *lb_opt_str(json_t *obj, const lb_opt_schema *s, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	if (v && *v)
		return strdup(v);
	for (const lb_opt *o = s ? s->opts : NULL; o && o->key; o++)
		if (strcmp(o->key, key) == 0 && o->def)
			return strdup(o->def);
	return NULL;
}
