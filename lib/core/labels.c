/* labels.c — label sets: validation, escaping, canonical text, file names. */
#include "core/labels.h"
#include "core/utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void obs_labels_init(struct obs_labels *l)
{
	l->v = NULL;
	l->n = 0;
}

void obs_labels_release(struct obs_labels *l)
{
	if (!l)
		return;
	free(l->v);   /* strings live in the same allocation */
	obs_labels_init(l);
}

static int is_alpha_(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

int obs_metric_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > OBS_MAX_LABEL_BYTES)
		return 0;
	if (!is_alpha_((unsigned char)s[0]) && s[0] != ':')
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alpha_(c) && !is_digit(c) && c != ':')
			return 0;
	}
	return 1;
}

int obs_label_name_valid(const char *s, size_t n)
{
	if (n == 0 || n > OBS_MAX_LABEL_BYTES || !is_alpha_((unsigned char)s[0]))
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alpha_(c) && !is_digit(c))
			return 0;
	}
	return 1;
}


/* Decode Prometheus escapes (\\ \" \n) of s into dst; any other escape
 * (\z, \t) is kept as written, as Prometheus does. Returns the length, or
 * -1 for a trailing lone backslash. */
static long unescape(const char *s, size_t n, char *dst)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			dst[o++] = s[i];
			continue;
		}
		if (++i == n)
			return -1;
		switch (s[i]) {
		case '\\': dst[o++] = '\\'; break;
		case '"': dst[o++] = '"'; break;
		case 'n': dst[o++] = '\n'; break;
		default: dst[o++] = '\\'; dst[o++] = s[i]; break;
		}
	}
	return (long)o;
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct obs_label *)a)->name, ((const struct obs_label *)b)->name);
}

#define FAIL(reason) do { if (why) *why = (reason); rc = -EINVAL; goto fail; } while (0)

int obs_labels_build(struct obs_labels *out, const char *name, size_t nlen,
		     const struct obs_rawlabel *raw, int nraw, const char **why)
{
	int rc;
	obs_labels_init(out);
	if (nraw < 0 || nraw + (name ? 1 : 0) > OBS_MAX_LABELS) {
		if (why)
			*why = "too many labels";
		return -EINVAL;
	}
	size_t strbytes = name ? nlen + sizeof "__name__" + 1 : 0;
	for (int i = 0; i < nraw; i++)
		strbytes += raw[i].nlen + raw[i].vlen + 2;
	size_t nmax = (size_t)nraw + 1;
	char *mem = malloc(nmax * sizeof(struct obs_label) + strbytes);
	if (!mem)
		return -ENOMEM;
	struct obs_label *v = (struct obs_label *)mem;
	char *s = mem + nmax * sizeof(struct obs_label);
	size_t n = 0;

	if (name && nlen) {
		if (!obs_metric_name_valid(name, nlen))
			FAIL("invalid metric name");
		memcpy(s, "__name__", sizeof "__name__");
		v[n].name = s;
		s += sizeof "__name__";
		memcpy(s, name, nlen);
		s[nlen] = 0;
		v[n++].value = s;
		s += nlen + 1;
	}
	for (int i = 0; i < nraw; i++) {
		const struct obs_rawlabel *r = &raw[i];
		if (!obs_label_name_valid(r->name, r->nlen))
			FAIL("invalid label name");
		if (r->nlen == 8 && !memcmp(r->name, "__name__", 8)) {
			if (name && nlen)
				FAIL("duplicate label name");
		}
		char *ln = s;
		memcpy(ln, r->name, r->nlen);
		ln[r->nlen] = 0;
		s += r->nlen + 1;
		char *lv = s;
		long vl;
		if (r->escaped) {
			vl = unescape(r->value, r->vlen, lv);
			if (vl < 0)
				FAIL("invalid escape in label value");
		} else {
			memcpy(lv, r->value, r->vlen);
			vl = r->vlen;
		}
		lv[vl] = 0;
		s += vl + 1;
		if (vl > OBS_MAX_LABEL_BYTES)   /* the value, not its escaped text */
			FAIL("label value too long");
		if (!obs_utf8_valid(lv, (size_t)vl))
			FAIL("label value is not valid UTF-8");
		if (vl == 0)
			continue;   /* empty value == absent label */
		if (!strcmp(ln, "__name__") && !obs_metric_name_valid(lv, (size_t)vl))
			FAIL("invalid metric name");
		v[n].name = ln;
		v[n++].value = lv;
	}
	qsort(v, n, sizeof *v, label_cmp);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(v[i - 1].name, v[i].name))
			FAIL("duplicate label name");
	if (n == 0)
		FAIL("empty label set");
	out->v = v;
	out->n = n;
	return 0;
fail:
	free(mem);
	return rc;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

int obs_labels_parse(const char *s, size_t n, struct obs_labels *out, const char **why)
{
	struct obs_rawlabel raw[OBS_MAX_LABELS];
	int nraw = 0;
	const char *p = s, *end = s + n;
	int rc;

	obs_labels_init(out);
	p = skip_ws(p, end);
	const char *name = p;
	while (p < end && *p != '{' && *p != ' ' && *p != '\t')
		p++;
	size_t nlen = (size_t)(p - name);
	p = skip_ws(p, end);
	if (p < end && *p == '{') {
		p++;
		for (;;) {
			p = skip_ws(p, end);
			if (p < end && *p == '}') {
				p++;
				break;
			}
			if (nraw == OBS_MAX_LABELS)
				FAIL("too many labels");
			const char *ln = p;
			while (p < end && *p != '=' && *p != ' ' && *p != '\t' && *p != '}' && *p != ',')
				p++;
			size_t lnl = (size_t)(p - ln);
			p = skip_ws(p, end);
			if (p >= end || *p != '=')
				FAIL("expected '=' after label name");
			p = skip_ws(p + 1, end);
			if (p >= end || *p != '"')
				FAIL("expected '\"' before label value");
			const char *lv = ++p;
			int esc = 0;
			while (p < end && *p != '"') {
				if (*p == '\\') {
					esc = 1;
					p++;
				}
				p++;
			}
			if (p >= end)
				FAIL("unterminated label value");
			raw[nraw++] = (struct obs_rawlabel){ ln, lv, (uint32_t)lnl, (uint32_t)(p - lv), esc };
			p = skip_ws(p + 1, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			if (p < end && *p == '}') {
				p++;
				break;
			}
			FAIL("expected ',' or '}' in label set");
		}
	}
	p = skip_ws(p, end);
	if (p != end)
		FAIL("trailing characters after series");
	return obs_labels_build(out, nlen ? name : NULL, nlen, raw, nraw, why);
fail:
	return rc;
}

int obs_labels_format(const struct obs_labels *l, struct obs_buf *out)
{
	const char *name = obs_labels_get(l, "__name__");
	int rc = 0, first = 1;
	if (name)
		rc = obs_buf_puts(out, name);
	if (l->n == (name ? 1u : 0u))
		return rc;
	rc |= obs_buf_putc(out, '{');
	for (size_t i = 0; i < l->n && !rc; i++) {
		if (!strcmp(l->v[i].name, "__name__"))
			continue;
		if (!first)
			rc |= obs_buf_putc(out, ',');
		first = 0;
		rc |= obs_buf_puts(out, l->v[i].name);
		rc |= obs_buf_append(out, "=\"", 2);
		for (const char *c = l->v[i].value; *c && !rc; c++) {
			if (*c == '\\')
				rc = obs_buf_append(out, "\\\\", 2);
			else if (*c == '"')
				rc = obs_buf_append(out, "\\\"", 2);
			else if (*c == '\n')
				rc = obs_buf_append(out, "\\n", 2);
			else
				rc = obs_buf_putc(out, *c);
		}
		rc |= obs_buf_putc(out, '"');
	}
	rc |= obs_buf_putc(out, '}');
	return rc ? -ENOMEM : 0;
}

const char *obs_labels_get(const struct obs_labels *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return l->v[i].value;
	return NULL;
}

int obs_labels_cmp(const struct obs_labels *a, const struct obs_labels *b)
{
	for (size_t i = 0; i < a->n && i < b->n; i++) {
		int c = strcmp(a->v[i].name, b->v[i].name);
		if (c)
			return c;
		c = strcmp(a->v[i].value, b->v[i].value);
		if (c)
			return c;
	}
	return (a->n > b->n) - (a->n < b->n);
}

int obs_labels_equal(const struct obs_labels *a, const struct obs_labels *b)
{
	return a->n == b->n && obs_labels_cmp(a, b) == 0;
}

size_t obs_labels_bytes(const struct obs_labels *src)
{
	size_t bytes = src->n * sizeof(struct obs_label);
	for (size_t i = 0; i < src->n; i++)
		bytes += strlen(src->v[i].name) + strlen(src->v[i].value) + 2;
	return bytes;
}

void obs_labels_copy_to(struct obs_labels *dst, const struct obs_labels *src, void *mem)
{
	struct obs_label *v = mem;
	char *s = (char *)mem + src->n * sizeof(struct obs_label);
	for (size_t i = 0; i < src->n; i++) {
		size_t a = strlen(src->v[i].name) + 1, b = strlen(src->v[i].value) + 1;
		memcpy(s, src->v[i].name, a);
		v[i].name = s;
		s += a;
		memcpy(s, src->v[i].value, b);
		v[i].value = s;
		s += b;
	}
	dst->v = v;
	dst->n = src->n;
}

int obs_labels_copy(struct obs_labels *dst, const struct obs_labels *src)
{
	obs_labels_init(dst);
	if (!src->n)
		return 0;
	void *mem = malloc(obs_labels_bytes(src));
	if (!mem)
		return -ENOMEM;
	obs_labels_copy_to(dst, src, mem);
	return 0;
}

int obs_fname_encode(const char *s, size_t n, struct obs_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (s[i] == '%')
			rc = obs_buf_append(out, "%25", 3);
		else if (s[i] == '/')
			rc = obs_buf_append(out, "%2F", 3);
		else if (s[i] == '\0')
			rc = obs_buf_append(out, "%00", 3);
		else
			rc = obs_buf_putc(out, s[i]);
	}
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int obs_fname_decode(const char *s, size_t n, struct obs_buf *out)
{
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (s[i] != '%') {
			rc = obs_buf_putc(out, s[i]);
			continue;
		}
		if (i + 2 >= n)
			return -EINVAL;
		int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
		if (h < 0 || l < 0 || (h == 0 && l == 0))
			return -EINVAL;
		rc = obs_buf_putc(out, (char)(h * 16 + l));
		i += 2;
	}
	return rc;
}
