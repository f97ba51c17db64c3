/* traces.c — spans in, journal, assembly, sampling, store, RED metrics
 * (libobs traces). See traces.h for the journal records and the contract;
 * reading kept traces is tread.c's. */
#include "traces/traces.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/fileio.h"
#include "core/varint.h"
#include "traces/assemble.h"
#include "traces/otlp.h"
#include "traces/policy.h"
#include "traces/red.h"
#include "tsdb/db.h"
#include "core/wal.h"
#include "traces/traces_int.h"

enum { REC_SPANS = 1, REC_DECISIONS = 2, REC_CARRY = 3, REC_CARRY_ADD = 4 };
#define RELOG_CHUNK (256u << 10)


void obs_traces_opts_default(struct obs_traces_opts *o)
{
	memset(o, 0, sizeof *o);
	obs_tstore_opts_default(&o->store);
	o->wal_segment_bytes = 16u << 20;
	o->sync_interval_ms = 1000;
	o->red_interval_ms = 10000;
	o->checkpoint_ms = 60000;
	o->cache_size = 65536;
	o->parse_threads = 2;
}

static void tasm_opts(const struct obs_traces *t, const struct obs_policy_set *ps, struct obs_tasm_opts *ao)
{
	struct obs_policy_settings s;
	obs_policy_get_settings(ps, &s);
	obs_tasm_opts_default(ao);
	ao->decision_wait_ms = s.decision_wait_ms;
	ao->max_traces = s.num_traces;
	ao->max_spans = s.max_spans;
	ao->head_honour = s.head_honour;
	ao->cache_size = t->o.cache_size;
}

/* ---- decisions ------------------------------------------------------------------ */

/* Queue a kept trace's spans in t->kept (mu held) for kept_drain to hand
 * to the store: ID, a u32 span count, then per span a u32 length and the
 * encoding. 0 or -ENOMEM (t->kept as it was). */
static int kept_put(struct obs_traces *t, const uint8_t id[16], const uint8_t *const *blobs, const uint32_t *lens,
		    size_t n)
{
	uint32_t n32 = (uint32_t)n;
	size_t k0 = t->kept.len;
	int r = obs_buf_append(&t->kept, id, 16) || obs_buf_append(&t->kept, &n32, 4);
	for (size_t i = 0; !r && i < n; i++)
		r = obs_buf_append(&t->kept, &lens[i], 4) || obs_buf_append(&t->kept, blobs[i], lens[i]);
	if (r)
		t->kept.len = k0;   /* no half record */
	return r ? -ENOMEM : 0;
}

/* A decision (mu held). Kept spans go to the store at once when taken
 * during ingest (late spans of a kept trace, a decision forced by the
 * buffer limits); one the store refuses waits in t->kept like a deferred
 * one (tick and flush_all defer every kept trace), so the next drain
 * retries it and no checkpoint cuts the journal before: the assembler has
 * let go of it, and the ingest that brought it succeeds (its spans are
 * journaled). */
static int emit(void *ctx, const uint8_t id[16], int keep, enum obs_tdec_why why, const char *by,
		const uint8_t *const *blobs, const uint32_t *lens, size_t n)
{
	struct obs_traces *t = ctx;
	int rc = 0;
	if (!t->replaying && why != OBS_TDEC_LATE && t->wal) {
		uint8_t k = (uint8_t)keep;
		if (obs_buf_append(&t->pend, id, 16) || obs_buf_append(&t->pend, &k, 1))
			rc = -ENOMEM;
	}
	if (!keep)
		return rc;
	int r2;
	if (t->defer) {
		r2 = kept_put(t, id, blobs, lens, n);
	} else {
		r2 = obs_fault("traces.store.add");
		if (!r2)
			r2 = obs_tstore_add(t->store, id, blobs, lens, n, t->replaying);
		if (r2 && !t->replaying)   /* replay keeps its error: reopening retries it whole */
			r2 = kept_put(t, id, blobs, lens, n);
	}
	return rc ? rc : r2;
}

/* Add the kept traces of b (emit's deferred records) to the store. The
 * records the store refused stay in b (moved to its front, b->len cut to
 * them), for a later drain to retry. */
static int kept_add(struct obs_traces *t, struct obs_buf *b)
{
	const uint8_t **blobs = NULL;
	uint32_t *lens = NULL;
	size_t cap = 0, pos = 0, left = 0;
	int rc = 0;
	while (pos < b->len) {
		size_t r0 = pos;
		const uint8_t *id = (const uint8_t *)b->data + pos;
		uint32_t n;
		memcpy(&n, b->data + pos + 16, 4);
		pos += 20;
		int r = 0;
		if (n > cap) {
			const uint8_t **nb = realloc(blobs, n * sizeof *nb);
			uint32_t *nl = nb ? realloc(lens, n * sizeof *nl) : NULL;
			if (nb)
				blobs = nb;
			if (nl)
				lens = nl, cap = n;
			else
				r = -ENOMEM;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint32_t l;
			memcpy(&l, b->data + pos, 4);
			if (!r)
				lens[i] = l, blobs[i] = (const uint8_t *)b->data + pos + 4;
			pos += 4 + l;
		}
		if (!r)
			r = obs_fault("traces.handoff");
		if (!r)
			r = obs_tstore_add(t->store, id, blobs, lens, n, 0);
		if (r) {   /* kept for a retry: its spans are in no segment yet */
			memmove(b->data + left, b->data + r0, pos - r0);
			left += pos - r0;
			if (!rc)
				rc = r;
		}
	}
	b->len = left;
	free(blobs);
	free(lens);
	return rc;
}

/* Take the deferred kept traces (mu held); the caller adds them with
 * mu released and ckpt_mu still held. */
static struct obs_buf kept_take(struct obs_traces *t)
{
	struct obs_buf b = t->kept;
	obs_buf_init(&t->kept);
	return b;
}

/* Add b's kept traces to the store (ckpt_mu held; mu too when mu_held).
 * What the store refused goes back to t->kept: the next tick or checkpoint
 * retries it, and a checkpoint cuts no journal while some is left (it is
 * only there and in the journal). */
static int kept_drain(struct obs_traces *t, struct obs_buf *b, int mu_held)
{
	int rc = b->len ? kept_add(t, b) : 0;
	if (!b->len) {
		obs_buf_release(b);
		return rc;
	}
	if (!mu_held)
		pthread_mutex_lock(&t->mu);
	/* ckpt_mu is held: nothing deferred more since the take, t->kept is empty */
	if (!t->kept.len) {
		obs_buf_release(&t->kept);
		t->kept = *b;
		obs_buf_init(b);
	} else if (obs_buf_append(&t->kept, b->data, b->len)) {
		rc = -ENOMEM;
	}
	if (!mu_held)
		pthread_mutex_unlock(&t->mu);
	obs_buf_release(b);
	return rc;
}

/* Journal the decisions taken under this hold of mu (one record). */
static int pend_flush(struct obs_traces *t)
{
	int rc = t->pend.len && t->wal ? obs_wal_append(t->wal, REC_DECISIONS, t->pend.data, t->pend.len) : 0;
	obs_buf_reset(&t->pend);
	return rc;
}

/* ---- journal replay ---------------------------------------------------------------- */

static int add_spans(struct obs_traces *t, const uint8_t *p, size_t n, int64_t now, int red)
{
	size_t pos = 0;
	int rc = 0;
	while (pos < n && !rc) {
		uint64_t len;
		if (obs_varint_get(p, n, &pos, &len) || len > n - pos)
			return -EBADMSG;
		struct obs_span s;
		/* replayed spans come from disk; the others from the parser */
		if (!(t->replaying ? obs_span_decode : obs_span_view)(p + pos, (size_t)len, &s)) {
			if (red && t->red && obs_red_add(t->red, &s))
				rc = -ENOMEM;
			if (!rc)
				rc = obs_tasm_add(t->as, &s, p + pos, (size_t)len, now);
			if (t->replaying)
				t->st.spans_replayed++;
		}
		pos += (size_t)len;
	}
	return rc;
}

static struct carry **carry_find(struct obs_traces *t, uint64_t h)
{
	struct carry **c = &t->carries;
	while (*c && (*c)->handle != h)
		c = &(*c)->next;
	return c;
}

static void carry_free(struct carry *c)
{
	obs_buf_release(&c->b);
	free(c);
}

/* Set (add 0) or extend (add 1) the carry of handle h by p[0..n); n == 0
 * and not add clears it. Extending a carry that is not there starts it
 * (the bytes were accepted: at recovery they are refused with a reason
 * rather than lost without one). 0 or -ENOMEM (the carry as it was). */
static int set_carry(struct obs_traces *t, uint64_t h, const char *p, size_t n, int add)
{
	struct carry **c = carry_find(t, h);
	if (!n) {
		if (*c && !add) {
			struct carry *d = *c;
			*c = d->next;
			carry_free(d);
		}
		return 0;
	}
	if (!*c) {
		if (!(*c = calloc(1, sizeof **c)))
			return -ENOMEM;
		(*c)->handle = h;
		obs_buf_init(&(*c)->b);
	}
	struct obs_buf *b = &(*c)->b;
	size_t had = b->len;
	if (!add)
		b->len = 0;
	if (obs_buf_append(b, p, n)) {
		b->len = had;   /* a failed append leaves the bytes before it */
		return -ENOMEM;
	}
	return 0;
}

struct replay_ctx { struct obs_traces *t; int64_t now; };

static int replay_rec(void *ctx, uint8_t type, const uint8_t *p, size_t n)
{
	struct replay_ctx *rc = ctx;
	struct obs_traces *t = rc->t;
	switch (type) {
	case REC_SPANS:
		return add_spans(t, p, n, rc->now, 0);
	case REC_DECISIONS:
		if (n % 17)
			return -EBADMSG;
		for (size_t i = 0; i < n; i += 17) {
			int r = obs_tasm_apply(t->as, p + i, p[i + 16] != 0);
			if (r)
				return r;
		}
		return 0;
	case REC_CARRY:
	case REC_CARRY_ADD: {
		uint64_t h;
		if (n < 8)
			return -EBADMSG;
		memcpy(&h, p, 8);
		return set_carry(t, h, (const char *)p + 8, n - 8, type == REC_CARRY_ADD);
	}
	default:
		return -EBADMSG;
	}
}

/* ---- policy file -------------------------------------------------------------------- */

static int write_policy_file(const char *dir, const char *text, size_t n)
{
	char *tmp, *fin;
	if (asprintf(&tmp, "%s/policy.tmp", dir) < 0)
		return -ENOMEM;
	if (asprintf(&fin, "%s/policy", dir) < 0) {
		free(tmp);
		return -ENOMEM;
	}
	int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		rc = -errno;
	if (!rc)
		rc = obs_write_all(fd, text, n);
	if (!rc && fsync(fd))
		rc = -errno;
	if (fd >= 0 && close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, fin))
		rc = -errno;
	if (!rc)
		rc = obs_fsync_dir(dir);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(fin);
	return rc;
}

static char *read_policy_file(const char *dir, size_t *n)
{
	char *path;
	if (asprintf(&path, "%s/policy", dir) < 0)
		return NULL;
	char *text = NULL;
	obs_read_file(path, 0, &text, n);   /* missing or unreadable: the defaults */
	free(path);
	return text;
}

/* ---- open / close -------------------------------------------------------------------- */

int obs_traces_open(const char *dir, const struct obs_traces_opts *o, struct obs_db *db, struct obs_errlog *el,
		    int64_t now_ms, struct obs_traces **out, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = 0;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		int e = -errno;
		snprintf(err, errlen, "cannot create '%s': %s", dir, strerror(-e));
		return e;
	}
	struct obs_traces *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->mu, NULL);
	pthread_mutex_init(&t->ckpt_mu, NULL);
	if (o)
		t->o = *o;
	else
		obs_traces_opts_default(&t->o);
	t->db = db;
	t->el = el;
	t->dir = strdup(dir);
	t->red = obs_red_new();
	int rc = t->dir && t->red ? 0 : -ENOMEM;
	if (!rc && t->o.parse_threads > 1 && (rc = obs_otlp_pool_new(t->o.parse_threads, 0, &t->pool)))
		snprintf(err, errlen, "cannot start the span parsing threads: %s", strerror(-rc));
	size_t pn = 0;
	char *ptext = rc ? NULL : read_policy_file(dir, &pn);
	if (!rc) {
		rc = obs_policy_parse(ptext ? ptext : "", pn, &t->ps, err, errlen);
		if (rc == -EINVAL) {   /* a policy file we wrote no longer parses: say so, use the defaults */
			rc = obs_policy_parse("", 0, &t->ps, NULL, 0);
			if (el)
				obs_errlog_add(el, now_ms, "traces/policy", 0, ptext, pn, "stored policy refused, defaults used");
		}
	}
	free(ptext);
	struct obs_tasm_opts ao;
	if (!rc) {
		tasm_opts(t, t->ps, &ao);
		rc = obs_tasm_new(&ao, t->ps, emit, t, &t->as);
	}
	if (!rc && (rc = obs_tstore_open(dir, &t->o.store, &t->store)))
		snprintf(err, errlen, "cannot open the trace segments in '%s': %s", dir, strerror(-rc));
	char *wdir = NULL;
	if (!rc && asprintf(&wdir, "%s/wal", dir) < 0)
		rc = -ENOMEM;
	if (!rc) {
		struct replay_ctx rcx = { t, now_ms };
		struct obs_wal_stats ws;
		t->replaying = 1;
		rc = obs_wal_replay(wdir, replay_rec, &rcx, &ws);
		t->replaying = 0;
		if (rc)
			snprintf(err, errlen, "cannot replay the trace journal '%s': %s", wdir, strerror(-rc));
	}
	if (!rc) {
		struct obs_wal_opts wo = { t->o.wal_segment_bytes, t->o.sync_interval_ms };
		if ((rc = obs_wal_open(wdir, &wo, &t->wal)))
			snprintf(err, errlen, "cannot open the trace journal '%s': %s", wdir, strerror(-rc));
	}
	free(wdir);
	/* carries left by a crash: their bytes were accepted, ingest them whole */
	while (!rc && t->carries) {
		struct carry *c = t->carries;
		struct obs_traces_result r;
		t->carries = c->next;
		obs_traces_ingest(t, c->b.data, c->b.len, 1, "traces/ingest", 0, now_ms, &r);
		carry_free(c);
	}
	if (!rc)
		rc = obs_traces_checkpoint(t, now_ms);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "cannot open traces in '%s': %s", dir, strerror(-rc));
		obs_traces_close(t);
		return rc;
	}
	t->last_red_ms = t->last_ckpt_ms = t->last_retain_ms = now_ms;
	*out = t;
	return 0;
}

void obs_traces_close(struct obs_traces *t)
{
	if (!t)
		return;
	if (t->wal) {
		obs_traces_sync(t, obs_time_now());
		obs_traces_checkpoint(t, obs_time_now());
	}
	obs_wal_close(t->wal);
	obs_tasm_free(t->as);
	obs_policy_free(t->ps);
	obs_tstore_close(t->store);
	obs_red_free(t->red);
	obs_otlp_pool_free(t->pool);
	while (t->carries) {
		struct carry *c = t->carries;
		t->carries = c->next;
		carry_free(c);
	}
	obs_buf_release(&t->pend);
	obs_buf_release(&t->kept);
	free(t->dir);
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->ckpt_mu);
	free(t);
}

/* ---- ingest ---------------------------------------------------------------------------- */

struct ing { struct obs_traces *t; struct obs_buf batch; uint64_t n; const char *source; int64_t now; };

static int on_span(void *ctx, const struct obs_span *s, const uint8_t *blob, size_t n)
{
	struct ing *g = ctx;
	if (obs_fault("traces.ingest.span"))
		return -ENOMEM;
	if (obs_buf_varint(&g->batch, n) || obs_buf_append(&g->batch, blob, n))
		return -ENOMEM;
	g->n++;
	return 0;
}

static void on_err(void *ctx, size_t lineno, const char *line, size_t n, const char *why)
{
	struct ing *g = ctx;
	if (g->t->el)
		obs_errlog_add(g->t->el, g->now, g->source, lineno, line, n, why);
}

int obs_traces_ingest(struct obs_traces *t, const char *buf, size_t n, int final, const char *source,
		      size_t first_lineno, int64_t now_ms, struct obs_traces_result *r)
{
	struct ing g = { t, { 0 }, 0, source ? source : "traces/ingest", now_ms };
	struct obs_otlp_result pr;
	memset(r, 0, sizeof *r);
	obs_buf_init(&g.batch);
	int prc = obs_otlp_parse_pool(t->pool, buf, n, final, first_lineno, on_span, on_err, &g, &pr);
	r->consumed = pr.consumed;
	r->rejected = pr.rejected;
	int rc = 0;
	if (prc && prc != -EINVAL)
		g.n = 0;   /* stopped part-way (ENOMEM): nothing is stored, the caller sends it all again */
	if (g.n) {
		pthread_mutex_lock(&t->mu);
		rc = obs_wal_append(t->wal, REC_SPANS, g.batch.data, g.batch.len);
		if (!rc) {
			r->spans = g.n;
			t->st.spans_ingested += g.n;
			rc = add_spans(t, (const uint8_t *)g.batch.data, g.batch.len, now_ms, 1);
		}
		int r2 = pend_flush(t);
		if (!rc)
			rc = r2;
		pthread_mutex_unlock(&t->mu);
	}
	obs_buf_release(&g.batch);
	if (!prc || prc == -EINVAL) {   /* else the refusals come again with the rest */
		pthread_mutex_lock(&t->mu);
		t->st.docs_rejected += pr.rejected;
		pthread_mutex_unlock(&t->mu);
	}
	if (!rc && prc && prc != -EINVAL)
		rc = prc;
	if (rc)
		r->err = -rc;
	else if (prc == -EINVAL)
		r->err = EINVAL;
	return -r->err;
}

int obs_traces_carry(struct obs_traces *t, uint64_t handle, const char *p, size_t n, size_t from)
{
	pthread_mutex_lock(&t->mu);
	struct carry **cp = carry_find(t, handle), *c = *cp, *fresh = NULL;
	/* the first from bytes are journaled already: only the rest goes */
	int add = n && from && c && c->b.len == from && from <= n, rc = 0;
	if ((!n && !c) || (add && n == from))
		goto out;
	if (n && !c) {
		if (!(c = fresh = calloc(1, sizeof *fresh))) {
			rc = -ENOMEM;
			goto out;
		}
		fresh->handle = handle;
		obs_buf_init(&fresh->b);
	}
	/* room first: once the record is written, memory agrees with it */
	if (n)
		rc = obs_buf_reserve(&c->b, add ? n - from : n);
	if (!rc)
		rc = add ? obs_wal_append2(t->wal, REC_CARRY_ADD, &handle, 8, p + from, n - from)
			 : obs_wal_append2(t->wal, REC_CARRY, &handle, 8, p, n);
	if (rc) {
		if (fresh)
			carry_free(fresh);
	} else if (!n) {
		*cp = c->next;
		carry_free(c);
	} else {
		if (fresh)
			*cp = fresh;
		if (!add)
			c->b.len = 0;
		obs_buf_append(&c->b, p + (add ? from : 0), add ? n - from : n);   /* reserved: cannot fail */
	}
out:
	pthread_mutex_unlock(&t->mu);
	return rc;
}

/* ---- housekeeping -------------------------------------------------------------------------- */

/* Render RED metrics (under mu); the caller ingests them unlocked. */
static int red_take(struct obs_traces *t, int64_t now, struct obs_buf *out)
{
	if (!t->db || !t->red || !obs_red_dirty(t->red) || now <= t->last_red_ms)
		return 0;
	t->last_red_ms = now;
	return obs_red_render(t->red, now, out);
}

static void red_write(struct obs_traces *t, struct obs_buf *b)
{
	if (!b->len)
		return;
	struct obs_ingest_result ir;
	obs_db_ingest(t->db, b->data, b->len, OBS_FMT_PROM, "traces/red", 1, &ir);
}

struct relog { struct obs_traces *t; struct obs_buf b; uint8_t type; };

static int relog_flush(struct relog *r)
{
	int rc = r->b.len ? obs_wal_append(r->t->wal, r->type, r->b.data, r->b.len) : 0;
	obs_buf_reset(&r->b);
	return rc;
}

static int relog_decision(void *ctx, const uint8_t id[16], int keep)
{
	struct relog *r = ctx;
	uint8_t k = (uint8_t)keep;
	if (obs_buf_append(&r->b, id, 16) || obs_buf_append(&r->b, &k, 1))
		return -ENOMEM;
	return r->b.len >= RELOG_CHUNK ? relog_flush(r) : 0;
}

static int relog_span(void *ctx, const uint8_t *blob, size_t n)
{
	struct relog *r = ctx;
	if (obs_buf_varint(&r->b, n) || obs_buf_append(&r->b, blob, n))
		return -ENOMEM;
	return r->b.len >= RELOG_CHUNK ? relog_flush(r) : 0;
}

/* Write the store's sealed segment with mu dropped (ckpt_mu and mu held on
 * entry and on return): ingest goes on while it is compressed. */
static int write_unlocked(struct obs_traces *t)
{
	pthread_mutex_unlock(&t->mu);
	int rc = obs_tstore_write_sealed(t->store);
	pthread_mutex_lock(&t->mu);
	return rc;
}

/* ckpt_mu and mu held (mu is dropped while segments are written). */
static int checkpoint_locked(struct obs_traces *t, int64_t now)
{
	int rc = pend_flush(t);
	struct obs_buf kept = kept_take(t);
	int r2 = kept_drain(t, &kept, 1);   /* decided before the cut: into this segment */
	if (!rc)
		rc = r2;
	if (!rc)
		rc = write_unlocked(t);   /* a segment a failed checkpoint left */
	/* what was kept before the cut goes into the sealed segment, so the
	 * journal before the cut may go once that is written */
	if (!rc)
		rc = obs_tstore_seal(t->store);
	uint64_t segno;
	if (rc || (rc = obs_fault("traces.ckpt.cut")) || (rc = obs_wal_cut(t->wal, &segno)))
		return rc;
	struct relog r = { t, { 0 }, REC_DECISIONS };
	obs_buf_init(&r.b);
	rc = obs_tasm_foreach_decision(t->as, relog_decision, &r);
	if (!rc)
		rc = relog_flush(&r);
	r.type = REC_SPANS;
	if (!rc)
		rc = obs_tasm_foreach_span(t->as, relog_span, &r);
	if (!rc)
		rc = relog_flush(&r);
	for (struct carry *c = t->carries; c && !rc; c = c->next)
		rc = obs_wal_append2(t->wal, REC_CARRY, &c->handle, 8, c->b.data, c->b.len);
	obs_buf_release(&r.b);
	if (!rc)
		rc = write_unlocked(t);
	/* everything is in the new segments (or a segment file): the old go */
	if (!rc)
		rc = obs_fault("traces.ckpt.remove");
	if (!rc)
		rc = obs_wal_remove_before(t->wal, segno);
	if (!rc) {
		t->last_ckpt_ms = now;
		t->st.checkpoints++;
	}
	return rc;
}

int obs_traces_checkpoint(struct obs_traces *t, int64_t now_ms)
{
	pthread_mutex_lock(&t->ckpt_mu);
	pthread_mutex_lock(&t->mu);
	int rc = t->wal ? checkpoint_locked(t, now_ms) : 0;
	pthread_mutex_unlock(&t->mu);
	pthread_mutex_unlock(&t->ckpt_mu);
	return rc;
}

int obs_traces_tick(struct obs_traces *t, int64_t now_ms)
{
	struct obs_buf red;
	obs_buf_init(&red);
	pthread_mutex_lock(&t->ckpt_mu);
	pthread_mutex_lock(&t->mu);
	t->defer = 1;
	int rc = obs_tasm_tick(t->as, now_ms);
	t->defer = 0;
	int r2 = pend_flush(t);
	if (!rc)
		rc = r2;
	if (now_ms - t->last_red_ms >= t->o.red_interval_ms)
		red_take(t, now_ms, &red);
	int due = now_ms - t->last_ckpt_ms >= t->o.checkpoint_ms;
	int retain = now_ms - t->last_retain_ms >= 60000;
	if (retain)
		t->last_retain_ms = now_ms;
	struct obs_buf kept = kept_take(t);
	pthread_mutex_unlock(&t->mu);
	/* the kept traces go to the store (indexed) while ingest goes on */
	r2 = kept_drain(t, &kept, 0);
	pthread_mutex_unlock(&t->ckpt_mu);
	if (!rc)
		rc = r2;
	red_write(t, &red);
	obs_buf_release(&red);
	struct obs_tstore_stats ss;
	obs_tstore_get_stats(t->store, &ss);
	if (!rc && (obs_tstore_full(t->store) || ((ss.open_traces || ss.sealed_traces) && due)))
		rc = obs_traces_checkpoint(t, now_ms);
	if (retain) {
		int r3 = obs_tstore_retain(t->store, now_ms);
		if (!rc)
			rc = r3;
	}
	return rc;
}

int obs_traces_flush_all(struct obs_traces *t, int64_t now_ms)
{
	pthread_mutex_lock(&t->ckpt_mu);
	pthread_mutex_lock(&t->mu);
	t->defer = 1;
	int rc = obs_tasm_flush(t->as, now_ms);
	t->defer = 0;
	int r2 = pend_flush(t);
	struct obs_buf kept = kept_take(t);
	pthread_mutex_unlock(&t->mu);
	int r3 = kept_drain(t, &kept, 0);
	pthread_mutex_unlock(&t->ckpt_mu);
	if (!rc)
		rc = r2;
	if (!rc)
		rc = r3;
	return rc;
}

int obs_traces_sync(struct obs_traces *t, int64_t now_ms)
{
	struct obs_buf red;
	obs_buf_init(&red);
	pthread_mutex_lock(&t->mu);
	red_take(t, now_ms, &red);
	int rc = t->wal ? obs_wal_sync(t->wal) : 0;
	pthread_mutex_unlock(&t->mu);
	red_write(t, &red);
	obs_buf_release(&red);
	return rc;
}

/* ---- policy ------------------------------------------------------------------------------- */

int obs_traces_set_policy(struct obs_traces *t, const char *text, size_t n, char *err, size_t errlen)
{
	struct obs_policy_set *ps;
	int rc = obs_policy_parse(text, n, &ps, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&t->mu);
	rc = write_policy_file(t->dir, text, n);
	if (rc) {
		snprintf(err, errlen, "cannot store the policy: %s", strerror(-rc));
		obs_policy_free(ps);
	} else {
		struct obs_tasm_opts ao;
		tasm_opts(t, ps, &ao);
		obs_tasm_set_policy(t->as, ps, &ao);
		obs_policy_free(t->ps);
		t->ps = ps;
	}
	pthread_mutex_unlock(&t->mu);
	return rc;
}

int obs_traces_policy_text(struct obs_traces *t, struct obs_buf *out)
{
	pthread_mutex_lock(&t->mu);
	int rc = obs_buf_puts(out, obs_policy_source(t->ps));
	pthread_mutex_unlock(&t->mu);
	return rc;
}

