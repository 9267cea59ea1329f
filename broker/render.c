#include "render.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* "STORE:PATH#FIELD" for messages (no value). */
static void source_name(const lb_source *src, char *buf, size_t cap)
{
	lb_source_key(src, buf, cap);
	if (src->field[0])
		snprintf(buf + strlen(buf), cap - strlen(buf), "#%s", src->field);
}

void lb_render_result(const lb_secret_spec *sp, lb_render_lookup fn, void *ctx,
		      lb_fetch_result *out)
{
	crypto_generichash_state st;
	unsigned char h[8];
	char hex[17], name[1024];

	memset(out, 0, sizeof(*out));
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)lb_template_digest(sp->tmpl), 16);
	for (size_t i = 0; i < lb_template_nsources(sp->tmpl); i++) {
		const lb_source *src = lb_template_source(sp->tmpl, i);
		const lb_fetch_result *r = fn(ctx, src);

		source_name(src, name, sizeof(name));
		if (!r || r->status) {
			out->status = -1;
			snprintf(out->error, sizeof(out->error), "%s: %s", name,
				 r ? r->error : "not fetched in this pass");
			return;
		}
		out->keep = out->keep || r->keep;
		if (r->not_after && (!out->not_after || r->not_after < out->not_after))
			out->not_after = r->not_after;
		crypto_generichash_update(&st, (const unsigned char *)name, strlen(name) + 1);
		crypto_generichash_update(&st, (const unsigned char *)r->version,
					  strnlen(r->version, sizeof(r->version)));
		crypto_generichash_update(&st, (const unsigned char *)"", 1);
	}
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out->version, sizeof(out->version), "tpl-%s", hex);
}

struct values {
	const lb_secret_spec *sp;
	lb_render_lookup fn;
	void *ctx;
	lb_secbuf *owned[LB_TEMPLATE_MAX_SOURCES];
};

static const lb_secbuf *value_of(void *ctx, size_t i, lb_err *e)
{
	struct values *v = ctx;
	const lb_source *src = lb_template_source(v->sp->tmpl, i);
	const lb_fetch_result *r;
	char name[1024];

	if (i >= LB_TEMPLATE_MAX_SOURCES || !src)
		return NULL;
	if (v->owned[i])
		return v->owned[i];
	r = v->fn(v->ctx, src);
	if (!r || r->status || !r->value) {
		source_name(src, name, sizeof(name));
		lb_fail(e, 0, "%s: no value to render", name);
		return NULL;
	}
	if (!r->structured && !src->field[0])
		return r->value;
	if (lb_store_select_field(r, src, &v->owned[i], e))
		return NULL;
	return v->owned[i];
}

int lb_render_value(const lb_secret_spec *sp, lb_render_lookup fn, void *ctx, lb_secbuf **out,
		    lb_err *e)
{
	struct values v = {.sp = sp, .fn = fn, .ctx = ctx};
	int rc = lb_template_render(sp->tmpl, value_of, &v, out, e);

	for (size_t i = 0; i < LB_TEMPLATE_MAX_SOURCES; i++)
		lb_secbuf_free(v.owned[i]);
	return rc;
}
