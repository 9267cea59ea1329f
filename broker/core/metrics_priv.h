/* What the metrics registry (metrics.c) shows its text writer (metrics_text.c) and no one
 * else: the series behind an lb_metrics. Only metrics.c writes them. */
#ifndef LB_METRICS_PRIV_H
#define LB_METRICS_PRIV_H

#include "metrics.h"

#include <stdint.h>

struct series {
	char *labels[LB_METRICS_LABELS_MAX];
	double v;			      /* counter, gauge; histogram: sum */
	uint64_t count;			      /* histogram */
	uint64_t bucket[LB_METRICS_NBUCKETS]; /* histogram: per bucket, not cumulative */
};

struct family {
	struct series *s;
	size_t n, cap;
};

struct lb_metrics {
	struct family f[LB_M_COUNT];
};

/* The upper bounds of the histogram buckets (LB_METRICS_BUCKETS). */
extern const double lb_metrics_bucket_bounds[LB_METRICS_NBUCKETS];
/* How many labels a family's series carry. */
size_t lb_metrics_nlabels(enum lb_metric_id id);

#endif
