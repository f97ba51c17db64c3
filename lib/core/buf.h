/* buf.h — growable byte buffer (libobs core).
 *
 * struct obs_buf is embedded by value: obs_buf_init() / obs_buf_release().
 * Appends return 0 or -ENOMEM; on failure the buffer is left unmodified. */
#ifndef OBS_CORE_BUF_H
#define OBS_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct obs_buf {
	char *data;   /* always NUL-terminated when cap > 0 */
	size_t len;
	size_t cap;
};

void obs_buf_init(struct obs_buf *b);
void obs_buf_release(struct obs_buf *b);          /* frees storage; accepts a zeroed buf */
int obs_buf_reserve(struct obs_buf *b, size_t extra); /* room for len+extra+1 bytes */
int obs_buf_append(struct obs_buf *b, const void *p, size_t n);
int obs_buf_putc(struct obs_buf *b, char c);
int obs_buf_puts(struct obs_buf *b, const char *s);
int obs_buf_printf(struct obs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void obs_buf_reset(struct obs_buf *b) { b->len = 0; if (b->cap) b->data[0] = 0; }
/* Hand the storage to the caller (who frees it); the buffer becomes empty. */
char *obs_buf_detach(struct obs_buf *b, size_t *len);

#endif
