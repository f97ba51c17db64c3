/* labels.h — series identity: metric name + label set (libobs core).
 *
 * The metric name is kept as the label "__name__". A label with an empty value
 * is the same as an absent label (Prometheus rule) and is dropped. The
 * canonical text of a label set is Prometheus notation with labels sorted by
 * name: `name{a="x",b="y"}`, just `name` when there are no other labels,
 * `{a="x"}` when there is no name. Values escape \ " and newline as \\ \" \n.
 * That text is the series' identity everywhere (index, WAL, file names). */
#ifndef OBS_CORE_LABELS_H
#define OBS_CORE_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define OBS_MAX_LABELS 64          /* per series, __name__ included */
#define OBS_MAX_LABEL_BYTES 4096   /* per name or value */

struct obs_label {
	const char *name;
	const char *value;
};

/* An owning, sorted label set. Strings live in one allocation with the array.
 * Zero-initialise or obs_labels_init() before use. */
struct obs_labels {
	struct obs_label *v;
	size_t n;
};

/* A label as a parser sees it: pointers into the input line. When escaped is
 * set, value holds Prometheus escapes (\\ \" \n) still to be decoded. */
struct obs_rawlabel {
	const char *name;
	const char *value;
	uint32_t nlen;
	uint32_t vlen;
	int escaped;
};

void obs_labels_init(struct obs_labels *l);
void obs_labels_release(struct obs_labels *l);   /* accepts NULL and empty sets */

/* Build a label set from a metric name (may be NULL/0 for none) and raw
 * labels: validates names (metric [a-zA-Z_:][a-zA-Z0-9_:]*, label
 * [a-zA-Z_][a-zA-Z0-9_]*), decodes escapes, drops empty values, sorts, and
 * rejects duplicate names. On error returns -EINVAL (or -ENOMEM), sets *why to
 * a static reason when why is non-NULL, and leaves *out empty. */
int obs_labels_build(struct obs_labels *out, const char *name, size_t nlen,
		     const struct obs_rawlabel *raw, int nraw, const char **why);

/* Parse series text `name{k="v",...}`, `name`, or `{k="v"}` (whitespace
 * around tokens allowed, trailing comma allowed). Same errors as build. */
int obs_labels_parse(const char *s, size_t n, struct obs_labels *out, const char **why);

/* Append the canonical text to out. */
int obs_labels_format(const struct obs_labels *l, struct obs_buf *out);

/* Value of a label, or NULL when absent. "__name__" gives the metric name. */
const char *obs_labels_get(const struct obs_labels *l, const char *name);

/* Order of label sets: pair by pair (name, then value, as strcmp), a set
 * before the longer sets it begins; <0, 0 or >0. Both sorted, as every
 * obs_labels is. equal: 1 when they hold the same pairs, else 0. */
int obs_labels_cmp(const struct obs_labels *a, const struct obs_labels *b);
int obs_labels_equal(const struct obs_labels *a, const struct obs_labels *b);

int obs_labels_copy(struct obs_labels *dst, const struct obs_labels *src);
/* The same into caller memory (an arena): obs_labels_bytes(src) bytes at
 * mem, aligned for struct obs_label; dst then points into mem. */
size_t obs_labels_bytes(const struct obs_labels *src);
void obs_labels_copy_to(struct obs_labels *dst, const struct obs_labels *src, void *mem);

/* Valid Prometheus metric / label name? */
int obs_metric_name_valid(const char *s, size_t n);
int obs_label_name_valid(const char *s, size_t n);

/* File-name form of a canonical series text: '%' -> %25, '/' -> %2F, and
 * NUL-free; decode reverses it (other %XX sequences are decoded too; a bad
 * escape is -EINVAL). */
int obs_fname_encode(const char *s, size_t n, struct obs_buf *out);
int obs_fname_decode(const char *s, size_t n, struct obs_buf *out);

#endif
