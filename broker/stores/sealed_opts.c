/* The sealed store's options (storeopts.h): none but its type. */
#include "storeopts.h"

static const lb_opt sealed_opts[] = {{.key = "type", .type = LB_OPT_STRING, .required = true},
				     {.key = NULL}};

const lb_store_schema lb_sealed_schema = {"sealed", {sealed_opts, NULL}};
