/* state_dir/targets.json: what each target holds (names, versions, sources; no secret
 * bytes), so that a restarted broker and `lockboxctl` see the same picture. */
#ifndef LB_STATE_H
#define LB_STATE_H

#include <stddef.h>
#include "target.h"

int lb_state_save(int state_dirfd, lb_target *const *targets, size_t n, lb_err *e);

#endif
