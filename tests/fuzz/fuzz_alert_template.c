// sources: lib/alert/template.c lib/alert/template_lex.c lib/alert/template_exec.c lib/alert/template_fn.c lib/alert/template_printf.c lib/core/obstime.c lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_slide.c lib/query/plan.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c
/* fuzz_alert_template.c — libFuzzer harness: arbitrary bytes as an alert
 * template, parsed and, when accepted, expanded against fixed labels, a
 * value and an in-memory store (so query | first | value runs). Parse and
 * expansion either succeed or fail with a "template: " message; nothing
 * else may happen. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct obs_query_mem *mem;
	static struct obs_labels lbl;
	static struct obs_query_store st;
	if (!mem) {
		const char *why;
		const char *t = "up{instance=\"h:9100\",job=\"node\"}";
		obs_labels_parse(t, strlen(t), &lbl, &why);
		mem = obs_query_mem_new();
		obs_query_mem_add(mem, &lbl, 1000, 0.5);
		st = obs_query_mem_store(mem);
	}
	struct obs_tmpl *t;
	char err[512];
	int rc = obs_tmpl_parse("__alert_F", (const char *)data, size, &t, err, sizeof err);
	if (rc) {
		if (rc == -EINVAL && strncmp(err, "template: ", 10))
			abort();
		return 0;
	}
	struct obs_tmpl_data d = { .labels = &lbl, .external_labels = &lbl, .external_url = "http://x/y",
				   .value = 12.5, .now_ms = 60000, .store = &st };
	struct obs_buf out;
	obs_buf_init(&out);
	rc = obs_tmpl_expand(t, &d, &out, err, sizeof err);
	if (rc == -EINVAL && strncmp(err, "template: ", 10))
		abort();
	obs_buf_release(&out);
	obs_tmpl_free(t);
	return 0;
}
