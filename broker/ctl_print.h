/* lockboxctl's human output: status, targets (fitted to 80 columns or --wide), audit. The
 * JSON it prints from (the broker's replies) is documented in lockboxctl(8). */
#ifndef LB_CTL_PRINT_H
#define LB_CTL_PRINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define LB_CTL_COLUMNS 80

void lb_ctl_print_status(FILE *f, json_t *st, time_t now);
void lb_ctl_print_targets(FILE *f, json_t *targets, bool wide, time_t now);
void lb_ctl_print_audit(FILE *f, json_t *containers);
/* "2026-12-03T12:50:00Z" */
void lb_ctl_print_time(FILE *f, time_t t);
/* "42s", "5m12s", "2h03m", "3d04h" (at most 6 characters below 100 days). */
void lb_ctl_duration(char *buf, size_t cap, long long s);

#endif
