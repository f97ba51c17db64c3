/* samples.c — sample arrays and their text rendering. Staleness markers
 * are kept in the arrays and left out of the text. */
#include "tsdb/samples.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/num.h"
#include "core/vec.h"

void obs_samples_init(struct obs_samples *s)
{
	s->t = NULL;
	s->v = NULL;
	s->n = s->cap = 0;
}

void obs_samples_release(struct obs_samples *s)
{
	if (!s)
		return;
	free(s->t);
	free(s->v);
	obs_samples_init(s);
}

int obs_samples_reserve(struct obs_samples *s, size_t extra)
{
	if (extra > SIZE_MAX - s->n)
		return -ENOMEM;
	return OBS_VEC_RESERVE2(s->t, s->v, s->cap, s->n + extra, 256);
}

int obs_samples_push(struct obs_samples *s, int64_t t, double v)
{
	if (s->n == s->cap && obs_samples_reserve(s, 1))
		return -ENOMEM;
	s->t[s->n] = t;
	s->v[s->n++] = v;
	return 0;
}

int obs_sample_render(int64_t t, double v, enum obs_time_fmt fmt, char *buf)
{
	int n = obs_time_format(t, fmt, buf);
	buf[n++] = ' ';
	n += obs_num_format(v, buf + n);
	buf[n++] = '\n';
	return n;
}

size_t obs_sample_text_len(int64_t t, double v, enum obs_time_fmt fmt)
{
	char buf[64];
	if (obs_is_stale(v))
		return 0;   /* not shown (obs_samples_render) */
	/* RFC3339 with milliseconds is 24 bytes for years 0000..9999 */
	if (fmt == OBS_TIME_RFC3339 && t >= -62167219200000LL && t <= 253402300799999LL)
		return 24 + 1 + (size_t)obs_num_format(v, buf) + 1;
	return (size_t)obs_sample_render(t, v, fmt, buf);
}

int obs_samples_render(const struct obs_samples *s, size_t from, enum obs_time_fmt fmt, struct obs_buf *out)
{
	if (from >= s->n)
		return 0;
	if (obs_buf_reserve(out, (s->n - from) * 64))
		return -ENOMEM;
	/* RFC3339 lines of one second share "YYYY-MM-DDTHH:MM:SS.": format the
	 * prefix once per second and only the milliseconds per line. */
	int64_t sec = INT64_MIN;
	char prefix[40];
	int plen = 0;
	for (size_t i = from; i < s->n; i++) {
		char *p = out->data + out->len;
		int64_t t = s->t[i];
		if (obs_is_stale(s->v[i]))
			continue;   /* a series' end is shown by its lines ending */
		if (fmt != OBS_TIME_RFC3339 || t < 0) {
			out->len += (size_t)obs_sample_render(t, s->v[i], fmt, p);
			continue;
		}
		if (t / 1000 != sec) {
			sec = t / 1000;
			plen = obs_time_format(sec * 1000, fmt, prefix) - 4;   /* drop "000Z" */
		}
		memcpy(p, prefix, (size_t)plen);
		int ms = (int)(t % 1000);
		p[plen] = (char)('0' + ms / 100);
		p[plen + 1] = (char)('0' + ms / 10 % 10);
		p[plen + 2] = (char)('0' + ms % 10);
		p[plen + 3] = 'Z';
		p[plen + 4] = ' ';
		int n = plen + 5;
		n += obs_num_format(s->v[i], p + n);
		p[n++] = '\n';
		out->len += (size_t)n;
	}
	out->data[out->len] = 0;
	return 0;
}
