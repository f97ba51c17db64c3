// sources: lib/alert/amconfig.c lib/alert/route.c lib/alert/timeint.c lib/alert/amatch.c lib/index/matcher.c lib/core/regex.c lib/core/labels.c lib/core/buf.c lib/core/obstime.c lib/core/utf8.c
/* fuzz_amconfig.c — libFuzzer harness: arbitrary bytes as alerts/config.
 * A rejected config must give -EINVAL (or -ENOMEM) with a reason and no
 * config; an accepted one must have a root route with a receiver that
 * exists, route keys, and routing of a few label sets must stay inside the
 * tree. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct am_config *c = (void *)1;
	struct obs_buf err;
	obs_buf_init(&err);
	int rc = am_config_parse((const char *)data, size, &c, &err);
	if (rc) {
		if ((rc != -EINVAL && rc != -ENOMEM) || c || !err.len)
			abort();
		obs_buf_release(&err);
		return 0;
	}
	if (!c || !c->root.receiver || !am_config_receiver(c, c->root.receiver) || !c->root.key)
		abort();
	static const char *const sets[] = { "{alertname=\"a\"}", "{team=\"db\",severity=\"page\"}", "{x=\"\\n\"}" };
	for (size_t i = 0; i < 3; i++) {
		struct obs_labels l;
		if (obs_labels_parse(sets[i], strlen(sets[i]), &l, NULL))
			abort();
		const struct am_route *out[16];
		size_t k = am_route_match(&c->root, &l, out, 16);
		if (k == 0 || k > 16)
			abort();
		for (size_t j = 0; j < k; j++)
			if (!out[j]->receiver || !am_config_receiver(c, out[j]->receiver))
				abort();
		obs_labels_release(&l);
	}
	am_config_free(c);
	obs_buf_release(&err);
	return 0;
}
