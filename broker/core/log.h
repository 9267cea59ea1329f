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
/* Between hold and release (nested pairs count), audit lines are collected and written with
 * one write per destination at the release (or every 64 KiB): a rotation of 1,000 targets
 * made 2,000 writes. Log lines are not held; an audit line written in between keeps its
 * place after the held ones. */
void lb_audit_hold(void);
/* The same line as lb_audit from an event's members already written as JSON text (no
 * leading comma, e.g. by core/jsonw): the deliver event of every target at every rotation
 * costs no jansson tree. */
void lb_audit_text(const char *event, const char *fields);
void lb_audit_release(void);

/* Where log lines and audit events go instead, in a process that hands them to another (the
 * network worker hands them to root, which writes them). msg: the formatted message; ev:
 * the event's fields (borrowed; NULL for a log line). NULL = write them here. */
typedef void (*lb_log_sink)(enum lb_level lvl, const char *msg, const char *event, json_t *ev);
void lb_log_set_sink(lb_log_sink fn);

#endif
