/* The Prometheus text exposition (format 0.0.4) of one or more registries: the series of the
 * same labels in several registries (the process's own and those relayed from the worker)
 * are printed once, summed. */
#include "metrics_priv.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text being rendered: a growing buffer; oom when an append failed. */
struct out {
	char *buf;
	size_t len, cap;
	bool oom;
};

static void out_mem(struct out *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 4096;
		char *nb;
		while (cap < o->len + n + 1)
			cap *= 2;
		nb = realloc(o->buf, cap);
		if (!nb) {
			o->oom = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
	out_mem(o, s, strlen(s));
}

static void out_chr(struct out *o, char c)
{
	out_mem(o, &c, 1);
}

__attribute__((format(printf, 2, 3))) static void out_fmt(struct out *o, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		o->oom = true; /* every format here is short: a cut line is not written */
	else
		out_mem(o, buf, (size_t)n);
}

static void put_escaped(struct out *f, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			out_str(f, "\\\\");
		else if (*s == '\n')
			out_str(f, "\\n");
		else if (*s == '"' && quote)
			out_str(f, "\\\"");
		else
			out_chr(f, *s);
	}
}

static void put_value(struct out *f, double v)
{
	if (isnan(v))
		out_str(f, "NaN");
	else if (isinf(v))
		out_str(f, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		out_fmt(f, "%.0f", v);
	else {
		/* The shortest of 15 or 17 digits that reads back as v. */
		char buf[40];
		snprintf(buf, sizeof(buf), "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, sizeof(buf), "%.17g", v);
		out_str(f, buf);
	}
}

/* {a="x",b="y"} plus an extra le="..." for a bucket (le: NULL for none). */
static void put_labels(struct out *f, enum lb_metric_id id, const struct series *s, const char *le)
{
	size_t nl = lb_metrics_nlabels(id);

	if (!nl && !le)
		return;
	out_chr(f, '{');
	for (size_t j = 0; j < nl; j++) {
		out_fmt(f, "%s%s=\"", j ? "," : "", lb_metric_desc_of(id)->labels[j]);
		put_escaped(f, s->labels[j], true);
		out_chr(f, '"');
	}
	if (le)
		out_fmt(f, "%sle=\"%s\"", nl ? "," : "", le);
	out_chr(f, '}');
}

static bool same_labels(const struct series *a, const struct series *b, size_t nl)
{
	for (size_t j = 0; j < nl; j++)
		if (strcmp(a->labels[j], b->labels[j]) != 0)
			return false;
	return true;
}

static const struct series *find_in(const struct family *f, const struct series *s, size_t nl)
{
	for (size_t i = 0; i < f->n; i++)
		if (same_labels(&f->s[i], s, nl))
			return &f->s[i];
	return NULL;
}

static void put_series(struct out *f, enum lb_metric_id id, const struct series *s)
{
	const lb_metric_desc *d = lb_metric_desc_of(id);
	const char *name = d->name;
	uint64_t cum = 0;
	char le[32];

	if (d->kind != LB_METRIC_HISTOGRAM) {
		out_str(f, name);
		put_labels(f, id, s, NULL);
		out_chr(f, ' ');
		put_value(f, s->v);
		out_chr(f, '\n');
		return;
	}
	for (size_t i = 0; i <= LB_METRICS_NBUCKETS; i++) {
		if (i < LB_METRICS_NBUCKETS) {
			cum += s->bucket[i];
			snprintf(le, sizeof(le), "%g", lb_metrics_bucket_bounds[i]);
		} else {
			cum = s->count;
			snprintf(le, sizeof(le), "+Inf");
		}
		out_fmt(f, "%s_bucket", name);
		put_labels(f, id, s, le);
		out_fmt(f, " %llu\n", (unsigned long long)cum);
	}
	out_fmt(f, "%s_sum", name);
	put_labels(f, id, s, NULL);
	out_chr(f, ' ');
	put_value(f, s->v);
	out_fmt(f, "\n%s_count", name);
	put_labels(f, id, s, NULL);
	out_fmt(f, " %llu\n", (unsigned long long)s->count);
}

char *lb_metrics_render(lb_metrics *const *regs, size_t n, size_t *len)
{
	struct out o = {0};
	struct out *f = &o;
	for (size_t id = 0; id < LB_M_COUNT; id++) {
		static const char *const kinds[] = {"counter", "gauge", "histogram"};
		const lb_metric_desc *d = lb_metric_desc_of((enum lb_metric_id)id);
		size_t nl = lb_metrics_nlabels((enum lb_metric_id)id);
		bool any = false;

		for (size_t k = 0; k < n; k++)
			any = any || (regs[k] && regs[k]->f[id].n);
		if (!any)
			continue;
		out_fmt(f, "# HELP %s ", d->name);
		put_escaped(f, d->help, false);
		out_fmt(f, "\n# TYPE %s %s\n", d->name, kinds[d->kind]);
		for (size_t k = 0; k < n; k++) {
			const struct family *fam = regs[k] ? &regs[k]->f[id] : NULL;
			for (size_t i = 0; fam && i < fam->n; i++) {
				struct series sum = fam->s[i];
				bool seen = false;
				/* Printed with an earlier registry's series of the same labels. */
				for (size_t j = 0; j < k && !seen; j++)
					seen = regs[j] && find_in(&regs[j]->f[id], &sum, nl);
				if (seen)
					continue;
				for (size_t j = k + 1; j < n; j++) {
					const struct series *same =
					    regs[j] ? find_in(&regs[j]->f[id], &sum, nl) : NULL;
					if (!same)
						continue;
					sum.v += same->v;
					sum.count += same->count;
					for (size_t b = 0; b < LB_METRICS_NBUCKETS; b++)
						sum.bucket[b] += same->bucket[b];
				}
				put_series(f, (enum lb_metric_id)id, &sum);
			}
		}
	}
	out_mem(f, "", 0); /* an empty text is "" too */
	if (o.oom) {
		free(o.buf);
		return NULL;
	}
	if (len)
		*len = o.len;
	return o.buf;
}
