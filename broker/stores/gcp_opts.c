/* The gcp-sm store's options (storeopts.h), read by gcp.c and checked by policy/config.c. */
#include "storeopts.h"

static const lb_opt gcp_opts[] = {
    {.key = "type", .type = LB_OPT_STRING, .required = true},
    {.key = "project", .type = LB_OPT_STRING, .required = true},
    {.key = "credentials_file", .type = LB_OPT_PATH},
    {.key = "endpoint", .type = LB_OPT_HTTPS, .def = "https://secretmanager.googleapis.com"},
    {.key = "ca_file", .type = LB_OPT_PATH},
    {.key = NULL},
};

const lb_store_schema lb_gcp_sm_schema = {"gcp-sm", {gcp_opts, NULL}};
