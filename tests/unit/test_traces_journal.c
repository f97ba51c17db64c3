/* test_traces_journal.c — the trace store's journal: a big document
 * carried across many writes costs journal bytes linear in its size and
 * comes back byte for byte after kill -9 (also from a journal of whole-carry
 * records, as older daemons wrote it); and the ticker's hand-off of kept
 * traces to the store against checkpoints: a kill or a failure at each step
 * between them loses nothing kept and stores nothing twice; an ingest that
 * fails part-way (out of memory) takes nothing, and a late span the store
 * refuses is retried. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/wal.h"
#include "traces/traces.h"
#include "traces_fixture.h"

/* One OTLP/JSON document (one line, no newline) of at least min bytes:
 * traces first, first + 1, ... of one root span each. Returns the count. */
static unsigned otlp_doc(struct obs_buf *b, unsigned first, size_t min)
{
	obs_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
			"{\"stringValue\":\"big\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"t\"},\"spans\":[");
	unsigned n = 0;
	while (b->len < min) {
		long long s = (T0 + n) * 1000000LL;
		obs_buf_printf(b, "%s{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"name\":\"op\",\"kind\":2,"
				  "\"startTimeUnixNano\":\"%lld\",\"endTimeUnixNano\":\"%lld\",\"status\":{\"code\":1},"
				  "\"attributes\":[{\"key\":\"pad\",\"value\":{\"stringValue\":\"%0120u\"}}]}",
			       n ? "," : "", first + n, first + n, s, s + 5000000, n);
		n++;
	}
	obs_buf_puts(b, "]}]}]}");
	return n;
}

/* Bytes in DIR/wal (every journal segment). */
static uint64_t journal_bytes(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/wal", dir);
	DIR *d = opendir(p);
	cr_assert_not_null(d);
	uint64_t sum = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		struct stat st;
		char f[512];
		snprintf(f, sizeof f, "%s/%s", p, de->d_name);
		if (de->d_name[0] != '.' && !stat(f, &st) && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

/* Carry doc[from..upto) in 4 KiB writes after doc[0..from) was, as
 * fs/writes.c does for a writer that writes 4 KiB at a time: each call
 * names the bytes journaled before. */
static void carry_in_pieces(struct obs_traces *t, uint64_t h, const struct obs_buf *doc, size_t from, size_t upto)
{
	size_t had = from;
	while (had < upto) {
		size_t n = had + 4096 < upto ? had + 4096 : upto;
		cr_assert_eq(obs_traces_carry(t, h, doc->data, n, had), 0);
		had = n;
	}
}

static void expect_stored(struct obs_traces *t, unsigned first, unsigned n, const char *what)
{
	size_t k;
	for (unsigned i = 0; i < n; i += n / 50 + 1) {
		cr_assert(has(t, first + i, &k), "%s: trace %u lost", what, first + i);
		cr_assert_eq(k, 1, "%s: trace %u has %zu spans", what, first + i, k);
	}
	cr_assert(has(t, first + n - 1, &k), "%s: the last trace lost", what);
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.store.spans, n, "%s: %u spans stored once each (%llu)", what, n,
		     (unsigned long long)st.store.spans);
}

static void wait_killed(pid_t pid)
{
	int ws;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	cr_assert(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "child exit %d", WEXITSTATUS(ws));
}

#define DOC_BYTES (5u << 20)

/* A 5 MiB document in 4 KiB writes: the journal grows by about the
 * document, not by the square of it (whole-carry records: ~3 GiB). */
Test(journal, carry_bytes_grow_linearly, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, "all always_sample\n");
	struct obs_buf doc;
	obs_buf_init(&doc);
	otlp_doc(&doc, 1, DOC_BYTES);
	uint64_t before = journal_bytes();
	carry_in_pieces(t, 9, &doc, 0, doc.len);
	uint64_t grew = journal_bytes() - before;
	cr_assert_leq(grew, 2 * (uint64_t)doc.len, "journaled %llu bytes for a %zu-byte document",
		      (unsigned long long)grew, doc.len);
	cr_assert_geq(grew, doc.len, "every byte journaled (%llu)", (unsigned long long)grew);
	/* a carry started afresh on the same handle replaces the old one */
	cr_assert_eq(obs_traces_carry(t, 9, doc.data, 100, 0), 0);
	cr_assert_eq(obs_traces_carry(t, 9, NULL, 0, 0), 0);
	obs_traces_close(t);
	obs_buf_release(&doc);
}

/* kill -9 with the whole document carried (no newline yet): reopened, it
 * is ingested as the close would have, every span once; and after a
 * checkpoint (the carry relogged whole) and appends after it, the same. */
Test(journal, carried_document_survives_kill9, .init = setup, .fini = teardown)
{
	struct obs_buf doc;
	obs_buf_init(&doc);
	unsigned n = otlp_doc(&doc, 1, DOC_BYTES);
	for (int ckpt = 0; ckpt < 2; ckpt++) {
		teardown();
		setup();
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			struct obs_traces *t = topen(T0, "all always_sample\n");
			carry_in_pieces(t, 5, &doc, 0, doc.len / 2);
			if (ckpt && obs_traces_checkpoint(t, T0))
				_exit(3);
			carry_in_pieces(t, 5, &doc, doc.len / 2, doc.len);
			kill(getpid(), SIGKILL);
		}
		wait_killed(pid);
		struct obs_traces *t = topen(T0 + 100, NULL);
		cr_assert_eq(obs_traces_flush_all(t, T0 + 100), 0);
		expect_stored(t, 1, n, ckpt ? "after a checkpoint" : "no checkpoint");
		obs_traces_close(t);
	}
	obs_buf_release(&doc);
}

/* kill -9 in the middle of the document: the half it had is refused at
 * recovery (it is no document), the writer sends the document again, and
 * each span is there once. */
Test(journal, half_document_then_resent, .init = setup, .fini = teardown)
{
	struct obs_buf doc;
	obs_buf_init(&doc);
	unsigned n = otlp_doc(&doc, 1, DOC_BYTES);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct obs_traces *t = topen(T0, "all always_sample\n");
		carry_in_pieces(t, 5, &doc, 0, doc.len / 2);
		kill(getpid(), SIGKILL);
	}
	wait_killed(pid);
	struct obs_traces *t = topen(T0 + 100, NULL);
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.docs_rejected, 1, "the half document is refused (%llu)", (unsigned long long)st.docs_rejected);
	cr_assert_eq(st.spans_ingested, 0);
	obs_buf_putc(&doc, '\n');
	ingest(t, &doc, T0 + 100);
	cr_assert_eq(obs_traces_flush_all(t, T0 + 100), 0);
	expect_stored(t, 1, n, "resent");
	obs_traces_close(t);
	obs_buf_release(&doc);
}

/* A journal as daemons before CARRY_ADD wrote it: a whole CARRY record per
 * write, each longer than the one before, and a clear for another handle. */
Test(journal, whole_carry_records_still_replay, .init = setup, .fini = teardown)
{
	struct obs_buf doc;
	obs_buf_init(&doc);
	unsigned n = otlp_doc(&doc, 1, 64u << 10);
	char wdir[128];
	snprintf(wdir, sizeof wdir, "%s/wal", dir);
	struct obs_wal_opts wo = { 16u << 20, 0 };
	struct obs_wal *w;
	cr_assert_eq(obs_wal_open(wdir, &wo, &w), 0);
	uint64_t h = 3, other = 4;
	cr_assert_eq(obs_wal_append2(w, 3, &other, 8, doc.data, 10), 0);
	for (size_t k = 4096; ; k += 4096) {
		size_t m = k < doc.len ? k : doc.len;
		cr_assert_eq(obs_wal_append2(w, 3, &h, 8, doc.data, m), 0);
		if (m == doc.len)
			break;
	}
	cr_assert_eq(obs_wal_append2(w, 3, &other, 8, NULL, 0), 0);
	cr_assert_eq(obs_wal_sync(w), 0);
	obs_wal_close(w);
	struct obs_traces *t = topen(T0, NULL);
	cr_assert_eq(obs_traces_set_policy(t, "all always_sample\n", 18, NULL, 0), 0);
	cr_assert_eq(obs_traces_flush_all(t, T0), 0);
	expect_stored(t, 1, n, "whole-carry journal");
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.docs_rejected, 0, "the cleared carry is not ingested");
	obs_traces_close(t);
	obs_buf_release(&doc);
}

/* ---- the ticker's hand-off against checkpoints ------------------------------------------- */

/* 20 two-span traces (ids base+1..base+20), 10 with an error: the policy
 * keeps those, drops the others. */
static void batch(struct obs_traces *t, unsigned base, int64_t now)
{
	struct obs_buf b;
	obs_buf_init(&b);
	for (unsigned i = base + 1; i <= base + 20; i++) {
		line(&b, i, 1, 0, "a", "root", T0 + i, 5, i % 2 ? "error" : "ok", NULL);
		line(&b, i, 2, 1, "b", "child", T0 + i, 2, "ok", NULL);
	}
	ingest(t, &b, now);
	obs_buf_release(&b);
}

static void expect_batches(struct obs_traces *t, unsigned nbatches, const char *what)
{
	size_t n;
	for (unsigned i = 1; i <= 20 * nbatches; i++) {
		if (i % 2) {
			cr_assert(has(t, i, &n), "%s: kept trace %u lost", what, i);
			cr_assert_eq(n, 2, "%s: trace %u has %zu spans", what, i, n);
		} else {
			cr_assert_not(has(t, i, NULL), "%s: dropped trace %u is there", what, i);
		}
	}
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.store.spans, 20 * nbatches, "%s: every kept span once (%llu)", what,
		     (unsigned long long)st.store.spans);
	cr_assert_eq(st.buffered_traces, 0, "%s: nothing left undecided (%llu)", what,
		     (unsigned long long)st.buffered_traces);
}

static const char ERRS[] = "errs status_code status_codes=ERROR\n";

/* The steps a kill can fall between, in the order they happen. */
enum step {
	AFTER_HANDOFF,        /* tick decided and handed the kept to the store; no checkpoint */
	SEG_WRITE_FAILED,     /* the checkpoint's segment write failed (sealed, waiting) */
	CUT_FAILED,           /* sealed, the journal not cut (no segment written) */
	REMOVE_FAILED,        /* cut, relogged, the segment written, the old journal not removed */
	HANDOFF_FAILED,       /* the store refused the hand-off (kept for a retry) */
	HANDOFF_FAILED_CKPT,  /* ... and a checkpoint came before the retry */
	NSTEPS
};
static const char *const step_name[NSTEPS] = { "after the hand-off", "segment write failed", "cut failed",
					       "remove failed", "hand-off failed", "hand-off failed, checkpoint" };

/* In a child: a first batch decided and handed off, then step s; a second
 * batch decided after it (its hand-off goes on while the first waits);
 * kill -9. Each step is reached deterministically: fault points fail the
 * step (the fault stays armed, so nothing after it retries), the kill
 * follows. */
static void run_step(enum step s)
{
	struct obs_traces *t = topen(T0, ERRS);
	batch(t, 0, T0);
	if (s == HANDOFF_FAILED || s == HANDOFF_FAILED_CKPT) {
		obs_fault_arm("traces.handoff", 0, -1, ENOMEM);
		if (obs_traces_tick(t, T0 + 1) != -ENOMEM)
			_exit(10);
		if (s == HANDOFF_FAILED_CKPT && obs_traces_checkpoint(t, T0 + 2) != -ENOMEM)
			_exit(11);
		obs_fault_reset();
	} else if (obs_traces_tick(t, T0 + 1)) {
		_exit(12);
	}
	static const char *const point[NSTEPS] = { NULL, "traces.seg.fsync", "traces.ckpt.cut", "traces.ckpt.remove" };
	if (s >= SEG_WRITE_FAILED && s <= REMOVE_FAILED) {
		obs_fault_arm(point[s], 0, -1, EIO);
		if (obs_traces_checkpoint(t, T0 + 2) != -EIO)
			_exit(13);
	}
	batch(t, 20, T0 + 3);
	if (obs_traces_tick(t, T0 + 4) && s != SEG_WRITE_FAILED && s != CUT_FAILED && s != REMOVE_FAILED)
		_exit(14);
	kill(getpid(), SIGKILL);
}

Test(journal, kill_between_handoff_and_checkpoint, .init = setup, .fini = teardown)
{
	for (int s = 0; s < NSTEPS; s++) {
		teardown();
		setup();
		pid_t pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0)
			run_step((enum step)s);
		wait_killed(pid);
		struct obs_traces *t = topen(T0 + 100, NULL);
		cr_assert_eq(obs_traces_flush_all(t, T0 + 100), 0);
		expect_batches(t, 2, step_name[s]);
		/* and once more through a clean checkpoint and reopen */
		obs_traces_close(t);
		t = topen(T0 + 200, NULL);
		expect_batches(t, 2, step_name[s]);
		obs_traces_close(t);
	}
}

/* Without a kill: a refused hand-off is retried by the next tick, and a
 * checkpoint before that cuts no journal (the kept traces are only there). */
Test(journal, refused_handoff_is_retried, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, ERRS);
	batch(t, 0, T0);
	obs_fault_arm("traces.handoff", 0, -1, ENOMEM);
	cr_assert_eq(obs_traces_tick(t, T0 + 1), -ENOMEM);
	cr_assert_eq(obs_traces_checkpoint(t, T0 + 2), -ENOMEM, "the checkpoint retries the hand-off first");
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.checkpoints, 1, "only the open's checkpoint (%llu)", (unsigned long long)st.checkpoints);
	cr_assert_eq(obs_fault_hits("traces.handoff"), 20, "10 kept traces, tried twice (%u)",
		     obs_fault_hits("traces.handoff"));
	obs_fault_reset();
	cr_assert_eq(obs_traces_tick(t, T0 + 3), 0, "the retry works");
	batch(t, 20, T0 + 4);
	cr_assert_eq(obs_traces_tick(t, T0 + 5), 0);
	expect_batches(t, 2, "retried");
	cr_assert_eq(obs_traces_checkpoint(t, T0 + 6), 0);
	obs_traces_close(t);
	t = topen(T0 + 100, NULL);
	expect_batches(t, 2, "retried, reopened");
	obs_traces_close(t);
}

/* ---- errors part-way through an ingest ------------------------------------------------------- */

/* Out of memory after some of a write's spans were parsed: the call fails
 * with nothing journaled or buffered, so the writer's retry stores each
 * span once. */
Test(journal, enomem_mid_ingest_stores_nothing, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, ERRS);
	struct obs_buf b;
	obs_buf_init(&b);
	for (unsigned i = 1; i <= 20; i++) {
		line(&b, i, 1, 0, "a", "root", T0 + i, 5, i % 2 ? "error" : "ok", NULL);
		line(&b, i, 2, 1, "b", "child", T0 + i, 2, "ok", NULL);
	}
	obs_fault_arm("traces.ingest.span", 5, 1, ENOMEM);
	struct obs_traces_result r;
	cr_assert_eq(obs_traces_ingest(t, b.data, b.len, 1, "test", 1, T0, &r), -ENOMEM);
	struct obs_traces_stats st;
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.spans_ingested, 0, "no span of the failed call is taken (%llu)",
		     (unsigned long long)st.spans_ingested);
	cr_assert_eq(st.buffered_spans, 0);
	obs_fault_reset();
	ingest(t, &b, T0);
	cr_assert_eq(obs_traces_tick(t, T0 + 1), 0);
	expect_batches(t, 1, "retried");
	obs_traces_get_stats(t, &st);
	cr_assert_eq(st.spans_ingested, 40, "each span journaled once (%llu)", (unsigned long long)st.spans_ingested);
	obs_traces_close(t);
	obs_buf_release(&b);
}

/* A late span of a kept trace goes to the store during ingest; refused
 * there, it waits with the deferred kept traces and the next tick stores
 * it (it is not dropped from memory), and the ingest succeeds. */
Test(journal, refused_late_span_is_retried, .init = setup, .fini = teardown)
{
	struct obs_traces *t = topen(T0, ERRS);
	batch(t, 0, T0);
	cr_assert_eq(obs_traces_tick(t, T0 + 1), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	line(&b, 1, 3, 1, "c", "late", T0 + 1, 1, "ok", NULL);
	obs_fault_arm("traces.store.add", 0, -1, ENOMEM);
	ingest(t, &b, T0 + 2);
	cr_assert_eq(obs_fault_hits("traces.store.add"), 1, "the late span went to the store (%u)",
		     obs_fault_hits("traces.store.add"));
	obs_fault_reset();
	cr_assert_eq(obs_traces_tick(t, T0 + 3), 0);
	size_t n;
	cr_assert(has(t, 1, &n));
	cr_assert_eq(n, 3, "the refused late span is stored by the retry (%zu spans)", n);
	obs_traces_close(t);
	t = topen(T0 + 100, NULL);
	cr_assert(has(t, 1, &n));
	cr_assert_eq(n, 3, "and after a reopen (%zu spans)", n);
	obs_traces_close(t);
	obs_buf_release(&b);
}
