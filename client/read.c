/* lockbox_read(): the library face of `lockbox get`, with the same checks (verify.c). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lb.h"

int lockbox_read(const char *dir, const char *name, unsigned flags, void *buf, size_t cap,
		 size_t *len, struct lockbox_error *err)
{
	struct lockbox_error local;
	struct lb_dir d;
	size_t size = 0, got = 0;
	ssize_t n;
	int fd = -1, rc;

	if (!err)
		err = &local;
	err->code = 0;
	err->msg[0] = '\0';
	lb_dir_init(&d);
	if (!dir)
		dir = LB_DEFAULT_DIR;
	if (!name || !len || (!buf && cap)) {
		rc = lb_fail(err, LB_EXIT_USAGE, "argument", dir, NULL,
			     "name and len are required, buf when cap > 0", LB_END);
		goto out;
	}
	*len = 0;
	rc = lb_dir_open(&d, dir, flags, err);
	if (!rc)
		rc = lb_data_open(&d, err);
	if (!rc)
		rc = lb_secret_open(&d, name, &fd, &size, err);
	if (rc)
		goto out;
	if (size > cap) {
		*len = size;
		errno = ERANGE;
		rc = lb_fail(err, LB_EXIT_FAILURE, "size", dir, name, "buffer too small", LB_END);
		goto out;
	}
	while (got < cap) {
		n = read(fd, (char *)buf + got, cap - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = lb_fail(err, LB_EXIT_FAILURE, "read", dir, name, lb_errstr(errno),
				     LB_END);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
out:
	if (rc && buf && cap)
		explicit_bzero(buf, cap);
	if (fd >= 0)
		close(fd);
	lb_dir_close(&d);
	return rc;
}
