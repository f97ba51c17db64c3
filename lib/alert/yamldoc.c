/* yamldoc.c — libyaml documents read with yaml.v3's strictness and words. */
#include "alert/yamldoc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int obs_yerr(struct obs_buf *errs, const char *fmt, ...)
{
	if (!errs)
		return 0;
	va_list ap;
	va_start(ap, fmt);
	char tmp[1024];
	vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	/* one error per line: fold embedded newlines */
	for (char *p = tmp; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return obs_buf_printf(errs, "%s\n", tmp);
}

int obs_ydoc_load(struct obs_ydoc *d, const char *text, size_t n, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, n);
	if (!yaml_parser_load(&p, &d->doc)) {
		size_t line = p.context_mark.line ? p.context_mark.line : p.problem_mark.line;
		if (p.error == YAML_SCANNER_ERROR)
			line++;
		if (line)
			snprintf(err, errlen, "yaml: line %zu: %s", line, p.problem ? p.problem : "unknown problem parsing YAML content");
		else
			snprintf(err, errlen, "yaml: %s", p.problem ? p.problem : "unknown problem parsing YAML content");
		int nomem = p.error == YAML_MEMORY_ERROR;
		yaml_parser_delete(&p);
		return nomem ? -ENOMEM : -EINVAL;
	}
	d->loaded = 1;
	yaml_parser_delete(&p);
	return 0;
}

void obs_ydoc_release(struct obs_ydoc *d)
{
	if (d && d->loaded) {
		yaml_document_delete(&d->doc);
		d->loaded = 0;
	}
}

yaml_node_t *obs_ydoc_root(struct obs_ydoc *d)
{
	return d->loaded ? yaml_document_get_root_node(&d->doc) : NULL;
}

yaml_node_t *obs_ydoc_node(struct obs_ydoc *d, int id)
{
	return yaml_document_get_node(&d->doc, id);
}

int obs_ynode_is_null(const yaml_node_t *n)
{
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	const char *v = (const char *)n->data.scalar.value;
	if (n->tag && strcmp((const char *)n->tag, YAML_DEFAULT_SCALAR_TAG) &&
	    strcmp((const char *)n->tag, YAML_NULL_TAG))
		return 0;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static const char *tagname(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return "!!seq";
	if (n->type == YAML_MAPPING_NODE)
		return "!!map";
	return "!!str";
}

const char *obs_ynode_str(const yaml_node_t *n, struct obs_buf *errs)
{
	if (obs_ynode_is_null(n))
		return "";
	if (n->type != YAML_SCALAR_NODE) {
		obs_yerr(errs, "line %d: cannot unmarshal %s into string", obs_ynode_line(n), tagname(n));
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Is key (the key node k of pair p) already a key of an earlier pair of
 * map? Then the error goes to errs and the answer is 1 (Go's yaml.v2
 * wording); 0 if not, -ENOMEM. */
static int dup_key(struct obs_ydoc *d, yaml_node_t *map, yaml_node_pair_t *p, yaml_node_t *k, const char *key,
		   struct obs_buf *errs)
{
	for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
		yaml_node_t *k2 = obs_ydoc_node(d, q->key);
		if (k2 && k2->type == YAML_SCALAR_NODE && !strcmp((const char *)k2->data.scalar.value, key))
			return obs_yerr(errs, "line %d: mapping key \"%s\" already defined at line %d",
					obs_ynode_line(k), key, obs_ynode_line(k2)) ? -ENOMEM : 1;
	}
	return 0;
}

int obs_ymap_each(struct obs_ydoc *d, yaml_node_t *map, const char *const *known, const char *type, obs_ymap_fn fn,
		  void *ctx, struct obs_buf *errs)
{
	if (obs_ynode_is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE) {
		if (map->type == YAML_SCALAR_NODE)
			return obs_yerr(errs, "line %d: cannot unmarshal !!str `%.40s` into %s", obs_ynode_line(map),
					(const char *)map->data.scalar.value, type);
		return obs_yerr(errs, "line %d: cannot unmarshal %s into %s", obs_ynode_line(map), tagname(map), type);
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = obs_ydoc_node(d, p->key), *v = obs_ydoc_node(d, p->value);
		if (!k || k->type != YAML_SCALAR_NODE) {
			if (obs_yerr(errs, "line %d: invalid map key in %s", obs_ynode_line(k), type))
				return -ENOMEM;
			continue;
		}
		const char *key = (const char *)k->data.scalar.value;
		int dup = dup_key(d, map, p, k, key, errs);
		if (dup < 0)
			return dup;
		if (dup)
			continue;
		int ok = 0;
		for (size_t i = 0; known && known[i]; i++)
			if (!strcmp(known[i], key))
				ok = 1;
		if (!ok) {
			if (obs_yerr(errs, "line %d: field %s not found in type %s", obs_ynode_line(k), key, type))
				return -ENOMEM;
			continue;
		}
		int r = fn(ctx, d, key, v);
		if (r < 0)
			return r;
	}
	return 0;
}

int obs_ymap_strings(struct obs_ydoc *d, yaml_node_t *map, obs_ykv_fn fn, void *ctx, struct obs_buf *errs)
{
	if (obs_ynode_is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return obs_yerr(errs, "line %d: cannot unmarshal %s into map[string]string", obs_ynode_line(map),
				tagname(map));
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = obs_ydoc_node(d, p->key), *v = obs_ydoc_node(d, p->value);
		const char *key = obs_ynode_str(k, errs);
		const char *val = obs_ynode_str(v, errs);
		if (!key || !val)
			continue;
		int dup = dup_key(d, map, p, k, key, errs);
		if (dup < 0)
			return dup;
		if (dup)
			continue;
		int r = fn(ctx, key, val, obs_ynode_line(k));
		if (r < 0)
			return r;
	}
	return 0;
}

size_t obs_yseq_len(struct obs_ydoc *d, yaml_node_t *seq, const char *type, struct obs_buf *errs)
{
	(void)d;
	if (obs_ynode_is_null(seq))
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE) {
		if (seq->type == YAML_SCALAR_NODE)
			obs_yerr(errs, "line %d: cannot unmarshal !!str `%.40s` into %s", obs_ynode_line(seq),
				 (const char *)seq->data.scalar.value, type);
		else
			obs_yerr(errs, "line %d: cannot unmarshal %s into %s", obs_ynode_line(seq), tagname(seq), type);
		return 0;
	}
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

yaml_node_t *obs_yseq_item(struct obs_ydoc *d, yaml_node_t *seq, size_t i)
{
	return obs_ydoc_node(d, seq->data.sequence.items.start[i]);
}

int obs_model_duration_parse(const char *s, int64_t *ms)
{
	static const struct { const char *u; int64_t mult; } units[] = {
		{ "y", 365LL * 86400000 }, { "w", 7LL * 86400000 }, { "d", 86400000 }, { "h", 3600000 },
		{ "m", 60000 },            { "s", 1000 },           { "ms", 1 },
	};
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	int64_t total = 0;
	size_t next = 0;
	const char *p = s;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		int64_t v = 0;
		while (*p >= '0' && *p <= '9') {
			if (v > INT64_MAX / 10)
				return -ERANGE;
			v = v * 10 + (*p++ - '0');
		}
		size_t ul = 0;
		while (p[ul] && (p[ul] < '0' || p[ul] > '9'))
			ul++;
		size_t i;
		for (i = next; i < sizeof units / sizeof units[0]; i++)
			if (strlen(units[i].u) == ul && !strncmp(p, units[i].u, ul))
				break;
		if (i == sizeof units / sizeof units[0])
			return -EINVAL;
		if (v > INT64_MAX / units[i].mult || total > INT64_MAX - v * units[i].mult)
			return -ERANGE;
		total += v * units[i].mult;
		next = i + 1;
		p += ul;
	}
	/* time.Duration is ns: Prometheus refuses what overflows it */
	if (total > INT64_MAX / 1000000)
		return -ERANGE;
	*ms = total;
	return 0;
}

int obs_model_duration_format(int64_t ms, char *buf)
{
	if (ms == 0)
		return sprintf(buf, "0s");
	static const struct { const char *u; int64_t mult; int exact; } units[] = {
		{ "y", 365LL * 86400000, 1 }, { "w", 7LL * 86400000, 1 }, { "d", 86400000, 0 }, { "h", 3600000, 0 },
		{ "m", 60000, 0 },            { "s", 1000, 0 },           { "ms", 1, 0 },
	};
	int n = 0;
	if (ms < 0) {
		buf[n++] = '-';
		ms = -ms;
	}
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (units[i].exact && ms % units[i].mult)
			continue;
		int64_t v = ms / units[i].mult;
		if (v > 0) {
			n += sprintf(buf + n, "%lld%s", (long long)v, units[i].u);
			ms -= v * units[i].mult;
		}
	}
	buf[n] = 0;
	return n;
}
