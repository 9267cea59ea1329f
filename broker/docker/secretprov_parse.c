/* The pure half of secretprov.h: a GetSecret request parsed, the configured secret it may
 * name, and a task's container spec as the posture gate's input. No I/O. */
#include "secretprov.h"
#include "layout.h"

#include <stdio.h>
#include <string.h>

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* An optional string field: printable, shorter than cap; "" when absent or null. */
static int text_field(const json_t *req, const char *key, char *out, size_t cap, lb_err *e)
{
	const json_t *v = json_object_get(req, key);
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return lb_fail(e, 0, "%s is not a string", key);
	s = json_string_value(v);
	if (json_string_length(v) >= cap || strlen(s) != json_string_length(v) || !printable(s))
		return lb_fail(e, 0, "%s is not printable text of at most %zu bytes", key, cap - 1);
	memcpy(out, s, json_string_length(v) + 1);
	return 0;
}

/* Swarm ids are lowercase letters and digits. */
static int id_field(const json_t *req, const char *key, char *out, size_t cap, lb_err *e)
{
	if (text_field(req, key, out, cap, e))
		return -1;
	for (const char *p = out; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			return lb_fail(e, 0, "%s is not a swarm id (lowercase letters and digits)",
				       key);
	return 0;
}

static int labels(const json_t *ls, lb_sp_request *out, lb_err *e)
{
	const char *k;
	json_t *v;

	if (ls && !json_is_null(ls) && !json_is_object(ls))
		return lb_fail(e, 0, "SecretLabels is not an object");
	json_object_foreach ((json_t *)ls, k, v) {
		char *dst;
		size_t cap;
		if (strncmp(k, "lockbox.", 8) != 0)
			continue; /* other tools' labels */
		if (strcmp(k, LB_SP_LABEL_SOURCE) == 0)
			dst = out->source, cap = sizeof(out->source);
		else if (strcmp(k, LB_SP_LABEL_BINDING) == 0)
			dst = out->binding, cap = sizeof(out->binding);
		else if (strcmp(k, LB_SP_LABEL_SECRET) == 0)
			dst = out->secret, cap = sizeof(out->secret);
		else
			return lb_fail(e, 0,
				       "unknown label \"%.64s\" (lockbox knows " LB_SP_LABEL_SOURCE
				       ", " LB_SP_LABEL_BINDING " and " LB_SP_LABEL_SECRET ")",
				       printable(k) ? k : "?");
		if (text_field(ls, k, dst, cap, e))
			return lb_fail_wrap(e, "label");
	}
	if ((out->binding[0] && !lb_secret_name_valid(out->binding)) ||
	    (out->secret[0] && !lb_secret_name_valid(out->secret)))
		return lb_fail(e, 0,
			       "label " LB_SP_LABEL_BINDING " or " LB_SP_LABEL_SECRET
			       " is not a name (letters, digits, '_', '-', '.')");
	if (out->source[0] && out->secret[0])
		return lb_fail(e, 0,
			       "labels " LB_SP_LABEL_SOURCE " and " LB_SP_LABEL_SECRET
			       " both given: name the secret one way");
	if (out->secret[0] && !out->binding[0])
		return lb_fail(e, 0, "label " LB_SP_LABEL_SECRET " needs " LB_SP_LABEL_BINDING);
	if (!out->source[0] && !out->secret[0])
		return lb_fail(e, 0,
			       "no label " LB_SP_LABEL_SOURCE " (or " LB_SP_LABEL_BINDING
			       " + " LB_SP_LABEL_SECRET ") says what to fetch");
	return 0;
}

int lb_sp_parse(const json_t *req, lb_sp_request *out, lb_err *e)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(req))
		return lb_fail(e, 0, "the request is not a JSON object");
	if (text_field(req, "SecretName", out->secret_name, sizeof(out->secret_name), e) ||
	    text_field(req, "ServiceName", out->service_name, sizeof(out->service_name), e) ||
	    text_field(req, "TaskName", out->task_name, sizeof(out->task_name), e) ||
	    id_field(req, "ServiceID", out->service_id, sizeof(out->service_id), e) ||
	    id_field(req, "TaskID", out->task_id, sizeof(out->task_id), e) ||
	    id_field(req, "NodeID", out->node_id, sizeof(out->node_id), e))
		return -1;
	if (!out->secret_name[0])
		return lb_fail(e, 0, "no SecretName");
	if (!out->task_id[0])
		return lb_fail(e, 0, "no TaskID (dockerd before 20.10 does not send it)");
	return labels(json_object_get(req, "SecretLabels"), out, e);
}

static void take(lb_sp_decision *d, const lb_binding *bd, const lb_secret_spec *s)
{
	if (!d->nbindings++) {
		d->src = s->src;
		snprintf(d->uri, sizeof(d->uri), "%s", s->uri);
		snprintf(d->binding, sizeof(d->binding), "%s", bd->name);
		snprintf(d->secret, sizeof(d->secret), "%s", s->name);
	}
	d->require |= bd->require;
}

static int by_name(const lb_config *cfg, const lb_sp_request *rq, lb_sp_decision *d, lb_err *e)
{
	const lb_binding *bd = lb_config_binding(cfg, rq->binding);

	if (!bd)
		return lb_fail(e, 0,
			       "Swarm secret %s: lockboxd's configuration has no binding \"%s\"",
			       rq->secret_name, rq->binding);
	for (size_t i = 0; i < bd->nsecrets; i++) {
		const lb_secret_spec *s = &bd->secrets[i];
		if (strcmp(s->name, rq->secret) != 0)
			continue;
		if (s->tmpl)
			return lb_fail(e, 0,
				       "Swarm secret %s: %s/%s is a rendered secret (template); "
				       "lockbox serves only plain sources as Swarm secrets",
				       rq->secret_name, bd->name, s->name);
		take(d, bd, s);
		return 0;
	}
	return lb_fail(e, 0, "Swarm secret %s: binding %s has no secret \"%s\"", rq->secret_name,
		       bd->name, rq->secret);
}

int lb_sp_decide(const lb_config *cfg, const lb_sp_request *rq, lb_sp_decision *d, lb_err *e)
{
	lb_source want;
	lb_err pe = {0};

	memset(d, 0, sizeof(*d));
	if (rq->secret[0])
		return by_name(cfg, rq, d, e);
	if (lb_source_parse(rq->source, &want, &pe))
		return lb_fail(e, 0, "Swarm secret %s: label " LB_SP_LABEL_SOURCE " \"%s\": %s",
			       rq->secret_name, rq->source, pe.msg);
	if (rq->binding[0] && !lb_config_binding(cfg, rq->binding))
		return lb_fail(e, 0,
			       "Swarm secret %s: lockboxd's configuration has no binding \"%s\"",
			       rq->secret_name, rq->binding);
	for (size_t b = 0; b < cfg->nbindings; b++) {
		const lb_binding *bd = &cfg->bindings[b];
		if (rq->binding[0] && strcmp(bd->name, rq->binding) != 0)
			continue;
		for (size_t i = 0; i < bd->nsecrets; i++)
			if (!bd->secrets[i].tmpl && lb_source_same(&bd->secrets[i].src, &want))
				take(d, bd, &bd->secrets[i]);
	}
	if (d->nbindings)
		return 0;
	return lb_fail(e, 0,
		       "Swarm secret %s: source %s is not allowed: no binding %s%slists it (a "
		       "Swarm secret may name only a source that a binding of lockboxd's "
		       "configuration lists)",
		       rq->secret_name, rq->source, rq->binding[0] ? rq->binding : "",
		       rq->binding[0] ? " " : "");
}

/* A JSON array of strings from the spec, or an empty one. */
static json_t *strings_of(const json_t *v)
{
	json_t *out = json_array(), *x;
	size_t i;

	json_array_foreach ((json_t *)v, i, x)
		if (json_is_string(x))
			json_array_append(out, x);
	return out;
}

static json_t *mounts_of(const json_t *v)
{
	json_t *out = json_array(), *m;
	size_t i;

	json_array_foreach ((json_t *)v, i, m) {
		const char *type = json_string_value(json_object_get(m, "Type"));
		const char *src = json_string_value(json_object_get(m, "Source"));
		const char *dst = json_string_value(json_object_get(m, "Target"));
		json_array_append_new(
		    out, json_pack("{s:s,s:s,s:s,s:b}", "Type", type ? type : "volume", "Source",
				   src ? src : "", "Destination", dst ? dst : "", "RW",
				   !json_is_true(json_object_get(m, "ReadOnly"))));
	}
	return out;
}

json_t *lb_sp_task_inspect(const json_t *task)
{
	const json_t *spec = json_object_get(task, "Spec");
	const json_t *cs = json_object_get(spec, "ContainerSpec");
	const json_t *lim = json_object_get(json_object_get(spec, "Resources"), "Limits");
	const char *id = json_string_value(json_object_get(task, "ID"));
	const char *user = json_string_value(json_object_get(cs, "User"));
	json_int_t mem = json_integer_value(json_object_get(lim, "MemoryBytes"));
	json_int_t pids = json_integer_value(json_object_get(lim, "Pids"));

	if (!json_is_object(cs) || !id || !*id)
		return NULL;
	/* Swarm runs no privileged container and no host pid/ipc/uts namespace; the host
	 * network is attached by id (not seen here). */
	return json_pack("{s:s,s:s,s:{s:s,s:o},s:{s:b,s:b,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:o,s:[],"
			 "s:[]},s:o}",
			 "Id", id, "Name", "", "Config", "User", user ? user : "", "Env",
			 strings_of(json_object_get(cs, "Env")), "HostConfig", "Privileged", 0,
			 "ReadonlyRootfs", json_is_true(json_object_get(cs, "ReadOnly")),
			 "NetworkMode", "", "PidMode", "", "IpcMode", "", "UTSMode", "",
			 "UsernsMode", "", "Memory", mem, "PidsLimit", pids, "CapAdd",
			 strings_of(json_object_get(cs, "CapabilityAdd")), "CapDrop",
			 strings_of(json_object_get(cs, "CapabilityDrop")), "SecurityOpt",
			 "Devices", "Mounts", mounts_of(json_object_get(cs, "Mounts")));
}
