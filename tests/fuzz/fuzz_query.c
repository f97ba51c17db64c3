// sources: lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/func_slide.c lib/query/plan.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c
/* fuzz_query.c — libFuzzer harness for the PromQL parser (and, for what it
 * accepts, the evaluator over a small in-memory store). Invariants: a
 * rejected input gives -EINVAL with a "LINE:COL: " message and no tree;
 * an accepted one prints to text that parses again to the same text; the
 * evaluation returns 0 or a known error with a message, never crashes;
 * log_count_over_time() gets a fake log_count hook (streams "app" and
 * "web") whose inputs are checked: a stream without '@'/'#', a positive
 * range, one count per step. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query.h"

static struct obs_query_mem *mem;

static void load(void)
{
	static const char *const series[] = {
		"up{job=\"a\",instance=\"1\"} 1 1 0 1 stale 1",
		"up{job=\"b\",instance=\"1\"} 0 1 1 1 1 1",
		"req_total{job=\"a\",code=\"200\"} 0+10x20",
		"req_total{job=\"a\",code=\"500\"} 0+1x20",
		"lat_bucket{le=\"0.1\"} 0+1x20",
		"lat_bucket{le=\"1\"} 0+3x20",
		"lat_bucket{le=\"+Inf\"} 0+4x20",
		"g NaN -1 Inf 2 _ 3",
	};
	mem = obs_query_mem_new();
	for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++) {
		struct obs_labels l;
		struct obs_query_seqval *v;
		size_t n;
		char err[100];
		if (obs_query_parse_series_desc(series[i], strlen(series[i]), &l, &v, &n, err, sizeof(err)) != 0)
			abort();
		for (size_t k = 0; k < n; k++)
			if (!v[k].omitted)
				obs_query_mem_add(mem, &l, (int64_t)k * 60000, v[k].v);
		obs_labels_release(&l);
		free(v);
	}
}

/* a log store of two streams whose counts depend on the window */
static int fake_log_count(void *lctx, const char *stream, const char *query, int64_t range, const int64_t *at,
			  size_t n, obs_query_logcount_fn emit, void *ectx, char *why, size_t whylen)
{
	static const char *const names[] = { "app", "web" };
	if (!*stream || strpbrk(stream, "@#") || range <= 0 || !n || !at)
		abort();
	if (query[0] == '(') {   /* a bad log query */
		snprintf(why, whylen, "unbalanced '('");
		return -EINVAL;
	}
	uint64_t c[64];
	if (n > 64)
		n = 64;
	for (size_t k = 0; k < 2; k++) {
		if (strcmp(stream, "*") && strcmp(stream, names[k]))
			continue;
		for (size_t i = 0; i < n; i++)
			c[i] = (uint64_t)((at[i] / 60000 + (int64_t)k + (int64_t)strlen(query)) % 4);
		int rc = emit(ectx, names[k], c);
		if (rc)
			return rc;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!mem)
		load();
	if (size > 4096)
		return 0;
	struct obs_query_expr *e = (struct obs_query_expr *)1;
	char err[256] = "";
	int rc = obs_query_parse((const char *)data, size, &e, err, sizeof(err));
	if (rc != 0) {
		int line, col;
		if ((rc != -EINVAL && rc != -ENOMEM) || e != NULL)
			abort();
		if (rc == -EINVAL && sscanf(err, "%d:%d: ", &line, &col) != 2)
			abort();
		return 0;
	}
	struct obs_buf a, b;
	obs_buf_init(&a);
	obs_buf_init(&b);
	if (obs_query_expr_format(e, &a) != 0)
		abort();
	struct obs_query_expr *e2 = NULL;
	if (obs_query_parse(a.data, a.len, &e2, err, sizeof(err)) != 0) {
		fprintf(stderr, "printed '%s' does not parse: %s\n", a.data, err);
		abort();
	}
	obs_query_expr_format(e2, &b);
	if (strcmp(a.data, b.data) != 0) {
		fprintf(stderr, "'%s' reprints as '%s'\n", a.data, b.data);
		abort();
	}
	struct obs_query_store st = obs_query_mem_store(mem);
	if (size & 1) {
		st.log_count = fake_log_count;
		st.lctx = mem;
	}
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	o.max_samples = 200000;
	o.timeout_ms = 2000;
	struct obs_query_result r;
	rc = obs_query_instant(&o, &st, e, 600000, &r);
	if (rc && !r.err[0])
		abort();
	obs_query_result_release(&r);
	if (obs_query_expr_type(e) == OBS_QV_SCALAR || obs_query_expr_type(e) == OBS_QV_VECTOR) {
		rc = obs_query_range(&o, &st, e, 0, 1200000, 120000, &r);
		if (rc && !r.err[0])
			abort();
		obs_query_result_release(&r);
	}
	obs_query_expr_free(e);
	obs_query_expr_free(e2);
	obs_buf_release(&a);
	obs_buf_release(&b);
	return 0;
}
