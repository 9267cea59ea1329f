/* Logging and audit. Every line is one JSON object (values escaped by jansson).
 * Log lines go to stderr; audit events go to state_dir/audit.jsonl and stderr.
 * Nothing here ever receives secret bytes: callers pass names, versions, sources. */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <jansson.h>

enum lb_level { LB_DEBUG, LB_INFO, LB_WARN, LB_ERROR };

void lb_log(enum lb_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lb_log_set_level(enum lb_level lvl);
enum lb_level lb_log_level(void);
/* Open (create, append, 0600) the audit log under state_dir's dirfd. */
int lb_audit_open(int state_dirfd);
void lb_audit_close(void);
/* Write an audit event; steals ev. "ts" and "event" are added. */
void lb_audit(const char *event, json_t *ev);

/* Where log lines and audit events go instead, in a process that hands them to another (the
 * network worker hands them to root, which writes them). msg: the formatted message; ev:
 * the event's fields (borrowed; NULL for a log line). NULL = write them here. */
typedef void (*lb_log_sink)(enum lb_level lvl, const char *msg, const char *event, json_t *ev);
void lb_log_set_sink(lb_log_sink fn);

#endif
