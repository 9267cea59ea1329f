#include "state.h"
#include "fsutil.h"
#include "jsonw.h"

#include <string.h>

/* Written by hand (no jansson tree of every target): it is saved after every batch, and with
 * 1,000s of targets the tree and its dump cost more than the rotation's file work. Same text
 * as before, one line per target. */
int lb_state_save(int state_dirfd, lb_target *const *targets, size_t n, lb_err *e)
{
	lb_jsonw w = {0};
	int rc;

	lb_jsonw_raw(&w, "{\"targets\":{");
	for (size_t i = 0; i < n; i++) {
		const lb_target *t = targets[i];
		lb_jsonw_raw(&w, i ? ",\n " : "\n ");
		lb_jsonw_str(&w, t->name);
		lb_jsonw_raw(&w, ":{\"generation\":");
		lb_jsonw_int(&w, (int64_t)t->generation);
		lb_jsonw_raw(&w, ",\"gid\":");
		lb_jsonw_int(&w, t->gid);
		lb_jsonw_raw(&w, ",\"secrets\":{");
		for (size_t k = 0; k < t->nheld; k++) {
			const lb_held *h = &t->held[k];
			lb_jsonw_raw(&w, k ? "," : "");
			lb_jsonw_str(&w, h->name);
			lb_jsonw_raw(&w, ":{\"mode\":");
			lb_jsonw_int(&w, h->mode);
			if (h->not_after) {
				lb_jsonw_raw(&w, ",\"not_after\":");
				lb_jsonw_int(&w, h->not_after);
			}
			lb_jsonw_raw(&w, ",\"source\":");
			lb_jsonw_str(&w, h->source);
			lb_jsonw_raw(&w, ",\"version\":");
			lb_jsonw_str(&w, h->version);
			lb_jsonw_raw(&w, "}");
		}
		lb_jsonw_raw(&w, "},\"uid\":");
		lb_jsonw_int(&w, t->uid);
		lb_jsonw_raw(&w, "}");
	}
	lb_jsonw_raw(&w, "\n},\"version\":1}\n");
	if (w.oom) {
		lb_jsonw_free(&w);
		return lb_fail(e, ENOMEM, "out of memory");
	}
	rc = lb_write_cache_at(state_dirfd, "targets.json", w.buf, w.len, 0600, e);
	lb_jsonw_free(&w);
	return rc;
}
