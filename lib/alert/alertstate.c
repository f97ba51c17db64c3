/* alertstate.c — alert state persistence.
 *
 * On-disk format (DATADIR/alerts/state), text, UTF-8, one record a line:
 *
 *   obsfs-alert-state 1
 *   A<TAB>FILE<TAB>GROUP<TAB>RULE<TAB>STATE<TAB>ACTIVE_AT<TAB>FIRED_AT<TAB>
 *     RESOLVED_AT<TAB>KEEP_FIRING_SINCE<TAB>LAST_SENT_AT<TAB>VALID_UNTIL<TAB>
 *     VALUE<TAB>LABELS<TAB>ANNOTATIONS
 *   ...
 *   end<TAB>COUNT<TAB>CRC
 *
 * STATE is inactive|pending|firing; times are decimal Unix milliseconds (0
 * = unset); VALUE is a float in Prometheus text ("NaN", "+Inf"); LABELS
 * and ANNOTATIONS are canonical label text ({a="x"}, "{}" for none). Every
 * field escapes backslash, tab and newline as \\ \t \n. CRC is the CRC-32C
 * (lower-case hex, 8 digits) of every byte before the "end" line; COUNT the
 * number of A lines.
 *
 * Validity: the header, every line well formed, the trailer last with the
 * right count and checksum. Writes are atomic (temp, fsync, rename, fsync
 * the directory), so a crash leaves the old or the new file; a file that
 * fails validation (disk corruption, a foreign file) is not used at all:
 * the daemon starts without saved alerts, which re-pends them, and says so. */
#include "alert/alertstate.h"
#include "core/crc32c.h"
#include "core/fileio.h"
#include "core/num.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER "obsfs-alert-state 1\n"

static int put_esc(struct obs_buf *b, const char *s)
{
	int r = 0;
	for (; *s && !r; s++) {
		if (*s == '\\')
			r = obs_buf_puts(b, "\\\\");
		else if (*s == '\t')
			r = obs_buf_puts(b, "\\t");
		else if (*s == '\n')
			r = obs_buf_puts(b, "\\n");
		else
			r = obs_buf_putc(b, *s);
	}
	return r;
}

struct enc {
	struct obs_buf *out;
	size_t n;
};

static int enc_one(void *ctx, const char *file, const char *group, const struct obs_alert *a)
{
	struct enc *x = ctx;
	struct obs_buf *b = x->out;
	char vb[32];
	obs_num_format(a->value, vb);
	struct obs_buf lt;
	obs_buf_init(&lt);
	int r = obs_buf_puts(b, "A\t");
	r = r ? r : put_esc(b, file);
	r = r ? r : obs_buf_putc(b, '\t');
	r = r ? r : put_esc(b, group);
	r = r ? r : obs_buf_putc(b, '\t');
	r = r ? r : put_esc(b, a->rule ? a->rule : "");
	r = r ? r : obs_buf_printf(b, "\t%s\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%s\t", obs_alert_state_name(a->state),
				   (long long)a->active_at, (long long)a->fired_at, (long long)a->resolved_at,
				   (long long)a->keep_firing_since, (long long)a->last_sent_at, (long long)a->valid_until, vb);
	if (!r)
		r = a->labels.n ? obs_labels_format(&a->labels, &lt) : obs_buf_puts(&lt, "{}");
	r = r ? r : put_esc(b, lt.data);
	r = r ? r : obs_buf_putc(b, '\t');
	if (!r) {
		obs_buf_reset(&lt);
		r = a->annotations.n ? obs_labels_format(&a->annotations, &lt) : obs_buf_puts(&lt, "{}");
	}
	r = r ? r : put_esc(b, lt.data);
	r = r ? r : obs_buf_putc(b, '\n');
	obs_buf_release(&lt);
	x->n++;
	return r;
}

int obs_alertstate_encode(struct obs_ruleeval *e, struct obs_buf *out)
{
	struct enc x = { out, 0 };
	size_t mark = out->len;
	int r = obs_buf_puts(out, HEADER);
	if (!r)
		r = obs_ruleeval_each_alert(e, enc_one, &x);
	if (!r) {
		uint32_t crc = obs_crc32c(0, out->data + mark, out->len - mark);
		r = obs_buf_printf(out, "end\t%zu\t%08x\n", x.n, crc);
	}
	return r;
}

int obs_alert_write_atomic(const char *path, const void *data, size_t n)
{
	return obs_write_file_atomic(path, data, n, "alert.state");
}

int obs_alertstate_save(struct obs_ruleeval *e, const char *path)
{
	struct obs_buf b;
	obs_buf_init(&b);
	int r = obs_alertstate_encode(e, &b);
	if (!r)
		r = obs_alert_write_atomic(path, b.data, b.len);
	obs_buf_release(&b);
	return r;
}

/* split a line into tab-separated fields, unescaping in place */
static int fields(char *line, char **f, int max)
{
	int n = 0;
	char *w = line, *start = line;
	f[n++] = start;
	for (char *p = line;; p++) {
		if (*p == '\\') {
			p++;
			if (*p == 't')
				*w++ = '\t';
			else if (*p == 'n')
				*w++ = '\n';
			else if (*p == '\\')
				*w++ = '\\';
			else
				return -1;
			continue;
		}
		if (*p == '\t' || !*p) {
			int end = !*p;
			*w++ = 0;
			if (end)
				break;
			if (n == max)
				return -1;
			f[n++] = w;
			continue;
		}
		*w++ = *p;
	}
	return n;
}

static int parse_i64(const char *s, int64_t *v)
{
	char *end;
	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*v = x;
	return 0;
}

int obs_alertstate_decode(const char *text, size_t n,
			  int (*fn)(void *ctx, const char *file, const char *group, const struct obs_alert *a), void *ctx)
{
	size_t hl = strlen(HEADER);
	if (n < hl || memcmp(text, HEADER, hl))
		return -EBADMSG;
	/* the trailer: the last line */
	if (!n || text[n - 1] != '\n')
		return -EBADMSG;
	const char *last = text + n - 1;
	while (last > text && last[-1] != '\n')
		last--;
	if (last < text + hl || (size_t)(text + n - last) < 4 || memcmp(last, "end\t", 4))
		return -EBADMSG;   /* (the buffer is not NUL-terminated: no strncmp) */
	char trailer[64];
	size_t tl = (size_t)(text + n - last);
	if (tl >= sizeof trailer)
		return -EBADMSG;
	memcpy(trailer, last, tl);
	trailer[tl - 1] = 0;
	char *tf[4];
	if (fields(trailer, tf, 4) != 3)
		return -EBADMSG;
	int64_t count;
	if (parse_i64(tf[1], &count) < 0 || strlen(tf[2]) != 8)
		return -EBADMSG;
	uint32_t crc = (uint32_t)strtoul(tf[2], NULL, 16);
	if (obs_crc32c(0, text, (size_t)(last - text)) != crc)
		return -EBADMSG;
	/* validate every line first, then deliver: all or nothing */
	for (int pass = 0; pass < 2; pass++) {
		int64_t seen = 0;
		const char *p = text + hl;
		while (p < last) {
			const char *nl = memchr(p, '\n', (size_t)(last - p));
			if (!nl)
				return -EBADMSG;
			size_t ll = (size_t)(nl - p);
			char *line = malloc(ll + 1);
			if (!line)
				return -ENOMEM;
			memcpy(line, p, ll);
			line[ll] = 0;
			p = nl + 1;
			char *f[15];
			int nf = fields(line, f, 15);
			struct obs_alert a;
			memset(&a, 0, sizeof a);
			int bad = nf != 14 || strcmp(f[0], "A");
			if (!bad) {
				a.state = !strcmp(f[4], "firing") ? OBS_ALERT_FIRING :
					  !strcmp(f[4], "pending") ? OBS_ALERT_PENDING :
					  !strcmp(f[4], "inactive") ? OBS_ALERT_INACTIVE : (enum obs_alert_state)-1;
				bad = (int)a.state < 0 || parse_i64(f[5], &a.active_at) || parse_i64(f[6], &a.fired_at) ||
				      parse_i64(f[7], &a.resolved_at) || parse_i64(f[8], &a.keep_firing_since) ||
				      parse_i64(f[9], &a.last_sent_at) || parse_i64(f[10], &a.valid_until) ||
				      obs_num_parse(f[11], strlen(f[11]), &a.value) < 0;
			}
			const char *why;
			if (!bad)
				bad = obs_labels_parse(f[12], strlen(f[12]), &a.labels, &why) < 0;
			if (!bad && strcmp(f[13], "{}"))
				bad = obs_labels_parse(f[13], strlen(f[13]), &a.annotations, &why) < 0;
			int r = 0;
			if (!bad && pass == 1 && fn) {
				a.rule = f[3];
				a.fp = obs_alert_fingerprint(&a.labels);
				r = fn(ctx, f[1], f[2], &a);
			}
			obs_labels_release(&a.labels);
			obs_labels_release(&a.annotations);
			free(line);
			if (bad)
				return -EBADMSG;
			if (r < 0)
				return r;
			seen++;
		}
		if (seen != count)
			return -EBADMSG;
	}
	return 0;
}

struct load_ctx {
	struct obs_ruleeval *e;
	size_t n;
};

static int load_one(void *ctx, const char *file, const char *group, const struct obs_alert *a)
{
	struct load_ctx *l = ctx;
	int r = obs_ruleeval_restore(l->e, file, group, a);
	if (!r)
		l->n++;
	return r;
}

int obs_alertstate_load(struct obs_ruleeval *e, const char *path, size_t *n)
{
	if (n)
		*n = 0;
	char *buf;
	size_t got;
	int rc = obs_read_file(path, 0, &buf, &got);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	/* decode validates the whole file before the first delivery */
	struct load_ctx l = { e, 0 };
	int r = obs_alertstate_decode(buf, got, load_one, &l);
	if (n)
		*n = l.n;
	free(buf);
	return r;
}
