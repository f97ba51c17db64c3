// sources: lib/alert/slo.c lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_slide.c lib/query/plan.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c lib/core/obstime.c
/* fuzz_slo.c — libFuzzer harness: arbitrary bytes as alerts/slos/NAME.
 * A rejected file gives -EINVAL with a reason; an accepted one yields a
 * rule group whose every recording expression parses as PromQL. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/slo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct am_slo *s = (void *)1;
	struct obs_buf err, b;
	obs_buf_init(&err);
	obs_buf_init(&b);
	int rc = am_slo_parse("f", (const char *)data, size, &s, &err);
	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || s || !err.len)
			abort();
	} else {
		if (am_slo_rules_yaml(s, &b))
			abort();
		for (int i = 0; i < 5; i++) {
			obs_buf_reset(&b);
			if (am_slo_ratio_expr(s, AM_SLO_WINDOWS[i], &b))
				abort();
			struct obs_query_expr *e = NULL;
			char qerr[256];
			if (obs_query_parse(b.data, b.len, &e, qerr, sizeof(qerr)))
				abort();
			obs_query_expr_free(e);
		}
		am_slo_free(s);
	}
	obs_buf_release(&err);
	obs_buf_release(&b);
	return 0;
}
