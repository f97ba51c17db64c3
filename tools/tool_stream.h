/* tool_stream.h — the "TIME VALUE" line stream shared by obs-rate, obs-agg,
 * obs-spark and obs-alert (CLI glue, not libobs).
 *
 * Input lines, one sample each:
 *
 *     TIME VALUE                   2026-11-21T10:00:00.000Z 42
 *     KEY TIME VALUE               web1 1795236131.643 42      (first column)
 *     FILE:TIME VALUE              a.txt:2026-11-21T10:00:00Z 42   (grep . a b)
 *
 * TIME is anything obs_time_parse() accepts (RFC3339 or epoch seconds, or
 * 13+ digit epoch milliseconds), detected per line; VALUE anything
 * obs_num_parse() accepts; a line whose VALUE is `stale` (a staleness
 * marker, as MOUNT/export writes them) is no sample and is skipped. Fields are split on blanks from the right, so a
 * KEY may itself contain blanks. Blank lines and lines starting with '#' are
 * ignored. The series of a sample is its prefix (everything before TIME, with
 * the separator); samples of different series never mix.
 *
 * Output repeats the prefix exactly, so tools chain: what obs-rate prints
 * obs-agg reads. Times are printed in the format they arrived in unless the
 * caller forces one. */
#ifndef TOOL_STREAM_H
#define TOOL_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/obstime.h"

/* One series: created on first sight, owned by the reader, stable pointer. */
struct ts_series {
	char *prefix;        /* exact text before TIME, e.g. "a.txt:" or "web1 " */
	size_t prefix_len;
	char *name;          /* prefix without separator/blanks ("" when none) */
	size_t id;           /* 0, 1, 2 ... in order of first appearance */
	int64_t last_t;      /* time of the last accepted sample */
	int has_last;
	void *priv;          /* for the tool */
};

struct ts_sample {
	struct ts_series *s;
	int64_t t;           /* ms since the epoch */
	double v;
	enum obs_time_fmt fmt;
	const char *file;    /* input name for messages */
	unsigned long line;
};

enum {
	TS_QUIET = 1,        /* skip bad lines without a message */
	TS_UNSORTED = 2,     /* accept samples older than their series' last one */
	TS_BARE = 4,         /* accept "VALUE" alone: time = line number in seconds */
};

struct ts_in;

/* Read the named files in turn ("-" or none means stdin). prog prefixes
 * messages. Never NULL (exits on out of memory). */
struct ts_in *ts_in_open(const char *prog, char **files, int nfiles, unsigned flags);
/* Next sample: 1 got one, 0 end of input, 2 timeout (see ts_in_set_timeout).
 * Bad lines and out-of-order samples are reported on stderr with FILE:LINE
 * (unless TS_QUIET) and counted, never returned. */
int ts_in_next(struct ts_in *in, struct ts_sample *out);
/* Wait at most ms for input before ts_in_next returns 2 (-1: forever). */
void ts_in_set_timeout(struct ts_in *in, int ms);
/* Call before a blocking read (e.g. flush the output). */
void ts_in_set_idle(struct ts_in *in, void (*fn)(void *), void *arg);
/* Count of bad lines plus unreadable files. */
unsigned long ts_in_errors(const struct ts_in *in);
size_t ts_in_nseries(const struct ts_in *in);
struct ts_series *ts_in_series(const struct ts_in *in, size_t id);
/* Did any input line carry a series key? */
int ts_in_keyed(const struct ts_in *in);
void ts_in_close(struct ts_in *in);

/* Buffered writer on a file descriptor. */
struct ts_out {
	int fd;
	int err;             /* errno of the first failed write, 0 if none */
	int line_buffered;   /* flush after every ts_out_eol */
	size_t len, cap;
	char *buf;
};

void ts_out_init(struct ts_out *o, int fd, size_t cap);
void ts_out_flush(struct ts_out *o);
void ts_out_flush_cb(void *o);   /* for ts_in_set_idle */
/* Flush and release; returns 0 or the first write errno. */
int ts_out_release(struct ts_out *o);
void ts_out_mem(struct ts_out *o, const char *p, size_t n);
void ts_out_str(struct ts_out *o, const char *s);
void ts_out_char(struct ts_out *o, char c);
void ts_out_num(struct ts_out *o, double v);
void ts_out_time(struct ts_out *o, int64_t t, enum obs_time_fmt fmt);
void ts_out_eol(struct ts_out *o);
/* "PREFIX TIME VALUE\n" for series s (NULL: no prefix). */
void ts_out_sample(struct ts_out *o, const struct ts_series *s, int64_t t,
		   enum obs_time_fmt fmt, double v);

/* The argument of -T: "rfc3339" or "epoch" as an enum obs_time_fmt (tools
 * keep -1 for "as the input"). Exits with status 2 on any other word. */
int ts_time_fmt_arg(const char *s);

/* An argument that is either a count of samples ("3") or a duration ("5m"):
 * sets one of *count and *ms and returns 0, or -1 when it is neither. */
int ts_count_or_duration(const char *s, unsigned long *count, int64_t *ms);

/* End of a tool: release the output (reporting a write error), close
 * stdout checked, close the input. Returns 0, or 1 if anything failed
 * (write error, bad input lines, unreadable files). */
int ts_finish(const char *prog, struct ts_in *in, struct ts_out *o);

#endif
