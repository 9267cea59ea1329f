/* lockboxd's state: config, stores, targets, the refresh pipeline and control commands. */
#ifndef LB_BROKER_H
#define LB_BROKER_H

#include <stdbool.h>
#include "config.h"
#include "control.h"
#include "loop.h"
#include "store.h"
#include "target.h"

typedef struct lb_broker lb_broker;

/* Takes ownership of cfg. Mounts/reuses targets, opens stores, starts the control socket. */
lb_broker *lb_broker_new(lb_loop *loop, lb_config *cfg, const char *config_path, lb_err *e);
void lb_broker_free(lb_broker *b);
/* Re-read the config file; on error the old config keeps running and errors are logged. */
int lb_broker_reload(lb_broker *b, lb_diag *d);
/* Refresh every target now (SIGUSR1). */
void lb_broker_refresh_all(lb_broker *b, const char *reason);
/* Persist state before exit; the tmpfs of live targets stay mounted. */
void lb_broker_shutdown(lb_broker *b);

#endif
