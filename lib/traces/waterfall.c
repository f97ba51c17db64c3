/* waterfall.c — trace summaries, the text waterfall and search lines
 * (libobs traces). See waterfall.h for the layout. */
#include "traces/waterfall.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void obs_trace_summarize(const struct obs_span *sp, size_t n, struct obs_trace_summary *s)
{
	memset(s, 0, sizeof *s);
	if (!n)
		return;
	memcpy(s->trace_id, sp[0].trace_id, 16);
	s->start_ns = INT64_MAX;
	s->end_ns = INT64_MIN;
	const struct obs_span *root = NULL;
	for (size_t i = 0; i < n; i++) {
		if (sp[i].start_ns < s->start_ns)
			s->start_ns = sp[i].start_ns;
		if (sp[i].end_ns > s->end_ns)
			s->end_ns = sp[i].end_ns;
		s->nerrors += sp[i].status == OBS_STATUS_ERROR;
		if (obs_span_is_root(&sp[i]) && (!root || !obs_span_is_root(root) || sp[i].start_ns < root->start_ns))
			root = &sp[i];
		else if (!root || (!obs_span_is_root(root) && sp[i].start_ns < root->start_ns))
			root = &sp[i];
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = sp[j].service.n == sp[i].service.n && !memcmp(sp[j].service.p, sp[i].service.p, sp[i].service.n);
		s->nservices += !seen;
	}
	s->nspans = (uint32_t)n;
	s->root_service = root->service;
	s->root_name = root->name;
}

size_t obs_spans_decode(const uint8_t *const *blobs, const uint32_t *lens, size_t n, struct obs_span *sp)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!obs_span_decode(blobs[i], lens[i], &sp[k]))
			k++;
	return k;
}

static int trim(char *b, int n)
{
	if (!strchr(b, '.'))
		return n;
	while (n && b[n - 1] == '0')
		b[--n] = 0;
	if (n && b[n - 1] == '.')
		b[--n] = 0;
	return n;
}

int obs_dur_ns_format(int64_t ns, char *buf)
{
	int n;
	if (ns < 1000)
		return snprintf(buf, 32, "%" PRId64 "ns", ns);
	if (ns < 1000000) {
		n = snprintf(buf, 32, "%.1f", (double)ns / 1e3);
		n = trim(buf, n);
		return n + snprintf(buf + n, 32 - (size_t)n, "us");
	}
	if (ns < 1000000000) {
		n = snprintf(buf, 32, "%.2f", (double)ns / 1e6);
		n = trim(buf, n);
		return n + snprintf(buf + n, 32 - (size_t)n, "ms");
	}
	if (ns < 60000000000LL) {
		n = snprintf(buf, 32, "%.2f", (double)ns / 1e9);
		n = trim(buf, n);
		return n + snprintf(buf + n, 32 - (size_t)n, "s");
	}
	return obs_duration_format(ns / 1000000, buf);
}

struct node { size_t span; size_t first_child, next_sibling; int depth; };
#define NONE ((size_t)-1)

static int by_start(const struct obs_span *sp, size_t a, size_t b)
{
	if (sp[a].start_ns != sp[b].start_ns)
		return sp[a].start_ns < sp[b].start_ns ? -1 : 1;
	return memcmp(sp[a].span_id, sp[b].span_id, 8);
}

static _Thread_local const struct obs_span *t_sp;
static int idx_cmp(const void *x, const void *y)
{
	return by_start(t_sp, *(const size_t *)x, *(const size_t *)y);
}

/* Tree order: out[] gets span indexes, depth[] their depths. */
static int tree_order(const struct obs_span *sp, size_t n, size_t *out, int *depth)
{
	size_t *ord = malloc(n * sizeof *ord), *parent = malloc(n * sizeof *parent);
	size_t *stack = malloc(n * sizeof *stack);
	unsigned char *done = calloc(n, 1);
	int rc = 0;
	if (!ord || !parent || !stack || !done) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	t_sp = sp;
	qsort(ord, n, sizeof *ord, idx_cmp);
	/* parent index of each span (NONE when absent) */
	for (size_t i = 0; i < n; i++) {
		parent[i] = NONE;
		if (obs_span_is_root(&sp[i]))
			continue;
		for (size_t j = 0; j < n; j++)
			if (j != i && !memcmp(sp[j].span_id, sp[i].parent_id, 8)) {
				parent[i] = j;
				break;
			}
	}
	size_t k = 0;
	/* roots (and orphans) in start order, each followed by its subtree */
	for (int pass = 0; pass < 2; pass++)
		for (size_t r = 0; r < n; r++) {
			size_t ri = ord[r];
			if (done[ri] || (pass == 0 && parent[ri] != NONE))
				continue;
			size_t sn = 0;
			stack[sn++] = ri;
			depth[ri] = 0;
			while (sn) {
				size_t cur = stack[--sn];
				if (done[cur])
					continue;
				done[cur] = 1;
				out[k++] = cur;
				/* push children in reverse start order so the earliest pops first */
				for (size_t c = n; c-- > 0;) {
					size_t ci = ord[c];
					if (parent[ci] == cur && !done[ci]) {
						depth[ci] = depth[cur] + 1;
						stack[sn++] = ci;
					}
				}
			}
		}
out:
	free(ord);
	free(parent);
	free(stack);
	free(done);
	return rc;
}

int obs_waterfall(const struct obs_span *sp, size_t n, int width, enum obs_time_fmt tf, struct obs_buf *out)
{
	if (width <= 0)
		width = 40;
	if (width > 400)
		width = 400;
	struct obs_trace_summary s;
	obs_trace_summarize(sp, n, &s);
	if (!n)
		return 0;
	size_t *ord = malloc(n * sizeof *ord);
	int *depth = malloc(n * sizeof *depth);
	int rc = ord && depth ? tree_order(sp, n, ord, depth) : -ENOMEM;
	char id[33], ts[40], d[40], o[40];
	obs_hex(s.trace_id, 16, id);
	obs_time_format(s.start_ns / 1000000, tf, ts);
	int64_t total = s.end_ns - s.start_ns;
	obs_dur_ns_format(total, d);
	if (!rc)
		rc = obs_buf_printf(out, "%s %s %s %u span%s, %u error%s\n", id, ts, d, s.nspans, s.nspans == 1 ? "" : "s",
				    s.nerrors, s.nerrors == 1 ? "" : "s");
	size_t namew = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		size_t w = 2 * (size_t)depth[i] + sp[i].service.n + 1 + sp[i].name.n;
		if (w > namew)
			namew = w;
	}
	char bar[404];
	for (size_t k = 0; !rc && k < n; k++) {
		const struct obs_span *x = &sp[ord[k]];
		int err = x->status == OBS_STATUS_ERROR;
		obs_dur_ns_format(x->start_ns - s.start_ns, o);
		obs_dur_ns_format(x->end_ns - x->start_ns, d);
		int a = 0, b = width;
		if (total > 0) {
			a = (int)((double)(x->start_ns - s.start_ns) * width / (double)total);
			b = (int)(((double)(x->end_ns - s.start_ns) * width + (double)total - 1) / (double)total);
		}
		if (a >= width)
			a = width - 1;
		if (b <= a)
			b = a + 1;
		if (b > width)
			b = width;
		for (int c = 0; c < width; c++)
			bar[c] = c >= a && c < b ? (err ? '!' : '#') : '.';
		bar[width] = 0;
		size_t w = 2 * (size_t)depth[ord[k]] + x->service.n + 1 + x->name.n;
		rc = obs_buf_printf(out, "%9s %9s %c %*s%.*s %.*s%*s |%s|", o, d, err ? '!' : ' ', 2 * depth[ord[k]], "",
				    (int)x->service.n, x->service.p, (int)x->name.n, x->name.p, (int)(namew - w), "", bar);
		if (!rc && err && x->status_msg.n)
			rc = obs_buf_printf(out, " %.*s", (int)x->status_msg.n, x->status_msg.p);
		if (!rc)
			rc = obs_buf_putc(out, '\n');
	}
	free(ord);
	free(depth);
	return rc;
}

static int put_escaped(struct obs_buf *b, struct obs_str s)
{
	int rc = 0;
	if (!s.n)
		return obs_buf_putc(b, '-');
	for (size_t i = 0; i < s.n && !rc; i++) {
		char c = s.p[i];
		if (c == ' ')
			rc = obs_buf_puts(b, "%20");
		else if (c == '%')
			rc = obs_buf_puts(b, "%25");
		else if ((unsigned char)c < 0x20)
			rc = obs_buf_printf(b, "%%%02X", (unsigned char)c);
		else
			rc = obs_buf_putc(b, c);
	}
	return rc;
}

int obs_trace_summary_line(const struct obs_trace_summary *s, enum obs_time_fmt tf, struct obs_buf *out)
{
	char id[33], ts[40], d[40];
	obs_hex(s->trace_id, 16, id);
	obs_time_format(s->start_ns / 1000000, tf, ts);
	obs_dur_ns_format(s->end_ns - s->start_ns, d);
	size_t old = out->len;
	int rc = obs_buf_printf(out, "%s %s ", id, ts) || put_escaped(out, s->root_service) || obs_buf_putc(out, ' ') ||
		 put_escaped(out, s->root_name) ||
		 obs_buf_printf(out, " %s %u %s\n", d, s->nspans, s->nerrors ? "error" : "ok");
	if (rc) {
		out->len = old;
		return -ENOMEM;
	}
	return 0;
}
