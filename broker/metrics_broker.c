/* The broker's gauges of the present, set at every scrape: build, process (RSS, fds, start
 * time), stores (health, backoff), targets and containers, each target's generation age
 * and earliest expiry. Docker targets are summed up per binding (target="docker": the
 * oldest generation, the earliest expiry) unless "metrics.container_ids" is on, then per
 * container (its short id): container ids are unbounded, so they are opt-in. */
#include "broker_priv.h"
#include "cleanup.h"
#include "layout.h"
#include "metrics.h"
#include "metrics_http.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void process_gauges(lb_metrics *m, lb_broker *b)
{
	_cleanup_close_ int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	_cleanup_dir_ DIR *d = opendir("/proc/self/fd");
	char statm[128];
	ssize_t n = fd >= 0 ? read(fd, statm, sizeof(statm) - 1) : -1;
	struct dirent *de;
	double fds = 0;

	lb_metrics_set(m, LB_M_BUILD_INFO, 1, LB_MLABELS(LOCKBOX_VERSION));
	lb_metrics_set(m, LB_M_START_TIME, (double)b->started, LB_MLABELS(NULL));
	if (n > 0) {
		/* "SIZE RESIDENT ...", in pages */
		char *end;
		unsigned long long rss;
		statm[n] = '\0';
		rss = strtoull(strchr(statm, ' ') ? strchr(statm, ' ') : statm, &end, 10);
		lb_metrics_set(m, LB_M_RSS, (double)rss * (double)sysconf(_SC_PAGESIZE),
			       LB_MLABELS(NULL));
	}
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			fds++;
	if (d)
		lb_metrics_set(m, LB_M_OPEN_FDS, fds - 1, LB_MLABELS(NULL)); /* not d's own */
}

static void store_gauges(lb_metrics *m, lb_broker *b)
{
	for (size_t i = 0; b->stores && i < b->cfg->nstores; i++) {
		_cleanup_json_ json_t *h = lb_store_health(b->stores[i]);
		const char *health = json_string_value(json_object_get(h, "health"));
		json_int_t wait = json_integer_value(json_object_get(h, "backoff_ms"));
		const char *name = b->cfg->stores[i].name;

		lb_metrics_set(m, LB_M_STORE_UP, health && strcmp(health, "ok") == 0,
			       LB_MLABELS(name, b->cfg->stores[i].type));
		lb_metrics_set(m, LB_M_STORE_BACKOFF_SECONDS, (double)wait / 1000.0,
			       LB_MLABELS(name));
	}
}

static bool container_seen(lb_broker *b, size_t upto, const char *id)
{
	for (size_t i = 0; i < upto; i++)
		if (b->targets[i]->dynamic && strcmp(b->targets[i]->container, id) == 0)
			return true;
	return false;
}

/* ..data is swapped in when a generation is published: its time is the generation's (also
 * for a generation found at start). */
bool broker_generation_time(const lb_target *t, struct timespec *ts)
{
	struct stat st;

	if (!t->generation || fstatat(t->dirfd, LB_DATA_LINK, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	*ts = st.st_mtim;
	return true;
}

static void target_gauges(lb_metrics *m, lb_broker *b)
{
	double nstatic = 0, ndocker = 0, ncontainers = 0;
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < b->ntargets; i++) {
		const lb_target *t = b->targets[i];
		const lb_binding *bd = broker_binding_of(b, t->name);
		char who[16];
		const char *label = t->name;
		int64_t soonest = 0;
		struct timespec at;

		if (t->dynamic) {
			ndocker++;
			if (t->container[0] && !container_seen(b, i, t->container))
				ncontainers++;
			snprintf(who, sizeof(who), "%.12s",
				 b->cfg->metrics_container_ids && t->container[0] ? t->container
										  : "docker");
			label = who;
		} else {
			nstatic++;
		}
		if (!t->generation || !bd)
			continue;
		if (broker_generation_time(t, &at))
			lb_metrics_gauge_max(m, LB_M_GENERATION_AGE_SECONDS,
					     (double)(now.tv_sec - at.tv_sec) +
						 (double)(now.tv_nsec - at.tv_nsec) / 1e9,
					     LB_MLABELS(bd->name, label));
		for (size_t j = 0; j < t->nheld; j++)
			if (t->held[j].not_after && (!soonest || t->held[j].not_after < soonest))
				soonest = t->held[j].not_after;
		if (soonest)
			lb_metrics_gauge_min(m, LB_M_SECRET_EXPIRY_TIMESTAMP, (double)soonest,
					     LB_MLABELS(bd->name, label));
	}
	lb_metrics_set(m, LB_M_TARGETS, nstatic, LB_MLABELS("static"));
	lb_metrics_set(m, LB_M_TARGETS, ndocker, LB_MLABELS("docker"));
	lb_metrics_set(m, LB_M_CONTAINERS, ncontainers, LB_MLABELS(NULL));
}

static void on_scrape(lb_metrics *m, void *ctx)
{
	static const enum lb_metric_id present[] = {
	    LB_M_BUILD_INFO,
	    LB_M_START_TIME,
	    LB_M_RSS,
	    LB_M_OPEN_FDS,
	    LB_M_STORE_UP,
	    LB_M_STORE_BACKOFF_SECONDS,
	    LB_M_TARGETS,
	    LB_M_CONTAINERS,
	    LB_M_GENERATION_AGE_SECONDS,
	    LB_M_SECRET_EXPIRY_TIMESTAMP,
	};
	lb_broker *b = ctx;

	for (size_t i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		lb_metrics_clear(m, present[i]);
	process_gauges(m, b);
	store_gauges(m, b);
	target_gauges(m, b);
}

int broker_metrics_start(lb_broker *b, lb_err *e)
{
	if (lb_metrics_on_scrape(on_scrape, b) < 0)
		return lb_fail(e, 0, "too many metrics hooks");
	b->metrics =
	    lb_metrics_http_new(b->loop, b->run_dirfd, b->cfg->run_dir, b->cfg->metrics_listen, e);
	return b->metrics ? 0 : -1;
}

void broker_metrics_stop(lb_broker *b)
{
	lb_metrics_off_scrape(on_scrape, b);
	lb_metrics_http_free(b->metrics);
	b->metrics = NULL;
}
