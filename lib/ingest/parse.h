/* parse.h — metric line formats: Prometheus text exposition / OpenMetrics,
 * Influx line protocol, Graphite plaintext, StatsD; and the per-series
 * "VALUE" / "TIME VALUE" lines. Format is detected per line (OBS_FMT_AUTO).
 *
 * Detection (leading/trailing blanks and a '\r' are trimmed first): a line
 * starting with '#' is a Prometheus comment (# TYPE/HELP/UNIT -> meta).
 * Otherwise the first token (up to the first space or tab) is scanned left
 * to right and the first decisive byte wins:
 *   '{'                       -> Prometheus
 *   ',' or '\\' (an escape)   -> Influx (measurement,tags)
 *   ';'                       -> Graphite (path;tag=v)
 *   ':' followed by a '|' before any blank or '{' -> StatsD (name:value|type)
 * If none decides: a second token containing '=' -> Influx (`cpu value=1`);
 * else a first token with '.' -> Graphite; else Prometheus. Per-format
 * details (names, labels, timestamps, keys) are at the top of prom.c,
 * influx.c, graphite.c and statsd.c. With a fixed fmt, no detection is done
 * and '#' lines are comments.
 *
 * OpenMetrics is decided per call (one write): with fmt AUTO or PROM, the
 * buffer is OpenMetrics when it holds a line `# EOF`, a `# UNIT ...` line, a
 * `# TYPE name info|stateset|gaugehistogram|unknown` line, a
 * `# TYPE foo counter` line whose next sample line is `foo_total...` (the
 * OpenMetrics counter family; Prometheus text names it foo_total), a sample
 * line with an exemplar (`... # {labels} value [ts]`), or (in a buffer with
 * a comment line) a line whose first token is a name ending in `_created`.
 * Then every Prometheus-format timestamp in it is seconds, integers too
 * (`a_total 0 123` is 123 s); otherwise integers are ms. A buffer without a
 * '#' costs one memchr.
 *
 * A Prometheus-format line's value may be the word `stale` (a staleness
 * marker, obs_num_parse_sample); other formats have no marker.
 *
 * Parsers are pure (no I/O, no allocation in the hot path): they call back
 * once per sample with pointers into the input (or into parser scratch that is
 * valid during the callback only). They never read outside [buf, buf+n), for
 * any bytes (they are fuzzed). */
#ifndef OBS_INGEST_PARSE_H
#define OBS_INGEST_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/labels.h"

#define OBS_TS_NONE INT64_MIN
/* The OpenMetrics limit on an exemplar's label set: characters (code
 * points) of its names and values together. */
#define OBS_EXEMPLAR_MAX_CHARS 128

enum obs_fmt { OBS_FMT_AUTO, OBS_FMT_PROM, OBS_FMT_INFLUX, OBS_FMT_GRAPHITE, OBS_FMT_STATSD };

struct obs_sample_in {
	/* Bytes that identify the series among lines of the same format (e.g.
	 * `up{job="a"}` as written): equal keys mean the same series, so callers
	 * may cache key -> series and skip building labels. */
	const char *key;
	size_t keylen;
	enum obs_fmt fmt;
	const char *name;            /* metric name, already valid Prometheus form */
	size_t namelen;
	struct obs_rawlabel labels[OBS_MAX_LABELS];
	int nlabels;                 /* without __name__ */
	int64_t ts_ms;               /* OBS_TS_NONE when the line had no timestamp,
	                              * else within [OBS_TIME_VALID_MIN, OBS_TIME_VALID_MAX] */
	double value;
	/* An OpenMetrics exemplar after the sample (`# {labels} value [ts]`):
	 * exemplar is 0 (none), 1 (ex_* below are set) or -1 (invalid: ex_why
	 * says why; the sample itself is good). */
	int exemplar;
	const char *ex_labels;       /* "{k=\"v\",...}" as written */
	size_t ex_labelslen;
	double ex_value;
	int64_t ex_ts;               /* ms, OBS_TS_NONE when it had none */
	const char *ex_text;         /* "# {...} value [ts]" as written (errors) */
	size_t ex_textlen;
	const char *ex_why;          /* exemplar -1: the reason */
	/* StatsD lines only (fmt OBS_FMT_STATSD), for aggregators: */
	char st_type;                /* 'c' counter, 'g' gauge, 'm' timer (ms), 'h', 'd', 's' set */
	char st_sign;                /* a gauge written "+N" or "-N" (a delta): '+' or '-', else 0 */
	double st_rate;              /* the |@rate sample rate (1 when absent) */
	const char *st_member;       /* a set's member as written (value is 1) */
	size_t st_memberlen;
};

struct obs_parse_cb {
	/* A sample. Non-zero return stops parsing and is returned by obs_parse_lines. */
	int (*sample)(void *ctx, const struct obs_sample_in *s);
	/* # TYPE / # HELP / # UNIT metadata (may be NULL). kind is "TYPE", "HELP" or "UNIT". */
	void (*meta)(void *ctx, const char *kind, const char *name, size_t namelen,
		     const char *text, size_t textlen);
	/* A rejected line (may be NULL): its 1-based number, bytes, and a static reason. */
	void (*error)(void *ctx, size_t lineno, const char *line, size_t len, const char *why);
	void *ctx;
};

/* Parse every line of buf (a final line without '\n' counts as a line; empty
 * lines and comments are skipped). Line numbers start at first_lineno.
 * Returns the number of rejected lines (>= 0), or the non-zero value a
 * sample callback returned. */
long obs_parse_lines(const char *buf, size_t n, enum obs_fmt fmt, size_t first_lineno,
		     const struct obs_parse_cb *cb);

/* One line written to a series file: "VALUE" or "TIME VALUE" (TIME as
 * obs_time_parse accepts, whitespace-separated); VALUE may be `stale`, a
 * staleness marker. *ts_ms = OBS_TS_NONE when
 * no time was given. -EINVAL with *why on failure. */
int obs_parse_value_line(const char *s, size_t n, int64_t *ts_ms, double *v, const char **why);

#endif
