/* Scope-bound cleanup (crun style): early returns never leak. */
#ifndef LB_CLEANUP_H
#define LB_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>
#include <jansson.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void lb_freep(void *p)
{
	free(*(void **)p);
}
static inline void lb_closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void lb_fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f); /* read streams; writers check fclose themselves */
}
static inline void lb_closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}
static inline void lb_json_decrefp(json_t **j)
{
	json_decref(*j);
}

#define _cleanup_free_	 _cleanup_(lb_freep)
#define _cleanup_close_	 _cleanup_(lb_closep)
#define _cleanup_fclose_ _cleanup_(lb_fclosep)
#define _cleanup_dir_	 _cleanup_(lb_closedirp)
#define _cleanup_json_	 _cleanup_(lb_json_decrefp)

static inline void *lb_steal_ptr(void *pp)
{
	void **p = pp, *v = *p;
	*p = NULL;
	return v;
}
static inline int lb_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}
#define steal_ptr(p) lb_steal_ptr(&(p))
#define steal_fd(f)  lb_steal_fd(&(f))

#endif
