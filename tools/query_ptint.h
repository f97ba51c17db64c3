/* query_ptint.h — private to the promqltest runner (query_promqltest.c,
 * query_ptcheck.c): a parsed eval command and the comparison of a result
 * with what it expects. */
#ifndef OBS_QUERY_PTINT_H
#define OBS_QUERY_PTINT_H

#include <stdint.h>

#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

struct exp_series {
	struct obs_labels l;
	struct obs_query_seqval *v;
	size_t n;
	int scalar;
};

enum ann_kind { AK_WARN, AK_INFO };
struct expect_ann {
	enum ann_kind kind;
	int mode;       /* 0 any, 1 msg, 2 regex */
	char *text;
};

struct evalcmd {
	int range;
	int64_t t, start, end, step;
	const char *expr;
	int fail, ordered, no_warn, no_info, has_ann[2];
	int fail_mode;            /* 0 any, 1 msg, 2 regex */
	const char *fail_text;
	int has_string;
	char *string;
	int has_rv;
	int64_t rv_from, rv_to, rv_step;
	struct exp_series *es;
	size_t nes;
	struct expect_ann *ann;
	size_t nann;
	int histo;                /* expects native histograms */
};

/* 1 pass, 0 fail (why says), -1 skip (native histograms). Annotations
 * are checked unless values_only. */
int pt_check(const struct evalcmd *e, int rc, const struct obs_query_result *r, int values_only,
	     struct obs_buf *why);
void pt_fmt_result(struct obs_buf *b, const struct obs_query_result *r);
void pt_fmt_expected(struct obs_buf *b, const struct evalcmd *e);

#endif
