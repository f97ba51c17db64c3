/* policy.c — tail-sampling policy parser and evaluator (libobs traces).
 * See policy.h for the language. A policy is a tree: leaves test a trace,
 * and/composite combine sub-policies. */
#include "traces/policy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#include "core/obstime.h"
#include "core/regex.h"

const char obs_policy_default_text[] =
	"errors   status_code   status_codes=ERROR\n"
	"slow     latency       threshold_ms=1000\n"
	"baseline probabilistic sampling_percentage=10\n";

enum ptype { P_ALWAYS, P_STATUS, P_LATENCY, P_PROB, P_RATE, P_STRATTR, P_NUMATTR, P_BOOLATTR,
	     P_SPANCOUNT, P_AND, P_COMPOSITE };

static const char *const type_names[] = { "always_sample", "status_code", "latency", "probabilistic",
					  "rate_limiting", "string_attribute", "numeric_attribute",
					  "boolean_attribute", "span_count", "and", "composite" };
#define NTYPES (sizeof type_names / sizeof type_names[0])

struct policy {
	enum ptype type;
	char name[64];
	unsigned status_mask;             /* P_STATUS: bit per code */
	int64_t lo_ms, hi_ms;             /* P_LATENCY (hi 0: none) */
	double pct;                       /* P_PROB */
	char salt[64];
	double rate;                      /* P_RATE: per second */
	int rate_traces;                  /* rate counts traces (1) or spans (0) */
	int64_t win_start;                /* rate window (second) */
	double win_used;
	char key[128];                    /* attribute policies */
	char **values;                    /* P_STRATTR */
	pcre2_code **res;
	size_t nvalues;
	int regex, invert;
	double minv, maxv;                /* P_NUMATTR, P_SPANCOUNT */
	int boolv;
	struct policy **sub;              /* P_AND, P_COMPOSITE */
	size_t nsub;
	double *alloc;                    /* composite: share of max_total per sub (in policy order) */
	double *used;
	double max_total;
};

struct obs_policy_set {
	struct policy **p;
	size_t n;
	struct obs_policy_settings set;
	char *source;
};

static void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nvalues; i++) {
		free(p->values[i]);
		if (p->res && p->res[i])
			pcre2_code_free(p->res[i]);
	}
	free(p->values);
	free(p->res);
	for (size_t i = 0; i < p->nsub; i++)
		policy_free(p->sub[i]);
	free(p->sub);
	free(p->alloc);
	free(p->used);
	free(p);
}

void obs_policy_free(struct obs_policy_set *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->n; i++)
		policy_free(ps->p[i]);
	free(ps->p);
	free(ps->source);
	free(ps);
}

struct perr { char *buf; size_t len; int line; };

static int perr(struct perr *e, const char *fmt, ...)
{
	int n = snprintf(e->buf, e->len, "line %d: ", e->line);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < e->len)
		vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int type_of(const char *w)
{
	for (size_t i = 0; i < NTYPES; i++)
		if (!strcmp(w, type_names[i]))
			return (int)i;
	return -1;
}

static int num_param(struct perr *e, const char *k, const char *v, double *out)
{
	char *end;
	*out = strtod(v, &end);
	if (end == v || *end || !isfinite(*out))
		return perr(e, "invalid %s '%s'", k, v);
	return 0;
}

static int bool_param(struct perr *e, const char *k, const char *v, int *out)
{
	if (!strcmp(v, "true"))
		*out = 1;
	else if (!strcmp(v, "false"))
		*out = 0;
	else
		return perr(e, "invalid %s '%s' (want true or false)", k, v);
	return 0;
}

static int split_values(struct policy *p, const char *v)
{
	const char *s = v;
	for (;;) {
		const char *c = strchr(s, ',');
		size_t n = c ? (size_t)(c - s) : strlen(s);
		char **nv = realloc(p->values, (p->nvalues + 1) * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		p->values = nv;
		if (!(p->values[p->nvalues] = strndup(s, n)))
			return -ENOMEM;
		p->nvalues++;
		if (!c)
			return 0;
		s = c + 1;
	}
}

/* words[0..nw) of one (sub-)policy: [NAME] TYPE PARAMS */
static int parse_leaf(struct perr *e, char **w, size_t nw, struct policy **out)
{
	if (!nw)
		return perr(e, "empty policy");
	size_t i = 0;
	int t = type_of(w[0]);
	if (nw > 1 && type_of(w[1]) >= 0 && !strchr(w[0], '=')) {
		t = type_of(w[1]);
		i = 1;
	} else if (t < 0)
		return perr(e, "unknown policy type '%s'", nw > 1 ? w[1] : w[0]);
	struct policy *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->type = (enum ptype)t;
	snprintf(p->name, sizeof p->name, "%s", i ? w[0] : type_names[t]);
	int rc = 0, have_key = 0, have_val = 0, have_min = 0, have_max = 0;
	char *order = NULL, *allocs = NULL;
	p->maxv = INFINITY;
	for (i++; !rc && i < nw; i++) {
		char *k = w[i], *v = strchr(k, '=');
		if (!v) {
			rc = perr(e, "expected PARAM=VALUE, got '%s'", k);
			break;
		}
		*v++ = 0;
		double x;
		if (!strcmp(k, "status_codes") && p->type == P_STATUS) {
			for (char *s = v, *c; s; s = c) {
				if ((c = strchr(s, ',')))
					*c++ = 0;
				if (!strncasecmp(s, "STATUS_CODE_", 12))
					s += 12;
				if (!strcasecmp(s, "ERROR"))
					p->status_mask |= 1u << 2;
				else if (!strcasecmp(s, "OK"))
					p->status_mask |= 1u << 1;
				else if (!strcasecmp(s, "UNSET"))
					p->status_mask |= 1u << 0;
				else
					rc = perr(e, "unknown status code '%s'", s);
			}
			have_val = 1;
		} else if (!strcmp(k, "threshold_ms") && p->type == P_LATENCY) {
			if (!(rc = num_param(e, k, v, &x)))
				p->lo_ms = (int64_t)x, have_val = 1;
		} else if (!strcmp(k, "upper_threshold_ms") && p->type == P_LATENCY) {
			if (!(rc = num_param(e, k, v, &x)))
				p->hi_ms = (int64_t)x;
		} else if (!strcmp(k, "sampling_percentage") && p->type == P_PROB) {
			if (!(rc = num_param(e, k, v, &p->pct)) && (p->pct < 0 || p->pct > 100))
				rc = perr(e, "sampling_percentage %s is not in 0..100", v);
			have_val = 1;
		} else if (!strcmp(k, "hash_salt") && p->type == P_PROB) {
			snprintf(p->salt, sizeof p->salt, "%s", v);
		} else if ((!strcmp(k, "spans_per_second") || !strcmp(k, "traces_per_second")) && p->type == P_RATE) {
			if (!(rc = num_param(e, k, v, &p->rate)) && p->rate < 0)
				rc = perr(e, "negative %s", k);
			p->rate_traces = k[0] == 't';
			have_val = 1;
		} else if (!strcmp(k, "key") && (p->type == P_STRATTR || p->type == P_NUMATTR || p->type == P_BOOLATTR)) {
			snprintf(p->key, sizeof p->key, "%s", v);
			have_key = 1;
		} else if (!strcmp(k, "values") && p->type == P_STRATTR) {
			rc = split_values(p, v);
			have_val = 1;
		} else if (!strcmp(k, "enabled_regex_matching") && p->type == P_STRATTR) {
			rc = bool_param(e, k, v, &p->regex);
		} else if (!strcmp(k, "invert_match") && (p->type == P_STRATTR || p->type == P_NUMATTR)) {
			rc = bool_param(e, k, v, &p->invert);
		} else if (!strcmp(k, "value") && p->type == P_BOOLATTR) {
			rc = bool_param(e, k, v, &p->boolv);
			have_val = 1;
		} else if ((!strcmp(k, "min_value") && p->type == P_NUMATTR) || (!strcmp(k, "min_spans") && p->type == P_SPANCOUNT)) {
			rc = num_param(e, k, v, &p->minv);
			have_min = 1;
		} else if ((!strcmp(k, "max_value") && p->type == P_NUMATTR) || (!strcmp(k, "max_spans") && p->type == P_SPANCOUNT)) {
			rc = num_param(e, k, v, &p->maxv);
			have_max = 1;
		} else if (!strcmp(k, "max_total_spans_per_second") && p->type == P_COMPOSITE) {
			rc = num_param(e, k, v, &p->max_total);
			have_val = 1;
		} else if (!strcmp(k, "policy_order") && p->type == P_COMPOSITE) {
			order = v;
		} else if (!strcmp(k, "rate_allocation") && p->type == P_COMPOSITE) {
			allocs = v;
		} else {
			rc = perr(e, "unknown parameter '%s' for %s", k, type_names[p->type]);
		}
	}
	if (!rc) {
		switch (p->type) {
		case P_STATUS: case P_LATENCY: case P_PROB: case P_RATE: case P_COMPOSITE:
			if (!have_val)
				rc = perr(e, "%s needs its parameter (%s)", type_names[p->type],
					  p->type == P_STATUS ? "status_codes" : p->type == P_LATENCY ? "threshold_ms" :
					  p->type == P_PROB ? "sampling_percentage" : p->type == P_RATE ? "spans_per_second" :
					  "max_total_spans_per_second");
			break;
		case P_STRATTR: case P_BOOLATTR:
			if (!have_key || !have_val)
				rc = perr(e, "%s needs key= and %s", type_names[p->type], p->type == P_STRATTR ? "values=" : "value=");
			break;
		case P_NUMATTR:
			if (!have_key || (!have_min && !have_max))
				rc = perr(e, "numeric_attribute needs key= and min_value= or max_value=");
			if (!have_min)
				p->minv = -INFINITY;
			break;
		case P_SPANCOUNT:
			if (!have_min)
				rc = perr(e, "span_count needs min_spans=");
			break;
		default:
			break;
		}
		(void)have_max;
	}
	if (!rc && p->regex) {
		p->res = calloc(p->nvalues, sizeof *p->res);
		if (!p->res)
			rc = -ENOMEM;
		for (size_t j = 0; !rc && j < p->nvalues; j++) {
			int ec;
			PCRE2_SIZE off;
			p->res[j] = pcre2_compile((PCRE2_SPTR)p->values[j], PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
			if (!p->res[j])
				rc = perr(e, "invalid regex '%s'", p->values[j]);
			else
				pcre2_jit_compile(p->res[j], PCRE2_JIT_COMPLETE);
		}
	}
	if (rc) {
		policy_free(p);
		return rc;
	}
	/* stash composite order/allocation text for the caller to resolve */
	if (order || allocs) {
		p->values = calloc(2, sizeof *p->values);
		if (!p->values || (order && !(p->values[0] = strdup(order))) || (allocs && !(p->values[1] = strdup(allocs)))) {
			policy_free(p);
			return -ENOMEM;
		}
		p->nvalues = 2;
	}
	*out = p;
	return 0;
}

static int find_sub(const struct policy *p, const char *name, size_t n)
{
	for (size_t i = 0; i < p->nsub; i++)
		if (p->sub[i] && strlen(p->sub[i]->name) == n && !memcmp(p->sub[i]->name, name, n))
			return (int)i;
	return -1;
}

/* composite: order the subs by policy_order and assign each its share */
static int composite_setup(struct perr *e, struct policy *p)
{
	char *order = p->nvalues ? p->values[0] : NULL, *allocs = p->nvalues ? p->values[1] : NULL;
	p->alloc = calloc(p->nsub, sizeof *p->alloc);
	p->used = calloc(p->nsub, sizeof *p->used);
	if (!p->alloc || !p->used)
		return -ENOMEM;
	int rc = 0;
	if (order) {
		struct policy **o = calloc(p->nsub, sizeof *o);
		size_t k = 0;
		if (!o)
			return -ENOMEM;
		for (char *s = order, *c; s && !rc; s = c) {
			if ((c = strchr(s, ',')))
				*c++ = 0;
			int j = find_sub(p, s, strlen(s));
			if (j < 0 || !p->sub[j])
				rc = perr(e, "policy_order names '%s', which is no sub-policy", s);
			else {
				o[k++] = p->sub[j];
				p->sub[j] = NULL;
			}
		}
		for (size_t j = 0; j < p->nsub; j++)
			if (p->sub[j])
				o[k++] = p->sub[j];
		free(p->sub);
		p->sub = o;
	}
	double given = 0;
	int *set = calloc(p->nsub, sizeof *set);
	if (!set)
		return -ENOMEM;
	for (char *s = allocs, *c; s && !rc; s = c) {
		if ((c = strchr(s, ',')))
			*c++ = 0;
		char *colon = strchr(s, ':');
		int j = colon ? find_sub(p, s, (size_t)(colon - s)) : -1;
		double pct;
		if (j < 0)
			rc = perr(e, "rate_allocation entry '%s' is not SUBPOLICY:PERCENT", s);
		else if (!(rc = num_param(e, "rate_allocation", colon + 1, &pct))) {
			p->alloc[j] = p->max_total * pct / 100;
			given += pct;
			set[j] = 1;
		}
	}
	size_t unset = 0;
	for (size_t j = 0; j < p->nsub; j++)
		unset += !set[j];
	for (size_t j = 0; j < p->nsub && unset; j++)
		if (!set[j])
			p->alloc[j] = p->max_total * (given < 100 ? 100 - given : 0) / 100 / (double)unset;
	free(set);
	if (!rc && given > 100)
		rc = perr(e, "rate_allocation adds up to more than 100 percent");
	return rc;
}

static int parse_line(struct perr *e, char *line, struct policy **out)
{
	char *w[128];
	size_t nw = 0;
	struct policy *top = NULL;
	int rc = 0;
	char *save = NULL;
	/* split on '|' into segments, each segment into words */
	char *segs[64];
	size_t nseg = 0;
	for (char *s = line;; ) {
		char *bar = strchr(s, '|');
		if (nseg == 64)
			return perr(e, "too many sub-policies");
		segs[nseg++] = s;
		if (!bar)
			break;
		*bar = 0;
		s = bar + 1;
	}
	for (size_t si = 0; si < nseg && !rc; si++) {
		nw = 0;
		for (char *t = strtok_r(segs[si], " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
			if (nw == 128)
				return perr(e, "too many words");
			w[nw++] = t;
		}
		struct policy *p = NULL;
		if ((rc = parse_leaf(e, w, nw, &p)))
			break;
		if (si == 0) {
			top = p;
			if ((top->type == P_AND || top->type == P_COMPOSITE) && nseg == 1)
				rc = perr(e, "%s needs sub-policies after '|'", type_names[top->type]);
			else if (top->type != P_AND && top->type != P_COMPOSITE && nseg > 1)
				rc = perr(e, "only and/composite take sub-policies");
			continue;
		}
		if (p->type == P_AND || p->type == P_COMPOSITE) {
			policy_free(p);
			rc = perr(e, "sub-policies cannot nest and/composite");
			break;
		}
		struct policy **ns = realloc(top->sub, (top->nsub + 1) * sizeof *ns);
		if (!ns) {
			policy_free(p);
			rc = -ENOMEM;
			break;
		}
		top->sub = ns;
		top->sub[top->nsub++] = p;
	}
	if (!rc && top->type == P_COMPOSITE)
		rc = composite_setup(e, top);
	if (rc) {
		policy_free(top);
		return rc;
	}
	*out = top;
	return 0;
}

static int setting(struct perr *e, struct obs_policy_settings *s, char *k, char *v)
{
	int64_t ms;
	char *end;
	if (!strcmp(k, "decision_wait")) {
		if (obs_duration_parse(v, strlen(v), &ms))
			return perr(e, "invalid decision_wait '%s'", v);
		s->decision_wait_ms = ms;
	} else if (!strcmp(k, "num_traces") || !strcmp(k, "max_spans")) {
		unsigned long long u = strtoull(v, &end, 10);
		if (end == v || *end || !u)
			return perr(e, "invalid %s '%s'", k, v);
		if (k[0] == 'n')
			s->num_traces = u;
		else
			s->max_spans = u;
	} else if (!strcmp(k, "head_sampling")) {
		if (!strcmp(v, "honour") || !strcmp(v, "honor"))
			s->head_honour = 1;
		else if (!strcmp(v, "ignore"))
			s->head_honour = 0;
		else
			return perr(e, "invalid head_sampling '%s' (want honour or ignore)", v);
	} else
		return perr(e, "unknown setting '%s'", k);
	return 0;
}

int obs_policy_parse(const char *text, size_t n, struct obs_policy_set **out, char *err, size_t errlen)
{
	struct perr e = { err, errlen, 0 };
	char dummy[8];
	if (!err || !errlen)
		e.buf = dummy, e.len = sizeof dummy;
	struct obs_policy_set *ps = calloc(1, sizeof *ps);
	if (!ps)
		return -ENOMEM;
	ps->set = (struct obs_policy_settings){ 10000, 50000, 1000000, 0 };
	int rc = 0, any = 0, defaults = 0;
	/* is there any policy line at all? otherwise the defaults apply */
	for (int pass = 0; pass < 2 && !rc; pass++) {
		const char *src = pass ? obs_policy_default_text : text;
		size_t sn = pass ? strlen(obs_policy_default_text) : n;
		if (pass && any)
			break;
		defaults = pass;
		e.line = 0;
		for (size_t pos = 0; pos < sn && !rc;) {
			const char *nl = memchr(src + pos, '\n', sn - pos);
			size_t len = nl ? (size_t)(nl - (src + pos)) : sn - pos;
			char *line = strndup(src + pos, len);
			pos += len + 1;
			e.line++;
			if (!line) {
				rc = -ENOMEM;
				break;
			}
			char *h = strchr(line, '#');
			if (h)
				*h = 0;
			char *s = line;
			while (*s == ' ' || *s == '\t' || *s == '\r')
				s++;
			char *end = s + strlen(s);
			while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
				*--end = 0;
			size_t wl = strcspn(s, " \t=");
			static const char *const keys[] = { "decision_wait", "num_traces", "max_spans", "head_sampling" };
			int is_setting = 0;
			for (size_t k = 0; k < 4; k++)
				is_setting |= strlen(keys[k]) == wl && !strncmp(s, keys[k], wl);
			if (!*s) {
				/* blank */
			} else if (is_setting) {
				char *v = s + wl;
				v += strspn(v, " \t");
				if (*v == '=')
					v += 1 + strspn(v + 1, " \t");
				s[wl] = 0;
				rc = setting(&e, &ps->set, s, v);
			} else {
				struct policy *p;
				rc = parse_line(&e, s, &p);
				if (!rc) {
					struct policy **np = realloc(ps->p, (ps->n + 1) * sizeof *np);
					if (!np) {
						policy_free(p);
						rc = -ENOMEM;
					} else {
						ps->p = np;
						ps->p[ps->n++] = p;
						any = 1;
					}
				}
			}
			free(line);
		}
	}
	if (!rc && !(ps->source = !defaults ? strndup(text, n) : strdup(obs_policy_default_text)))
		rc = -ENOMEM;
	if (rc) {
		obs_policy_free(ps);
		return rc;
	}
	*out = ps;
	return 0;
}

void obs_policy_get_settings(const struct obs_policy_set *ps, struct obs_policy_settings *s) { *s = ps->set; }
const char *obs_policy_source(const struct obs_policy_set *ps) { return ps->source; }

double obs_trace_hash01(const uint8_t trace_id[16], const char *salt)
{
	uint64_t h = XXH64(trace_id, 16, salt && *salt ? XXH64(salt, strlen(salt), 0) : 0);
	return (double)(h >> 11) / 9007199254740992.0;
}

/* ---- evaluation ------------------------------------------------------------ */

static int attr_of(const struct obs_span *s, const char *key, struct obs_attr *a)
{
	size_t kn = strlen(key);
	if (!strcmp(key, "service.name")) {
		a->type = OBS_ATTR_STRING;
		a->key = (struct obs_str){ key, kn };
		a->val = s->service;
		return 1;
	}
	return obs_attr_find(s->attrs, key, kn, a) || obs_attr_find(s->resource, key, kn, a);
}

static int str_match(const struct policy *p, struct obs_str v)
{
	for (size_t i = 0; i < p->nvalues; i++) {
		if (p->regex ? obs_re_match(p->res[i], v.p, v.n)
			     : (strlen(p->values[i]) == v.n && !memcmp(p->values[i], v.p, v.n)))
			return 1;
	}
	return 0;
}

static int leaf_keep(struct policy *p, const uint8_t *tid, const struct obs_span *sp, size_t n, int64_t now)
{
	struct obs_attr a;
	switch (p->type) {
	case P_ALWAYS:
		return 1;
	case P_STATUS:
		for (size_t i = 0; i < n; i++)
			if (p->status_mask & (1u << sp[i].status))
				return 1;
		return 0;
	case P_LATENCY: {
		int64_t lo = INT64_MAX, hi = INT64_MIN;
		for (size_t i = 0; i < n; i++) {
			if (sp[i].start_ns < lo)
				lo = sp[i].start_ns;
			if (sp[i].end_ns > hi)
				hi = sp[i].end_ns;
		}
		int64_t d = n ? hi - lo : 0;
		/* the Collector's rule: duration >= threshold (and <= upper when set) */
		return d >= p->lo_ms * 1000000 && (!p->hi_ms || d <= p->hi_ms * 1000000);
	}
	case P_PROB:
		return obs_trace_hash01(tid, p->salt) * 100 < p->pct;
	case P_RATE: {
		int64_t sec = now / 1000;
		if (sec != p->win_start) {
			p->win_start = sec;
			p->win_used = 0;
		}
		double cost = p->rate_traces ? 1 : (double)n;
		if (p->win_used + cost > p->rate)
			return 0;
		p->win_used += cost;
		return 1;
	}
	case P_STRATTR: {
		int seen = 0;
		for (size_t i = 0; i < n; i++)
			if (attr_of(&sp[i], p->key, &a) && str_match(p, a.val)) {
				seen = 1;
				break;
			}
		return p->invert ? !seen : seen;
	}
	case P_NUMATTR: {
		int seen = 0;
		for (size_t i = 0; i < n && !seen; i++) {
			if (!attr_of(&sp[i], p->key, &a) || (a.type != OBS_ATTR_INT && a.type != OBS_ATTR_DOUBLE))
				continue;
			char tmp[64];
			snprintf(tmp, sizeof tmp, "%.*s", (int)a.val.n, a.val.p);
			double x = strtod(tmp, NULL);
			seen = x >= p->minv && x <= p->maxv;
		}
		return p->invert ? !seen : seen;
	}
	case P_BOOLATTR:
		for (size_t i = 0; i < n; i++)
			if (attr_of(&sp[i], p->key, &a) && a.type == OBS_ATTR_BOOL &&
			    (a.val.n == 4) == (p->boolv == 1))
				return 1;
		return 0;
	case P_SPANCOUNT:
		return (double)n >= p->minv && (double)n <= p->maxv;
	case P_AND:
		for (size_t i = 0; i < p->nsub; i++)
			if (!leaf_keep(p->sub[i], tid, sp, n, now))
				return 0;
		return 1;
	case P_COMPOSITE: {
		int64_t sec = now / 1000;
		if (sec != p->win_start) {
			p->win_start = sec;
			memset(p->used, 0, p->nsub * sizeof *p->used);
		}
		for (size_t i = 0; i < p->nsub; i++)
			if (leaf_keep(p->sub[i], tid, sp, n, now) && p->used[i] + (double)n <= p->alloc[i]) {
				p->used[i] += (double)n;
				return 1;
			}
		return 0;
	}
	}
	return 0;
}

int obs_policy_decide(struct obs_policy_set *ps, const uint8_t trace_id[16], const struct obs_span *spans,
		      size_t n, int64_t now_ms, const char **by)
{
	*by = "";
	for (size_t i = 0; i < ps->n; i++)
		if (leaf_keep(ps->p[i], trace_id, spans, n, now_ms)) {
			*by = ps->p[i]->name;
			return 1;
		}
	return 0;
}
