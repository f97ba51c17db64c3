// sources: lib/alert/alertstate.c lib/alert/alert.c lib/alert/ruleeval.c lib/alert/ruleeval_alert.c lib/alert/ruleeval_group.c lib/alert/ruleeval_out.c lib/alert/ruleeval_view.c lib/alert/rules.c lib/alert/yamldoc.c lib/alert/template.c lib/alert/template_lex.c lib/alert/template_exec.c lib/alert/template_fn.c lib/alert/template_printf.c lib/core/obstime.c lib/core/crc32c.c lib/core/fileio.c lib/query/lex.c lib/query/parse.c lib/query/parse_sel.c lib/query/ast.c lib/query/func.c lib/query/func_log.c lib/query/func_slide.c lib/query/plan.c lib/query/func_range.c lib/query/func_label.c lib/query/func_hist.c lib/query/agg.c lib/query/agg_fast.c lib/query/binop.c lib/query/eval.c lib/query/value.c lib/query/memstore.c lib/query/series.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/strmap.c lib/core/num.c lib/core/utf8.c -lyaml lib/core/fault.c
/* fuzz_alert_state.c — libFuzzer harness: arbitrary bytes as the saved
 * alert state (DATADIR/alerts/state). decode accepts or says -EBADMSG;
 * an accepted text delivers alerts with label sets, and re-encoding what
 * an evaluator restored from it decodes again. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/alertstate.h"

static int count(void *ctx, const char *file, const char *group, const struct obs_alert *a)
{
	if (!file || !group || !a->labels.n)
		abort();
	(*(size_t *)ctx)++;
	return 0;
}

static int restore(void *ctx, const char *file, const char *group, const struct obs_alert *a)
{
	return obs_ruleeval_restore(ctx, file, group, a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t n = 0;
	int rc = obs_alertstate_decode((const char *)data, size, count, &n);
	if (rc && rc != -EBADMSG && rc != -ENOMEM)
		abort();
	if (rc)
		return 0;
	struct obs_ruleeval_opts o;
	obs_ruleeval_opts_default(&o);
	struct obs_ruleeval *e;
	if (obs_ruleeval_new(&o, &e))
		return 0;
	if (obs_alertstate_decode((const char *)data, size, restore, e) == 0) {
		struct obs_buf b;
		obs_buf_init(&b);
		if (obs_alertstate_encode(e, &b) == 0) {
			size_t m = 0;
			if (obs_alertstate_decode(b.data, b.len, count, &m) != 0 || m != n)
				abort();
		}
		obs_buf_release(&b);
	}
	obs_ruleeval_free(e);
	return 0;
}
