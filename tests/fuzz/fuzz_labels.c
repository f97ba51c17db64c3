// sources: lib/core/labels.c lib/core/buf.c lib/core/utf8.c
/* fuzz_labels.c — libFuzzer harness for series text and file names.
 *
 * The input is parsed as series text. A rejected input must give -EINVAL or
 * -ENOMEM, a reason, and an empty set. An accepted one must be canonical after
 * one round: format -> parse -> format gives the same text, every label has a
 * valid name and a non-empty value, names are sorted and unique, and at most
 * OBS_MAX_LABELS of them. Both the input bytes and the canonical text must
 * survive obs_fname_encode -> obs_fname_decode unchanged, and an encoded name
 * holds no '/' (nor NUL). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"

static void check_fname(const char *s, size_t n)
{
	struct obs_buf enc, dec;
	obs_buf_init(&enc);
	obs_buf_init(&dec);
	if (obs_fname_encode(s, n, &enc))
		abort();
	if (memchr(enc.data ? enc.data : "", '/', enc.len) || memchr(enc.data ? enc.data : "", '\0', enc.len))
		abort();
	/* a NUL byte is encoded as %00, which decode refuses (file names of
	 * canonical series text never contain NUL); everything else must round-trip */
	int rc = obs_fname_decode(enc.data ? enc.data : "", enc.len, &dec);
	if (memchr(s, '\0', n)) {
		if (rc != -EINVAL)
			abort();
	} else if (rc || dec.len != n || (n && memcmp(dec.data, s, n)))
		abort();
	obs_buf_release(&enc);
	obs_buf_release(&dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 8192)
		return 0;
	const char *s = (const char *)data;
	struct obs_labels l;
	const char *why = NULL;
	int rc = obs_labels_parse(s, size, &l, &why);

	/* arbitrary decode must not crash either */
	struct obs_buf d;
	obs_buf_init(&d);
	(void)obs_fname_decode(s, size, &d);
	obs_buf_release(&d);
	check_fname(s, size);

	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || !why || l.n != 0)
			abort();
		return 0;
	}
	if (l.n > OBS_MAX_LABELS)
		abort();
	for (size_t i = 0; i < l.n; i++) {
		const char *nm = l.v[i].name, *v = l.v[i].value;
		if (!nm || !v || !v[0])
			abort();
		int ok = strcmp(nm, "__name__") == 0 ? obs_metric_name_valid(v, strlen(v))
						     : obs_label_name_valid(nm, strlen(nm));
		if (!ok)
			abort();
		if (i && strcmp(l.v[i - 1].name, nm) >= 0)
			abort();
		if (obs_labels_get(&l, nm) != v)
			abort();
	}

	struct obs_buf c1, c2;
	obs_buf_init(&c1);
	obs_buf_init(&c2);
	if (obs_labels_format(&l, &c1))
		abort();
	struct obs_labels l2;
	why = NULL;
	if (obs_labels_parse(c1.data, c1.len, &l2, &why))
		abort();   /* canonical text must parse */
	if (l2.n != l.n)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.v[i].name, l2.v[i].name) || strcmp(l.v[i].value, l2.v[i].value))
			abort();
	if (obs_labels_format(&l2, &c2))
		abort();
	if (c1.len != c2.len || memcmp(c1.data, c2.data, c1.len))
		abort();
	check_fname(c1.data, c1.len);

	struct obs_labels l3;
	obs_labels_init(&l3);
	if (obs_labels_copy(&l3, &l) || l3.n != l.n)
		abort();
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.v[i].name, l3.v[i].name) || strcmp(l.v[i].value, l3.v[i].value))
			abort();

	obs_labels_release(&l3);
	obs_labels_release(&l2);
	obs_labels_release(&l);
	obs_buf_release(&c1);
	obs_buf_release(&c2);
	return 0;
}
