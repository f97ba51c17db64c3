/* func_label.c — label_replace, label_join and the sort functions (sort,
 * sort_desc, sort_by_label[_desc] with natural ordering of values). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/regex.h"
#include "core/utf8.h"
#include "query/q.h"

static int name_ok(const char *s)
{
	return s[0] && obs_utf8_valid(s, strlen(s));
}

/* Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$. */
static int expand(struct obs_buf *o, const char *tmpl, const char *subj, pcre2_code *re, pcre2_match_data *md)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
	uint32_t ng = pcre2_get_ovector_count(md);
	int rc = 0;
	for (const char *p = tmpl; *p; p++) {
		if (*p != '$') {
			rc |= obs_buf_putc(o, *p);
			continue;
		}
		p++;
		if (*p == '$') {
			rc |= obs_buf_putc(o, '$');
			continue;
		}
		char name[128];
		size_t nl = 0;
		if (*p == '{') {
			const char *e = strchr(p, '}');
			if (!e || e == p + 1 || (size_t)(e - p - 1) >= sizeof(name)) {
				rc |= obs_buf_putc(o, '$');
				p--;
				continue;
			}
			memcpy(name, p + 1, (size_t)(e - p - 1));
			nl = (size_t)(e - p - 1);
			p = e;
		} else {
			while ((isalnum((unsigned char)p[nl]) || p[nl] == '_') && nl < sizeof(name) - 1) {
				name[nl] = p[nl];
				nl++;
			}
			if (!nl) {
				rc |= obs_buf_putc(o, '$');
				p--;
				continue;
			}
			p += nl - 1;
		}
		name[nl] = 0;
		long idx = -1;
		int numeric = 1;
		for (size_t i = 0; i < nl; i++)
			if (!isdigit((unsigned char)name[i]))
				numeric = 0;
		if (numeric)
			idx = strtol(name, NULL, 10);
		else
			idx = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
		if (idx >= 0 && (uint32_t)idx < ng && ov[2 * idx] != PCRE2_UNSET)
			rc |= obs_buf_append(o, subj + ov[2 * idx], ov[2 * idx + 1] - ov[2 * idx]);
	}
	return rc;
}

static int fn_label_replace(struct q_ev *ev, struct q_val *args, struct q_val *out)
{
	const char *dst = args[1].str, *repl = args[2].str, *src = args[3].str, *regex = args[4].str;
	if (!name_ok(dst))
		return q_errf(ev, -EINVAL, "invalid destination label name in label_replace(): %s", dst);
	struct obs_buf pat, res;
	obs_buf_init(&pat);
	obs_buf_init(&res);
	if (obs_buf_printf(&pat, "^(?:%s)$", regex) != 0)
		return q_errf(ev, -ENOMEM, "out of memory");
	int err;
	PCRE2_SIZE eoff;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_UTF | PCRE2_DOTALL | PCRE2_NO_UTF_CHECK, &err, &eoff, NULL);
	obs_buf_release(&pat);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(err, msg, sizeof(msg));
		return q_errf(ev, -EINVAL, "invalid regular expression in label_replace(): %s", (char *)msg);
	}
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = md ? 0 : q_errf(ev, -ENOMEM, "out of memory");
	out->type = VT_VECTOR;
	out->m = args[0].m;
	memset(&args[0].m, 0, sizeof(args[0].m));
	for (size_t k = 0; k < out->m.n && !rc; k++) {
		struct q_ser *s = &out->m.s[k];
		free(s->t);
		s->t = NULL;
		const char *v = obs_labels_get(&s->l, src);
		if (!v)
			v = "";
		if (pcre2_match(re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL) < 0)
			continue;
		obs_buf_reset(&res);
		if (expand(&res, repl, v, re, md) != 0 || q_labels_set(&s->l, dst, res.data ? res.data : "") != 0)
			rc = q_errf(ev, -ENOMEM, "out of memory");
		if (strcmp(dst, "__name__") == 0)
			s->dropname = 0;
	}
	obs_buf_release(&res);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc;
}

static int fn_label_join(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	const char *dst = args[1].str, *sep = args[2].str;
	if (!name_ok(dst))
		return q_errf(ev, -EINVAL, "invalid destination label name in label_join(): %s", dst);
	for (size_t a = 3; a < n->nargs; a++)
		if (!name_ok(args[a].str))
			return q_errf(ev, -EINVAL, "invalid source label name in label_join(): %s", args[a].str);
	struct obs_buf res;
	obs_buf_init(&res);
	int rc = 0;
	out->type = VT_VECTOR;
	out->m = args[0].m;
	memset(&args[0].m, 0, sizeof(args[0].m));
	for (size_t k = 0; k < out->m.n && !rc; k++) {
		struct q_ser *s = &out->m.s[k];
		free(s->t);
		s->t = NULL;
		obs_buf_reset(&res);
		for (size_t a = 3; a < n->nargs; a++) {
			const char *v = obs_labels_get(&s->l, args[a].str);
			if (a > 3)
				rc |= obs_buf_puts(&res, sep);
			rc |= obs_buf_puts(&res, v ? v : "");
		}
		if (rc || q_labels_set(&s->l, dst, res.data ? res.data : "") != 0)
			rc = q_errf(ev, -ENOMEM, "out of memory");
		if (strcmp(dst, "__name__") == 0)
			s->dropname = 0;
	}
	obs_buf_release(&res);
	return rc;
}

int q_fn_label(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	if (strcmp(n->fn->name, "label_replace") == 0)
		return fn_label_replace(ev, args, out);
	return fn_label_join(ev, n, args, out);
}

/* facette/natsort: digit runs compare as integers, other runs as strings;
 * 1 when a sorts before b. */
static int nat_less(const char *a, const char *b)
{
	for (;;) {
		if (!*a)
			return 1;     /* a's chunks exhausted while equal: Go returns true */
		if (!*b)
			return 0;
		int da = isdigit((unsigned char)*a) != 0, db = isdigit((unsigned char)*b) != 0;
		size_t la = 0, lb = 0;
		while (a[la] && (isdigit((unsigned char)a[la]) != 0) == da)
			la++;
		while (b[lb] && (isdigit((unsigned char)b[lb]) != 0) == db)
			lb++;
		int last_a = !a[la], last_b = !b[lb];
		if (da && db && la < 19 && lb < 19) {
			long long x = strtoll(a, NULL, 10), y = strtoll(b, NULL, 10);
			if (x != y)
				return x < y;
		} else {
			size_t m = la < lb ? la : lb;
			int c = memcmp(a, b, m);
			if (c || la != lb)
				return c ? c < 0 : la < lb;
		}
		if (last_a)
			return 1;
		if (last_b)
			return 0;
		a += la;
		b += lb;
	}
}

struct sort_ctx {
	const struct q_node *n;
	struct q_val *args;
	int mode;   /* 0 sort, 1 sort_desc, 2 by label, 3 by label desc */
};
static int sort_cmp(const void *x, const void *y, void *ctx)
{
	const struct q_ser *a = x, *b = y;
	const struct sort_ctx *c = ctx;
	if (c->mode < 2) {
		double va = a->v[0], vb = b->v[0];
		if (isnan(va) || isnan(vb))
			return isnan(va) && isnan(vb) ? 0 : isnan(va) ? 1 : -1;
		if (va == vb)
			return 0;
		return (c->mode == 0) == (va < vb) ? -1 : 1;
	}
	int desc = c->mode == 3;
	for (size_t i = 1; i < c->n->nargs; i++) {
		const char *la = obs_labels_get(&a->l, c->args[i].str), *lb = obs_labels_get(&b->l, c->args[i].str);
		la = la ? la : "";
		lb = lb ? lb : "";
		if (strcmp(la, lb) == 0)
			continue;
		int lt = nat_less(la, lb);
		return desc ? (lt ? 1 : -1) : (lt ? -1 : 1);
	}
	int r = obs_labels_cmp(&a->l, &b->l);
	return desc ? -r : r;
}

int q_fn_sort(struct q_ev *ev, const struct q_node *n, struct q_val *args, struct q_val *out)
{
	const char *nm = n->fn->name;
	struct sort_ctx c = { .n = n, .args = args,
		.mode = strcmp(nm, "sort") == 0 ? 0 : strcmp(nm, "sort_desc") == 0 ? 1 :
			strcmp(nm, "sort_by_label") == 0 ? 2 : 3 };
	out->type = VT_VECTOR;
	out->m = args[0].m;
	memset(&args[0].m, 0, sizeof(args[0].m));
	for (size_t k = 0; k < out->m.n; k++) {
		free(out->m.s[k].t);
		out->m.s[k].t = NULL;
	}
	if (ev->qstep) {
		q_warnf(ev, n, "PromQL warning: sort is ineffective for range queries since results are always ordered by labels");
		return 0;
	}
	if (out->m.n < 2)
		return 0;
	qsort_r(out->m.s, out->m.n, sizeof(*out->m.s), sort_cmp, &c);   /* glibc: reentrant */
	return 0;
}
