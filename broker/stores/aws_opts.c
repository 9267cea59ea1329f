/* The aws-sm and aws-ssm stores' options (storeopts.h), read by aws.c and checked by
 * policy/config.c. The endpoint's default depends on the service and region (aws.c). */
#include "storeopts.h"

static void check_aws(json_t *v, lb_opt_report report, void *ctx)
{
	if (!json_object_get(v, "access_key_id") != !json_object_get(v, "secret_access_key_file"))
		report(ctx, NULL, "access_key_id and secret_access_key_file go together");
}

static const lb_opt aws_opts[] = {
    {.key = "type", .type = LB_OPT_STRING, .required = true},
    {.key = "region", .type = LB_OPT_IDENT, .required = true},
    {.key = "access_key_id", .type = LB_OPT_STRING},
    {.key = "secret_access_key_file", .type = LB_OPT_PATH},
    {.key = "session_token_file", .type = LB_OPT_PATH},
    {.key = "endpoint", .type = LB_OPT_HTTPS},
    {.key = "ca_file", .type = LB_OPT_PATH},
    {.key = NULL},
};

const lb_store_schema lb_aws_sm_schema = {"aws-sm", {aws_opts, check_aws}};
const lb_store_schema lb_aws_ssm_schema = {"aws-ssm", {aws_opts, check_aws}};
