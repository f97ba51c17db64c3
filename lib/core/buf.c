/* buf.c — growable byte buffer. */
#include "core/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void obs_buf_init(struct obs_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void obs_buf_release(struct obs_buf *b)
{
	if (!b)
		return;
	free(b->data);
	obs_buf_init(b);
}

int obs_buf_reserve(struct obs_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	if (need < b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int obs_buf_append(struct obs_buf *b, const void *p, size_t n)
{
	int rc = obs_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int obs_buf_putc(struct obs_buf *b, char c)
{
	return obs_buf_append(b, &c, 1);
}

int obs_buf_puts(struct obs_buf *b, const char *s)
{
	return obs_buf_append(b, s, strlen(s));
}

int obs_buf_printf(struct obs_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof tmp)
		return obs_buf_append(b, tmp, (size_t)n);
	int rc = obs_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *obs_buf_detach(struct obs_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	obs_buf_init(b);
	return p;
}
