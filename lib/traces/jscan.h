/* jscan.h — a strict, zero-tree JSON scanner (libobs traces, private).
 *
 * Two passes over a document's text, no node allocated:
 *   1. js_validate checks one JSON text the way jansson's json_loadb (flags
 *      0 or JSON_DISABLE_EOF_CHECK) accepts it: an object or array at the
 *      top, strict UTF-8, no control characters in strings, escapes incl.
 *      \uXXXX surrogate pairs (no \u0000), numbers without leading zeros,
 *      integers inside int64 and reals that do not overflow, nesting depth
 *      at most 2048 values. It tells a document cut short (JS_PREMATURE:
 *      more bytes could complete it) from a broken one (JS_INVALID) exactly
 *      where jansson says json_error_premature_end_of_input.
 *   2. The js_* navigation functions walk text that js_validate accepted:
 *      they do not check again and must not be given anything else.
 * Strings are views into the text when they hold no escape, otherwise
 * decoded into a js_arena (reset per document). */
#ifndef OBS_TRACES_JSCAN_H
#define OBS_TRACES_JSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "traces/span.h"

enum { JS_OK = 0, JS_PREMATURE = 1, JS_INVALID = 2 };
#define JS_MAX_DEPTH 2048

/* Where every object and array of a validated text ends (offsets from base,
 * in the order they open), so that skipping a container is one look-up
 * instead of a scan: nested content is then read once, not once per level.
 * Without it (NULL, or out of memory) the navigation scans. */
struct js_index {
	const char *base;
	uint32_t *open, *close;
	size_t n, cap, hint;
};
void js_index_release(struct js_index *ix);

/* Validate the JSON text p[0..n). With eof_check, only whitespace may
 * follow the value; without, *end is where the value ends. JS_OK,
 * JS_PREMATURE or JS_INVALID with why (a short reason and the byte offset).
 * ix (may be NULL) is filled for p. */
int js_validate(const char *p, size_t n, int eof_check, size_t *end, char *why, size_t wn, struct js_index *ix);

/* ---- arena: decoded strings, stable until js_arena_reset ------------------- */
struct js_blk;
struct js_arena { struct js_blk *head; char *p; size_t left; };
void js_arena_reset(struct js_arena *a);
void js_arena_release(struct js_arena *a);
/* n bytes (NULL when out of memory) */
char *js_arena_alloc(struct js_arena *a, size_t n);

/* ---- navigation over validated text ---------------------------------------- */
/* The type of the value at p (NULL: absent). */
enum js_type { JT_NONE = 0, JT_OBJ, JT_ARR, JT_STR, JT_TRUE, JT_FALSE, JT_NULL, JT_INT, JT_REAL };
enum js_type js_type(const char *p);
const char *js_ws(const char *p);
/* The byte after the value at p. */
const char *js_skip(struct js_index *ix, const char *p);

/* Scan the object at p: for every member whose key is names[i] (k names,
 * each under 64 bytes), slots[i] = its value (the last one wins, as
 * json_object_get). Slots of absent members are NULL. */
void js_object(struct js_index *ix, const char *p, const char *const *names, int k, const char **slots);

/* Iterate the members of the object at p: *it starts at NULL; 1 with the
 * key (decoded into a when escaped) and the value, 0 at the end, -ENOMEM. */
int js_member_next(struct js_index *ix, struct js_arena *a, const char *obj, const char **it, struct obs_str *key, const char **val);
/* Iterate the elements of the array at p: *it starts at NULL; 1 and *val, 0 at the end. */
int js_elem_next(struct js_index *ix, const char *arr, const char **it, const char **val);

/* The string at p, decoded (a view into the text when unescaped; with nul,
 * always a NUL-terminated copy in a). 0 or -ENOMEM. */
int js_str(struct js_arena *a, const char *p, int nul, struct obs_str *out);
/* The integer at p (JT_INT) */
int64_t js_int(const char *p);
/* The number at p (JT_INT or JT_REAL) as a double, as jansson's json_number_value */
double js_num(const char *p);

#endif
