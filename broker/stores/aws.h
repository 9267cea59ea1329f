/* Internal to the aws-sm / aws-ssm provider: its state (aws.c) and its credential chain
 * (aws_creds.c). The vault store's aws login borrows the chain (aws_chain_new): a struct aws
 * of its own that reports to a callback instead of an engine's credential state. */
#ifndef LB_AWS_H
#define LB_AWS_H

#include <stdbool.h>
#include <stdint.h>

#include "netstore.h"
#include "sigv4.h"

enum aws_cred_step { CS_NONE, CS_ECS, CS_IMDS_TOKEN, CS_IMDS_ROLE, CS_IMDS_CREDS };

struct aws {
	lb_nst *ns;
	bool ssm;
	const char *service, *target_op, *kind;
	char *region, *endpoint, *host, *path;
	char *akid_cfg, *secret_file, *token_file;

	/* Current credentials. */
	bool have_creds;
	char akid[LB_SIGV4_MAX_KEY_ID + 1];
	lb_secbuf *secret, *token;
	int64_t expire, refresh_at; /* Unix seconds, 0 = static */
	char cred_source[48];

	/* Credential fetch over HTTP (ECS, IMDS). */
	enum aws_cred_step step;
	lb_http_req *cred_req;
	lb_secbuf *imds_token;
	char imds_base[512];
	char role[256];

	/* A borrowed chain (aws_chain_new): where it reports; NULL for the aws stores. */
	void (*done)(void *ctx, const char *err);
	void *done_ctx;
};

/* The provider's authenticate(): the first source that has credentials (the store's files,
 * lockboxd's AWS_* environment, the shared credentials file, ECS, EC2 IMDSv2); ends in
 * lb_nst_cred_ok or lb_nst_cred_fail. */
void aws_creds_begin(lb_nst *ns);
void aws_creds_clear(struct aws *a);
/* Cancels a credential request in flight (closing). */
void aws_creds_cancel(struct aws *a);
bool aws_akid_ok(const char *s, size_t n);

/* The chain on its own, for another store (ns: whose loop, HTTP client and name it uses;
 * kind names it in logs). aws_chain_get runs the chain as aws_creds_begin does, then
 * done(ctx, NULL) with credentials set, or done(ctx, why); done may run before it returns.
 * Credentials are read through aws_chain_creds (valid until the next get or free). */
struct aws *aws_chain_new(lb_nst *ns, const char *kind, void (*done)(void *ctx, const char *err),
			  void *ctx);
void aws_chain_get(struct aws *a);
void aws_chain_creds(const struct aws *a, lb_sigv4_creds *out);
void aws_chain_free(struct aws *a);

#endif
