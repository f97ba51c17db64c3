/* parse_int.h — private to lib/ingest: the per-call parser context shared by
 * the format parsers (prom.c, influx.c, graphite.c, statsd.c) and parse.c,
 * which splits lines, detects formats and reports errors. */
#ifndef OBS_INGEST_PARSE_INT_H
#define OBS_INGEST_PARSE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "core/obstime.h"
#include "core/utf8.h"
#include "ingest/parse.h"

/* Character classes (bits of obs_pcls[c]). */
enum {
	PC_NAME0 = 1,   /* [a-zA-Z_:]  metric name start */
	PC_NAME = 2,    /* [a-zA-Z0-9_:] */
	PC_LNAME0 = 4,  /* [a-zA-Z_]   label name start */
	PC_LNAME = 8,   /* [a-zA-Z0-9_] */
	PC_VSTOP = 16,  /* '"' '\\' NUL and bytes >= 0x80: stop a label value scan */
	PC_SPACE = 32,  /* ' ' '\t' */
	PC_DET = 64,    /* bytes the format detector looks at */
	PC_DIGIT = 128, /* [0-9] */
};
extern const unsigned char obs_pcls[256];

/* Result of a one-line parser. */
enum { PL_OK = 0, PL_ERR = 1, PL_STOP = 2 };

struct obs_pctx {
	const struct obs_parse_cb *cb;
	struct obs_sample_in s;
	char *scratch;       /* line scratch for formats that rewrite names */
	size_t cap;
	const char *why;     /* reason when a parser returns PL_ERR */
	int stopval;         /* sample callback's value when PL_STOP */
	int om;              /* the write is OpenMetrics: Prometheus timestamps are seconds */
	int probe;           /* obs_p_prom: parse only (sets s.exemplar), do not emit */
};

static inline int pc_is(unsigned char c, int cls) { return obs_pcls[c] & cls; }

static inline const char *pc_skip_space(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static inline const char *pc_token_end(const char *p, const char *e)
{
	while (p < e && *p != ' ' && *p != '\t')
		p++;
	return p;
}

/* Length (2..4) of the valid UTF-8 sequence at p, 0 when invalid. *p >= 0x80. */
/* Valid UTF-8 without NUL bytes? */

/* Ensure the scratch holds at least need bytes. 0 or -ENOMEM. */
int obs_p_scratch(struct obs_pctx *c, size_t need);

/* Write the sanitized form of s[0..n) at out: bytes outside the class (PC_NAME
 * for metric names, PC_LNAME for label names) become '_', and a leading digit
 * gets a '_' prefix. Returns the length (at most n + 1; 1 for n == 0 gives "_"). */
size_t obs_p_sanitize(const char *s, size_t n, int cls, char *out);

/* A timestamp as text: [+-]digits[.digits][(e|E)[+-]digits] (only
 * [+-]digits when intonly) in units of 10^-shift ms (shift 3: seconds, 0: ms,
 * -6: ns), exact decimal arithmetic floored to whole ms. 0, -1 when it is not
 * a number, -2 when the time is outside [OBS_TIME_VALID_MIN, OBS_TIME_VALID_MAX]. */
int obs_p_ts(const char *s, size_t n, int shift, int intonly, int64_t *out);

/* pc_err reason for an obs_p_ts failure. */
static inline const char *pc_ts_why(int r)
{
	return r == -2 ? "timestamp out of range" : "invalid timestamp";
}

/* Emit c->s via the sample callback: PL_OK or PL_STOP. */
static inline int pc_emit(struct obs_pctx *c)
{
	int r = c->cb->sample ? c->cb->sample(c->cb->ctx, &c->s) : 0;

	if (r) {
		c->stopval = r;
		return PL_STOP;
	}
	return PL_OK;
}

static inline int pc_err(struct obs_pctx *c, const char *why)
{
	c->why = why;
	return PL_ERR;
}

/* One line each, [p, e) trimmed, no '\n'. */
int obs_p_prom(struct obs_pctx *c, const char *p, const char *e);
void obs_p_prom_comment(struct obs_pctx *c, const char *p, const char *e);
int obs_p_influx(struct obs_pctx *c, const char *p, const char *e);
int obs_p_graphite(struct obs_pctx *c, const char *p, const char *e);
int obs_p_statsd(struct obs_pctx *c, const char *p, const char *e);

#endif
