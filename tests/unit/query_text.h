/* query_text.h — an instant vector as one line of text for the unit tests
 * that compare query answers ("{labels}=value;" per series, in order).
 * Header-only; include it after criterion.h. */
#ifndef OBS_TESTS_QUERY_TEXT_H
#define OBS_TESTS_QUERY_TEXT_H

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/labels.h"
#include "query/query.h"

/* Append r's series to out (a NUL-terminated buffer of n bytes). */
static inline void vector_text(const struct obs_query_result *r, char *out, size_t n)
{
	for (size_t i = 0; i < r->nseries; i++) {
		struct obs_buf b;
		obs_buf_init(&b);
		obs_labels_format(&r->series[i].labels, &b);
		char v[64];
		snprintf(v, sizeof v, "=%g;", r->series[i].v[0]);
		strncat(out, b.data ? b.data : "{}", n - strlen(out) - 1);
		strncat(out, v, n - strlen(out) - 1);
		obs_buf_release(&b);
	}
}

#endif
