/* corrupt.c — the last corruption detail per thread and the process sink
 * (corrupt.h). */
#include "core/corrupt.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last[OBS_CORRUPT_MAX];
/* the parts of the last detail, for obs_corrupt_in/inside */
static _Thread_local struct {
	int set, has_file;
	uint64_t off;
	char check[OBS_CORRUPT_MAX / 2];
} part;
static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static obs_corrupt_fn sink;      /* sink_mu */
static void *sink_ctx;           /* sink_mu */
static uint64_t total;           /* atomic */

int obs_corrupt(const char *file, uint64_t off, const char *check)
{
	const char *f = file ? file : "(in memory)";
	part.set = 1;
	part.has_file = file != NULL;
	part.off = off;
	snprintf(part.check, sizeof part.check, "%s", check);
	if (off == OBS_CORRUPT_NO_OFFSET)
		snprintf(last, sizeof(last), "corrupt '%s': %s", f, check);
	else
		snprintf(last, sizeof(last), "corrupt '%s' at offset %llu: %s", f, (unsigned long long)off, check);
	if (!file)
		return -EBADMSG;   /* completed (and counted) by obs_corrupt_in/inside */
	__atomic_add_fetch(&total, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&sink_mu);
	if (sink)
		sink(sink_ctx, file, off, check, last);
	pthread_mutex_unlock(&sink_mu);
	return -EBADMSG;
}

int obs_corruptf(const char *file, uint64_t off, const char *fmt, ...)
{
	char check[OBS_CORRUPT_MAX / 2];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(check, sizeof(check), fmt, ap);
	va_end(ap);
	return obs_corrupt(file, off, check);
}

int obs_corrupt_in(const char *file, uint64_t base, const char *what)
{
	char check[OBS_CORRUPT_MAX / 2];
	if (part.set && part.has_file)
		return -EBADMSG;   /* the decoder knew its file and said it all */
	if (!part.set)   /* the decoder recorded nothing */
		snprintf(check, sizeof check, "%s", what ? what : "undecodable data");
	else if (what)
		snprintf(check, sizeof check, "%.100s: %.140s", what, part.check);
	else
		snprintf(check, sizeof check, "%s", part.check);
	uint64_t off = part.set && !part.has_file ? part.off + base : base;
	return obs_corrupt(file, off, check);
}

int obs_corrupt_inside(const char *file, uint64_t base, const char *what)
{
	char check[OBS_CORRUPT_MAX / 2];
	if (!part.set || part.has_file)
		snprintf(check, sizeof check, "%.100s: undecodable data", what ? what : "data");
	else
		snprintf(check, sizeof check, "%.80s, offset %llu of its decoded bytes: %.120s", what ? what : "data",
			 (unsigned long long)part.off, part.check);
	return obs_corrupt(file, base, check);
}

const char *obs_corrupt_last(void)
{
	return last;
}

void obs_corrupt_clear(void)
{
	last[0] = 0;
	part.set = 0;
}

void obs_corrupt_set_sink(obs_corrupt_fn fn, void *ctx)
{
	pthread_mutex_lock(&sink_mu);
	sink = fn;
	sink_ctx = ctx;
	pthread_mutex_unlock(&sink_mu);
}

uint64_t obs_corrupt_count(void)
{
	return __atomic_load_n(&total, __ATOMIC_RELAXED);
}
