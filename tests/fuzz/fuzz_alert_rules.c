// sources: lib/alert/rules.c lib/alert/yamldoc.c lib/alert/template.c lib/alert/template_lex.c lib/alert/template_exec.c lib/alert/template_fn.c lib/alert/template_printf.c lib/core/obstime.c lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_slide.c lib/query/plan.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c -lyaml
/* fuzz_alert_rules.c — libFuzzer harness: arbitrary bytes as a Prometheus
 * rule file. An accepted file has groups with names and rules with parsed
 * expressions and, for alerting rules, parsed templates; a refused one has
 * at least one error line and no result; the duplicate lint runs on every
 * accepted file. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct obs_buf errs;
	obs_buf_init(&errs);
	struct obs_rule_file *f = NULL;
	int rc = obs_rules_parse((const char *)data, size, &f, &errs);
	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || f)
			abort();
		if (rc == -EINVAL && !errs.len)
			abort();
	} else {
		if (!f)
			abort();
		size_t n = 0;
		for (size_t j = 0; j < f->ngroups; j++) {
			if (!f->groups[j].name)
				abort();
			for (size_t i = 0; i < f->groups[j].nrules; i++) {
				const struct obs_rule *r = &f->groups[j].rules[i];
				if (!r->expr || !r->name || !*r->name)
					abort();
				for (size_t k = 0; r->alert && k < r->nannotations; k++)
					if (!r->annotations[k].tmpl)
						abort();
				n++;
			}
		}
		if (n != f->nrules)
			abort();
		struct obs_buf d;
		obs_buf_init(&d);
		obs_rules_duplicates(f, &d);
		obs_buf_release(&d);
		obs_rules_free(f);
	}
	obs_buf_release(&errs);
	return 0;
}
