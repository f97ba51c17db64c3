// sources: lib/alert/anomaly.c lib/alert/rules.c lib/alert/yamldoc.c lib/alert/template.c lib/alert/template_lex.c lib/alert/template_exec.c lib/alert/template_fn.c lib/alert/template_printf.c lib/alert/alert.c lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_slide.c lib/query/plan.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c lib/core/obstime.c -lyaml lib/core/fault.c
/* fuzz_anomaly.c — libFuzzer harness: arbitrary bytes as
 * alerts/anomalies/NAME. A rejected file gives -EINVAL with a reason and no
 * rule; an accepted one yields a rule group the rule file parser accepts. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/anomaly.h"
#include "alert/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct am_anomaly *a = (void *)1;
	struct obs_buf err, b;
	obs_buf_init(&err);
	obs_buf_init(&b);
	int rc = am_anomaly_parse("f", (const char *)data, size, &a, &err);
	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || a || (rc == -EINVAL && !err.len))
			abort();
	} else {
		if (am_anomaly_rules_yaml(a, &b))
			abort();
		struct obs_rule_file *rf = NULL;
		struct obs_buf errs;
		obs_buf_init(&errs);
		int r = obs_rules_parse(b.data, b.len, &rf, &errs);
		if (r && r != -ENOMEM)
			abort();
		obs_rules_free(rf);
		obs_buf_release(&errs);
		am_anomaly_free(a);
	}
	obs_buf_release(&err);
	obs_buf_release(&b);
	return 0;
}
