/* template_printf.c — Go's fmt for alert templates: printf with its verbs
 * (%s %q %d %f %g %e %x %v %t, width, precision, flags), its complaints
 * ("%!d(float64=1.5)", "%!(EXTRA ...)"), and print/println spacing. */
#include "alert/template_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- printf ---- */

int obs_tmpl_go_quote(struct obs_buf *b, const char *s, size_t n)
{
	int r = obs_buf_putc(b, '"');
	for (size_t i = 0; i < n && !r; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': r = obs_buf_puts(b, "\\\""); break;
		case '\\': r = obs_buf_puts(b, "\\\\"); break;
		case '\n': r = obs_buf_puts(b, "\\n"); break;
		case '\t': r = obs_buf_puts(b, "\\t"); break;
		case '\r': r = obs_buf_puts(b, "\\r"); break;
		default:
			r = c < 0x20 || c == 0x7f ? obs_buf_printf(b, "\\x%02x", c) : obs_buf_putc(b, (char)c);
		}
	}
	return r ? r : obs_buf_putc(b, '"');
}

/* Go prints the operand of a bad verb with %v and the verb's flags still
 * set: "%.1f" of "5Gi" is "%!f(string=5)" */
static int bad_verb(struct obs_buf *b, char verb, const struct tv *v, int prec)
{
	if (obs_buf_printf(b, "%%!%c(%s=", verb, tv_type(v)))
		return -ENOMEM;
	if (v->k == TV_NIL)
		return obs_buf_puts(b, "<nil>)") ? -ENOMEM : 0;
	if (prec >= 0 && v->k == TV_STR) {
		size_t n = 0, chars = 0;
		while (n < v->slen && chars < (size_t)prec) {
			n++;
			while (n < v->slen && ((unsigned char)v->s[n] & 0xc0) == 0x80)
				n++;
			chars++;
		}
		return obs_buf_append(b, v->s, n) || obs_buf_putc(b, ')') ? -ENOMEM : 0;
	}
	if (prec >= 0 && v->k == TV_FLOAT && isfinite(v->f))
		return obs_buf_printf(b, "%.*g)", prec ? prec : 1, v->f) ? -ENOMEM : 0;
	return tv_print(v, b) || obs_buf_putc(b, ')') ? -ENOMEM : 0;
}

int tfn_sprintf(const char *f, size_t fn, const struct tv *args, size_t n, struct obs_buf *b)
{
	size_t ai = 0;
	for (size_t i = 0; i < fn; i++) {
		if (f[i] != '%') {
			if (obs_buf_putc(b, f[i]))
				return -ENOMEM;
			continue;
		}
		char spec[32];
		size_t k = 0;
		spec[k++] = '%';
		i++;
		while (i < fn && f[i] && strchr("+-# 0", f[i]) && k < 8)   /* strchr finds a NUL too */
			spec[k++] = f[i++];
		/* width and precision are read as numbers capped at 1e6 and
		 * written back into spec, so printf never sees one past INT_MAX */
		int width = -1, has_prec = 0, prec = -1;
		for (; i < fn && isdigit((unsigned char)f[i]); i++)
			width = width < 0 ? f[i] - '0' : width < 1000000 ? width * 10 + (f[i] - '0') : width;
		if (width >= 0)
			k += (size_t)snprintf(spec + k, sizeof spec - k, "%d", width);
		if (i < fn && f[i] == '.') {
			has_prec = 1;
			prec = 0;
			for (i++; i < fn && isdigit((unsigned char)f[i]); i++)
				prec = prec < 1000000 ? prec * 10 + (f[i] - '0') : prec;   /* no int overflow */
			k += (size_t)snprintf(spec + k, sizeof spec - k, ".%d", prec);
		}
		if (i >= fn) {
			if (obs_buf_puts(b, "%!(NOVERB)"))
				return -ENOMEM;
			break;
		}
		char verb = f[i];
		if (verb == '%') {
			if (obs_buf_putc(b, '%'))
				return -ENOMEM;
			continue;
		}
		if (ai >= n) {
			if (obs_buf_printf(b, "%%!%c(MISSING)", verb))
				return -ENOMEM;
			continue;
		}
		const struct tv *v = &args[ai++];
		char out[512];
		int r = 0;
		switch (verb) {
		case 'v':
		case 's':
			if (verb == 's' && v->k != TV_STR && v->k != TV_NIL && v->k != TV_MAP && v->k != TV_VEC &&
			    v->k != TV_SAMPLE && v->k != TV_DATA) {
				r = bad_verb(b, verb, v, prec);
				break;
			}
			if (v->k == TV_FLOAT && has_prec) {
				spec[k++] = 'g';
				spec[k] = 0;
				snprintf(out, sizeof out, spec, v->f);
				r = obs_buf_puts(b, out);
			} else {
				struct obs_buf t;
				obs_buf_init(&t);
				r = v->k == TV_NIL ? obs_buf_puts(&t, "<nil>") : tv_print(v, &t);
				if (!r) {
					spec[k++] = 's';
					spec[k] = 0;
					r = obs_buf_printf(b, spec, t.data ? t.data : "");
				}
				obs_buf_release(&t);
			}
			break;
		case 'q':
			r = v->k == TV_STR ? obs_tmpl_go_quote(b, v->s, v->slen) : bad_verb(b, verb, v, prec);
			break;
		case 'd':
		case 'x':
		case 'X':
		case 'o':
		case 'c':
		case 'b':
			if (v->k == TV_INT && verb != 'b') {
				spec[k++] = 'l';
				spec[k++] = 'l';
				spec[k++] = verb == 'c' ? 'c' : verb;
				spec[k] = 0;
				if (verb == 'c')
					snprintf(out, sizeof out, "%c", (int)v->i);
				else
					snprintf(out, sizeof out, spec, (long long)v->i);
				r = obs_buf_puts(b, out);
			} else if (v->k == TV_STR && (verb == 'x' || verb == 'X')) {
				for (size_t j = 0; j < v->slen && !r; j++)
					r = obs_buf_printf(b, verb == 'x' ? "%02x" : "%02X", (unsigned char)v->s[j]);
			} else {
				r = bad_verb(b, verb, v, prec);
			}
			break;
		case 'e':
		case 'E':
		case 'f':
		case 'F':
		case 'g':
		case 'G':
			if (v->k != TV_FLOAT) {
				r = bad_verb(b, verb, v, prec);
				break;
			}
			if (isnan(v->f) || isinf(v->f)) {
				r = obs_buf_puts(b, isnan(v->f) ? "NaN" : v->f > 0 ? "+Inf" : "-Inf");
				break;
			}
			if ((verb == 'g' || verb == 'G') && !has_prec) {
				obs_tmpl_fmt_float(v->f, out);
				r = obs_buf_puts(b, out);
				break;
			}
			spec[k++] = verb;
			spec[k] = 0;
			snprintf(out, sizeof out, spec, v->f);
			r = obs_buf_puts(b, out);
			break;
		case 't':
			r = v->k == TV_BOOL ? obs_buf_puts(b, v->b ? "true" : "false") : bad_verb(b, verb, v, prec);
			break;
		default:
			r = bad_verb(b, verb, v, prec);
		}
		if (r)
			return -ENOMEM;
	}
	if (ai < n) {
		if (obs_buf_puts(b, "%!(EXTRA "))
			return -ENOMEM;
		for (size_t j = ai; j < n; j++) {
			if (obs_buf_printf(b, "%s%s=", j > ai ? ", " : "", tv_type(&args[j])) || tv_print(&args[j], b))
				return -ENOMEM;
		}
		if (obs_buf_putc(b, ')'))
			return -ENOMEM;
	}
	return 0;
}

/* fmt.Sprint: spaces between operands when neither is a string */
int tfn_sprint(const struct tv *args, size_t n, int ln, struct obs_buf *b)
{
	for (size_t i = 0; i < n; i++) {
		if (i && (ln || (args[i].k != TV_STR && args[i - 1].k != TV_STR)))
			if (obs_buf_putc(b, ' '))
				return -ENOMEM;
		int r = args[i].k == TV_NIL ? obs_buf_puts(b, "<nil>") : tv_print(&args[i], b);
		if (r)
			return -ENOMEM;
	}
	return ln ? obs_buf_putc(b, '\n') : 0;
}
