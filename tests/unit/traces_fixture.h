/* traces_fixture.h — what the trace store's unit tests share
 * (test_traces_store.c, test_traces_journal.c): a fresh directory per
 * test, simple-shape span lines, opening the store, asking whether a trace
 * is kept and with how many spans. Header-only (each test file is its own
 * binary); include it after criterion.h. */
#ifndef OBS_TESTS_TRACES_FIXTURE_H
#define OBS_TESTS_TRACES_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/fault.h"
#include "traces/otlp.h"
#include "traces/traces.h"

#define TF_UNUSED __attribute__((unused))

static const int64_t T0 = 1800000000000LL;   /* 2027-01-15 */
static char dir[64];                           /* the test's directory */

static int tf_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) { return remove(p); }
static TF_UNUSED void setup(void)
{
	strcpy(dir, "/tmp/test_traces.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}
static TF_UNUSED void teardown(void)
{
	nftw(dir, tf_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	obs_fault_reset();
}

/* simple-shape line for trace t, span s, parent p (0 root) */
static TF_UNUSED void line(struct obs_buf *b, unsigned t, unsigned s, unsigned p, const char *svc, const char *op,
			   long long start_ms, double dur_ms, const char *status, const char *tags)
{
	char ps[17] = "";
	if (p)
		snprintf(ps, sizeof ps, "%016x", p);
	obs_buf_printf(b, "{\"trace_id\":\"%032x\",\"span_id\":\"%016x\",\"parent_span_id\":\"%s\",\"service\":\"%s\","
			  "\"operation\":\"%s\",\"start_time\":%lld,\"duration_ms\":%g,\"status\":\"%s\",\"tags\":{%s}}\n",
		       t, s, ps, svc, op, start_ms, dur_ms, status, tags ? tags : "");
}

static TF_UNUSED void idof(unsigned t, uint8_t *id)
{
	char h[33];
	snprintf(h, sizeof h, "%032x", t);
	cr_assert_eq(obs_unhex(h, 32, id, 16), 0);
}

static TF_UNUSED struct obs_traces *topen(int64_t now, const char *policy)
{
	struct obs_traces_opts o;
	obs_traces_opts_default(&o);
	struct obs_traces *t;
	char err[256] = "";
	cr_assert_eq(obs_traces_open(dir, &o, NULL, NULL, now, &t, err, sizeof err), 0, "%s", err);
	if (policy)
		cr_assert_eq(obs_traces_set_policy(t, policy, strlen(policy), err, sizeof err), 0, "%s", err);
	return t;
}

static TF_UNUSED void ingest(struct obs_traces *t, struct obs_buf *b, int64_t now)
{
	struct obs_traces_result r;
	cr_assert_eq(obs_traces_ingest(t, b->data, b->len, 1, "test", 1, now, &r), 0, "err %d", r.err);
	obs_buf_reset(b);
}

/* Is trace tr kept (readable)? *nspans gets its span count. */
static TF_UNUSED int has(struct obs_traces *t, unsigned tr, size_t *nspans)
{
	uint8_t id[16];
	idof(tr, id);
	struct obs_buf out;
	obs_buf_init(&out);
	int rc = obs_traces_json(t, id, &out);
	size_t n = 0;
	for (size_t i = 0; i < out.len; i++)
		n += out.data[i] == '\n';
	obs_buf_release(&out);
	if (nspans)
		*nspans = n;
	return rc == 0;
}

#endif
