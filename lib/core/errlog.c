/* errlog.c — ring of recent rejections. */
#include "core/errlog.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/obstime.h"
#include "core/utf8.h"

struct entry {
	int64_t t;
	size_t lineno;
	char source[96];
	char why[96];
	char line[OBS_ERRLOG_LINE_MAX];
	size_t len, orig_len;
};

struct obs_errlog {
	pthread_mutex_t mu;   /* protects everything below */
	struct entry *ring;
	size_t cap, head, n;
	uint64_t total;
};

struct obs_errlog *obs_errlog_new(size_t capacity)
{
	struct obs_errlog *e = calloc(1, sizeof *e);
	if (!e)
		return NULL;
	e->ring = calloc(capacity ? capacity : 1, sizeof *e->ring);
	if (!e->ring) {
		free(e);
		return NULL;
	}
	e->cap = capacity ? capacity : 1;
	pthread_mutex_init(&e->mu, NULL);
	return e;
}

void obs_errlog_free(struct obs_errlog *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->mu);
	free(e->ring);
	free(e);
}

static void copy_str(char *dst, size_t room, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= room)
		n = room - 1;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

void obs_errlog_add(struct obs_errlog *e, int64_t now_ms, const char *source, size_t lineno,
		    const char *line, size_t len, const char *why)
{
	pthread_mutex_lock(&e->mu);
	struct entry *x = &e->ring[(e->head + e->n) % e->cap];
	if (e->n == e->cap)
		e->head = (e->head + 1) % e->cap;
	else
		e->n++;
	x->t = now_ms;
	x->lineno = lineno;
	copy_str(x->source, sizeof x->source, source);
	copy_str(x->why, sizeof x->why, why);
	x->orig_len = len;
	x->len = len < sizeof x->line ? len : sizeof x->line;
	if (x->len)
		memcpy(x->line, line, x->len);
	e->total++;
	pthread_mutex_unlock(&e->mu);
}


int obs_errlog_render(struct obs_errlog *e, struct obs_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->n && !rc; i++) {
		const struct entry *x = &e->ring[(e->head + i) % e->cap];
		char tb[40];
		obs_time_format(x->t, OBS_TIME_RFC3339, tb);
		if (x->lineno)
			rc = obs_buf_printf(out, "%s %s:%zu: %s", tb, x->source, x->lineno, x->why);
		else
			rc = obs_buf_printf(out, "%s %s: %s", tb, x->source, x->why);
		if (!rc && (x->len || x->orig_len))   /* no line (a whole file refused): no ": " */
			rc = obs_buf_append(out, ": ", 2);
		for (size_t k = 0; k < x->len && !rc;) {
			unsigned char c = (unsigned char)x->line[k];
			size_t u = c >= 0x80 ? (size_t)obs_utf8_seq(x->line + k, x->line + x->len) : 0;
			if (u) {   /* a whole valid UTF-8 sequence is shown as is */
				rc = obs_buf_append(out, x->line + k, u);
				k += u;
				continue;
			}
			if (c == '\\')
				rc = obs_buf_append(out, "\\\\", 2);
			else if (c < 0x20 || c >= 0x7f)
				rc = obs_buf_printf(out, "\\x%02x", c);
			else
				rc = obs_buf_putc(out, (char)c);
			k++;
		}
		if (!rc && x->orig_len > x->len)
			rc = obs_buf_printf(out, "... (%zu bytes)", x->orig_len);
		if (!rc)
			rc = obs_buf_putc(out, '\n');
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

uint64_t obs_errlog_total(struct obs_errlog *e)
{
	pthread_mutex_lock(&e->mu);
	uint64_t t = e->total;
	pthread_mutex_unlock(&e->mu);
	return t;
}
