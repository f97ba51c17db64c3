/* samples.h — growable arrays of (timestamp ms, value) and their text form
 * "TIME VALUE\n", the line format of every series file and every tool. */
#ifndef OBS_TSDB_SAMPLES_H
#define OBS_TSDB_SAMPLES_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/obstime.h"

struct obs_samples {
	int64_t *t;
	double *v;
	size_t n, cap;
};

void obs_samples_init(struct obs_samples *s);
void obs_samples_release(struct obs_samples *s);   /* accepts zeroed */
static inline void obs_samples_reset(struct obs_samples *s) { s->n = 0; }
int obs_samples_reserve(struct obs_samples *s, size_t extra);   /* 0 or -ENOMEM */
int obs_samples_push(struct obs_samples *s, int64_t t, double v);

/* One line "TIME VALUE\n" into buf (>= 64 bytes); returns its length. */
int obs_sample_render(int64_t t, double v, enum obs_time_fmt fmt, char *buf);
/* Length of the line obs_samples_render writes for the sample (0 for a
 * staleness marker), without building the time text when it is fixed. */
size_t obs_sample_text_len(int64_t t, double v, enum obs_time_fmt fmt);
/* Append the lines of samples [from, s->n) to out; staleness markers
 * (obs_is_stale) have no line: a series that went stale shows its end. */
int obs_samples_render(const struct obs_samples *s, size_t from, enum obs_time_fmt fmt, struct obs_buf *out);

#endif
