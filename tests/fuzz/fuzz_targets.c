// sources: tools/ship_targets.c lib/core/labels.c lib/core/obstime.c lib/core/buf.c lib/core/utf8.c lib/core/num.c
/* fuzz_targets.c — libFuzzer harness for obs-ship's targets file parser:
 * any bytes (an exact-size heap copy) give targets with an http(s) URL, a
 * job, valid label names, or -EINVAL with a reason and a line number within
 * the input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "../../tools/ship.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	char *text = malloc(n ? n : 1);
	memcpy(text, data, n);
	struct target_def *d = NULL;
	size_t nd = 0, ln = 0, lines = 1;
	const char *why = NULL;
	int rc = targets_parse(text, n, "job", &d, &nd, &ln, &why);
	for (size_t i = 0; i < n; i++)
		lines += text[i] == '\n';
	if (rc && (!why || ln == 0 || ln > lines))
		abort();
	for (size_t i = 0; i < nd; i++) {
		if (strncmp(d[i].url, "http://", 7) && strncmp(d[i].url, "https://", 8))
			abort();
		if (!d[i].job || !*d[i].job)
			abort();
		for (int k = 0; k < d[i].nlabels; k++)
			if (!obs_label_name_valid(d[i].lname[k], strlen(d[i].lname[k])))
				abort();
		target_def_release(&d[i]);
	}
	free(d);
	free(text);
	return 0;
}
