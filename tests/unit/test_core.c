/* test_core.c — label sets, file-name escaping, the string map, the
 * rejection ring, varints (lib/core). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/errlog.h"
#include "core/labels.h"
#include "core/strmap.h"
#include "core/varint.h"

static char *canon_of(const char *text, const char **why)
{
	struct obs_labels l;
	if (obs_labels_parse(text, strlen(text), &l, why))
		return NULL;
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_labels_format(&l, &b), 0);
	obs_labels_release(&l);
	return obs_buf_detach(&b, NULL);
}

Test(labels, canonical_order_escapes_and_empty_values)
{
	const char *why = NULL;
	char *c = canon_of("up{job=\"node\", instance = \"a:9100\",}", &why);
	cr_assert_str_eq(c, "up{instance=\"a:9100\",job=\"node\"}");
	free(c);
	c = canon_of("m{b=\"x\\\"y\\\\z\\n\",a=\"\"}", &why);   /* empty value == absent */
	cr_assert_str_eq(c, "m{b=\"x\\\"y\\\\z\\n\"}");
	free(c);
	c = canon_of("plain", &why);
	cr_assert_str_eq(c, "plain");
	free(c);
	c = canon_of("{__name__=\"viaLabel\",z=\"1\"}", &why);
	cr_assert_str_eq(c, "viaLabel{z=\"1\"}");
	free(c);
}

Test(labels, rejects_bad_input_with_a_reason)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "1up", "invalid metric name" },
		{ "m{1a=\"x\"}", "invalid label name" },
		{ "m{a=\"x\",a=\"y\"}", "duplicate label name" },
		{ "m{a=\"\xff\"}", "label value is not valid UTF-8" },
		{ "m{a=\"x\"", "expected ',' or '}' in label set" },
		{ "m{a=x}", "expected '\"' before label value" },
		{ "m{a=\"x\"} junk", "trailing characters after series" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct obs_labels l;
		const char *why = NULL;
		cr_assert_eq(obs_labels_parse(bad[i].text, strlen(bad[i].text), &l, &why), -EINVAL, "%s", bad[i].text);
		cr_assert_str_eq(why, bad[i].why, "%s", bad[i].text);
		cr_assert_eq(l.n, 0u);
	}
}

Test(labels, get_and_copy)
{
	struct obs_labels l, d;
	cr_assert_eq(obs_labels_parse("m{k=\"v\"}", 8, &l, NULL), 0);
	cr_assert_str_eq(obs_labels_get(&l, "__name__"), "m");
	cr_assert_str_eq(obs_labels_get(&l, "k"), "v");
	cr_assert_null(obs_labels_get(&l, "x"));
	cr_assert_eq(obs_labels_copy(&d, &l), 0);
	obs_labels_release(&l);
	cr_assert_str_eq(obs_labels_get(&d, "k"), "v");
	obs_labels_release(&d);
}

static struct obs_labels L(const char *text)
{
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse(text, strlen(text), &l, &why), 0, "%s", text);
	return l;
}

Test(labels, cmp_orders_pair_by_pair_and_equal_needs_the_same_pairs)
{
	struct obs_labels a = L("m{a=\"1\"}"), b = L("m{a=\"2\"}"), c = L("m{a=\"1\",b=\"x\"}"),
			  d = L("m{a=\"1\"}"), e = L("{a=\"1\"}");
	cr_assert_lt(obs_labels_cmp(&a, &b), 0);
	cr_assert_gt(obs_labels_cmp(&b, &a), 0);
	cr_assert_lt(obs_labels_cmp(&a, &c), 0);   /* a prefix comes first */
	cr_assert_gt(obs_labels_cmp(&c, &a), 0);
	cr_assert_eq(obs_labels_cmp(&a, &d), 0);
	cr_assert_gt(obs_labels_cmp(&e, &a), 0);   /* a=1 against __name__=m: "__name__" sorts first */
	cr_assert(obs_labels_equal(&a, &d));
	cr_assert(!obs_labels_equal(&a, &c));
	cr_assert(!obs_labels_equal(&a, &b));
	struct obs_labels none;
	obs_labels_init(&none);
	cr_assert(obs_labels_equal(&none, &none));
	cr_assert_lt(obs_labels_cmp(&none, &e), 0);
	struct obs_labels *all[] = { &a, &b, &c, &d, &e };
	for (size_t i = 0; i < 5; i++)
		obs_labels_release(all[i]);
}

Test(fname, slash_and_percent_round_trip)
{
	const char *real = "fs{mountpoint=\"/var/lib\",pct=\"50%\"}";
	struct obs_buf e, d;
	obs_buf_init(&e);
	obs_buf_init(&d);
	cr_assert_eq(obs_fname_encode(real, strlen(real), &e), 0);
	cr_assert_str_eq(e.data, "fs{mountpoint=\"%2Fvar%2Flib\",pct=\"50%25\"}");
	cr_assert_eq(obs_fname_decode(e.data, e.len, &d), 0);
	cr_assert_str_eq(d.data, real);
	obs_buf_reset(&d);
	cr_assert_eq(obs_fname_decode("bad%2", 5, &d), -EINVAL);
	obs_buf_reset(&d);
	cr_assert_eq(obs_fname_decode("nul%00", 6, &d), -EINVAL);
	obs_buf_release(&e);
	obs_buf_release(&d);
}

Test(strmap, put_get_delete_many_then_free)
{
	struct obs_strmap *m = obs_strmap_new();
	char k[32];
	for (long i = 0; i < 20000; i++) {
		int n = sprintf(k, "key-%ld", i);
		cr_assert_eq(obs_strmap_put(m, obs_strmap_hash(k, (size_t)n), k, (size_t)n, (void *)(i + 1)), 0);
	}
	for (long i = 0; i < 20000; i += 3) {
		int n = sprintf(k, "key-%ld", i);
		cr_assert_eq(obs_strmap_del(m, obs_strmap_hash(k, (size_t)n), k, (size_t)n), (void *)(i + 1));
	}
	cr_assert_eq(obs_strmap_count(m), 20000u - 6667u);
	for (long i = 0; i < 20000; i++) {
		int n = sprintf(k, "key-%ld", i);
		void *v = obs_strmap_get(m, obs_strmap_hash(k, (size_t)n), k, (size_t)n);
		if (i % 3 == 0)
			cr_assert_null(v, "key-%ld should be gone", i);
		else
			cr_assert_eq(v, (void *)(i + 1), "key-%ld", i);
	}
	obs_strmap_free(m);   /* must not double-free keys moved by deletion */
}

Test(errlog, ring_keeps_newest_and_escapes_bytes)
{
	struct obs_errlog *e = obs_errlog_new(2);
	obs_errlog_add(e, 0, "ingest", 1, "first", 5, "why1");
	obs_errlog_add(e, 0, "ingest", 2, "caf\xc3\xa9 \x01\xff", 8, "why2");
	obs_errlog_add(e, 0, "metrics/x", 0, "third", 5, "why3");
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_errlog_render(e, &b), 0);
	cr_assert_null(strstr(b.data, "first"));
	cr_assert_not_null(strstr(b.data, "ingest:2: why2: caf\xc3\xa9 \\x01\\xff\n"));
	cr_assert_not_null(strstr(b.data, "metrics/x: why3: third\n"));
	cr_assert_eq(obs_errlog_total(e), 3u);
	/* a refusal without a line (a whole file) ends with its reason */
	obs_errlog_add(e, 0, "alerts/config", 0, "", 0, "undefined receiver");
	obs_buf_reset(&b);
	cr_assert_eq(obs_errlog_render(e, &b), 0);
	cr_assert_not_null(strstr(b.data, " alerts/config: undefined receiver\n"));
	obs_buf_release(&b);
	obs_errlog_free(e);
}

Test(varint, round_trip_and_truncation)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX };
	for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		uint8_t b[OBS_VARINT_MAX];
		size_t n = obs_varint_put(b, vals[i]), pos = 0;
		uint64_t got;
		cr_assert_eq(n, obs_varint_len(vals[i]));
		cr_assert_eq(obs_varint_get(b, n, &pos, &got), 0);
		cr_assert_eq(got, vals[i]);
		cr_assert_eq(pos, n);
		pos = 0;
		if (n > 1)
			cr_assert_eq(obs_varint_get(b, n - 1, &pos, &got), -EBADMSG);
		cr_assert_eq(obs_unzigzag(obs_zigzag((int64_t)vals[i])), (int64_t)vals[i]);
	}
	uint8_t over[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0 };
	size_t pos = 0;
	uint64_t got;
	cr_assert_eq(obs_varint_get(over, sizeof over, &pos, &got), -EBADMSG);
}

/* Unknown escapes (\q, \z, \t) are kept as written, as Prometheus does;
 * the canonical text escapes the kept backslash, and parses back the same. */
Test(labels, unknown_escapes_kept_as_written)
{
	struct obs_labels l, l2;
	struct obs_buf b;
	const char *why = NULL;
	const char *in = "m{a=\"x\\q\\z\\\\\\n\"}";

	obs_buf_init(&b);
	cr_assert_eq(obs_labels_parse(in, strlen(in), &l, &why), 0, "%s", why ? why : "");
	cr_assert_str_eq(obs_labels_get(&l, "a"), "x\\q\\z\\\n");
	cr_assert_eq(obs_labels_format(&l, &b), 0);
	cr_assert_str_eq(b.data, "m{a=\"x\\\\q\\\\z\\\\\\n\"}");
	cr_assert_eq(obs_labels_parse(b.data, b.len, &l2, &why), 0);
	cr_assert_str_eq(obs_labels_get(&l2, "a"), obs_labels_get(&l, "a"));
	obs_labels_release(&l);
	obs_labels_release(&l2);
	obs_buf_release(&b);
}
