/* yamldoc.h — a YAML document read the way Go's yaml.v3 strict decoding
 * reads Prometheus and Alertmanager files (libobs alert; libyaml inside).
 *
 * Errors use yaml.v3's words so messages match promtool's: syntax errors
 * "yaml: line N: PROBLEM", decoding errors "line N: field X not found in
 * type T", "line N: mapping key \"X\" already defined at line M", "line N:
 * cannot unmarshal !!seq into string". Lines and columns are 1-based. */
#ifndef OBS_ALERT_YAMLDOC_H
#define OBS_ALERT_YAMLDOC_H

#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "core/buf.h"

struct obs_ydoc {
	yaml_document_t doc;
	int loaded;
};

/* Load the first document of text. On a syntax error returns -EINVAL with
 * "yaml: line N: PROBLEM" in err. An empty text is a document without a
 * root (obs_ydoc_root gives NULL). Release in every case. */
int obs_ydoc_load(struct obs_ydoc *d, const char *text, size_t n, char *err, size_t errlen);
void obs_ydoc_release(struct obs_ydoc *d);

yaml_node_t *obs_ydoc_root(struct obs_ydoc *d);
yaml_node_t *obs_ydoc_node(struct obs_ydoc *d, int id);

static inline int obs_ynode_line(const yaml_node_t *n) { return n ? (int)n->start_mark.line + 1 : 0; }
static inline int obs_ynode_col(const yaml_node_t *n) { return n ? (int)n->start_mark.column + 1 : 0; }

/* A null: absent (NULL), or a plain scalar "", "~", "null", "Null", "NULL". */
int obs_ynode_is_null(const yaml_node_t *n);

/* The scalar's text as Go decodes it into a string: any scalar gives its
 * text, null gives "". Appends an error and returns NULL for a sequence or
 * mapping ("line N: cannot unmarshal !!seq into string"). The pointer is
 * into the document. */
const char *obs_ynode_str(const yaml_node_t *n, struct obs_buf *errs);

/* Iterate a mapping strictly: calls fn(ctx, key, value) for each pair whose
 * key is in known (NULL-terminated); an unknown key appends "line N: field
 * KEY not found in type TYPE", a repeated key "line N: mapping key \"KEY\"
 * already defined at line M". A non-mapping (other than null) appends
 * "line N: cannot unmarshal !!TAG into TYPE". fn may append more errors.
 * Returns 0 or -ENOMEM. */
typedef int (*obs_ymap_fn)(void *ctx, struct obs_ydoc *d, const char *key, yaml_node_t *val);
int obs_ymap_each(struct obs_ydoc *d, yaml_node_t *map, const char *const *known, const char *type,
		  obs_ymap_fn fn, void *ctx, struct obs_buf *errs);

/* The same for a mapping of string to string (labels, annotations, test
 * expectations): fn gets key and value texts, pairs in file order;
 * duplicates and non-scalar values are errors. */
typedef int (*obs_ykv_fn)(void *ctx, const char *key, const char *val, int line);
int obs_ymap_strings(struct obs_ydoc *d, yaml_node_t *map, obs_ykv_fn fn, void *ctx, struct obs_buf *errs);

/* Sequence items: count and the i'th node (a null gives an empty sequence;
 * anything else but a sequence appends "cannot unmarshal !!TAG into TYPE"
 * and gives 0). */
size_t obs_yseq_len(struct obs_ydoc *d, yaml_node_t *seq, const char *type, struct obs_buf *errs);
yaml_node_t *obs_yseq_item(struct obs_ydoc *d, yaml_node_t *seq, size_t i);

/* Prometheus' model.Duration text: [0-9]+ with units y w d h m s ms in
 * that order, each at most once, or "0". 0 or -EINVAL / -ERANGE. */
int obs_model_duration_parse(const char *s, int64_t *ms);
/* The inverse, as model.Duration.String() prints it ("1h30m", "0s"). buf >= 32. */
int obs_model_duration_format(int64_t ms, char *buf);

/* Append an error line (a newline is added). */
int obs_yerr(struct obs_buf *errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
