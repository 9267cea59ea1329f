#include "state.h"
#include "fsutil.h"

#include <string.h>

int lb_state_save(int state_dirfd, lb_target *const *targets, size_t n, lb_err *e)
{
	_cleanup_json_ json_t *root = json_pack("{s:i,s:{}}", "version", 1, "targets");
	json_t *all = json_object_get(root, "targets");
	char *text;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const lb_target *t = targets[i];
		json_object_set_new(all, t->name,
				    json_pack("{s:I,s:I,s:I,s:O?}", "generation",
					      (json_int_t)t->generation, "uid", (json_int_t)t->uid,
					      "gid", (json_int_t)t->gid, "secrets", t->current));
	}
	text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return lb_fail(e, ENOMEM, "out of memory");
	rc = lb_write_cache_at(state_dirfd, "targets.json", text, strlen(text), 0600, e);
	lb_json_free(text);
	return rc;
}
