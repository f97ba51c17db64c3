/* stream.c — streamed reads: a file's text made piece after piece as its
 * reader gets there (export, series views, log search views), so the
 * daemon's memory stays bounded whatever its length (tree.h, struct
 * fs_stream).
 *
 * o->content holds the window [base, base + len) of the text. A read at
 * off asks the kind for pieces until the window reaches off + size (or the
 * text ends), copies what it has at off, and drops the front it is done
 * with once that passes FS_STREAM_KEEP (a reader going back a little is
 * served from the window). A read before the window starts the text again
 * (rewind); pieces entirely before off are dropped as they are made. Reads
 * are meant to be sequential: a reader that seeks backwards pays for the
 * text up to where it lands again. */
#include "obsfs.h"

#include <string.h>

void fs_stream_attach(struct ofile *o, struct fs_stream *st, int (*more)(struct ofile *, size_t),
		      void (*rewind)(struct ofile *), void (*priv_free)(void *))
{
	st->more = more;
	st->rewind = rewind;
	o->priv = st;
	o->priv_free = priv_free;
}

int fs_stream_read(struct ofile *o, char *buf, size_t size, off_t off)
{
	struct fs_stream *st = o->priv;   /* its first member */
	uint64_t at = (uint64_t)off, want = at + size;
	int rc = 0;
	pthread_mutex_lock(&o->mu);
	if (at < st->base) {
		obs_buf_reset(&o->content);
		st->base = 0;
		st->done = 0;
		st->rewind(o);
	}
	while (!st->done && st->base + o->content.len < want) {
		if ((rc = st->more(o, (size_t)(want - st->base))) < 0)
			break;
		st->done = rc > 0;
		if (st->base + o->content.len <= at) {   /* all before the read */
			st->base += o->content.len;
			obs_buf_reset(&o->content);
		}
	}
	if (rc >= 0) {
		uint64_t end = st->base + o->content.len;
		size_t got = at >= end ? 0 : (size_t)(end - at);
		if (got > size)
			got = size;
		if (got)
			memcpy(buf, o->content.data + (at - st->base), got);
		uint64_t used = at + got > st->base ? at + got - st->base : 0;
		if (used > FS_STREAM_KEEP) {   /* the front, and the NUL after the rest */
			memmove(o->content.data, o->content.data + used, o->content.len - (size_t)used + 1);
			o->content.len -= (size_t)used;
			st->base += used;
		}
		rc = (int)got;
	}
	pthread_mutex_unlock(&o->mu);
	return rc;
}
