/* silence.c — the silence store and its file.
 *
 * File DATADIR/alerts/silences (written whole, atomically: am_save_atomic),
 * text, one record per line:
 *     obsfs-silences 1
 *     ID \t NAME \t STARTS \t ENDS \t UPDATED \t CREATED_BY \t COMMENT \t MATCHERS
 *     ...
 *     end COUNT CRC
 * Times are epoch milliseconds in decimal; text fields are escaped with
 * am_field_escape (\\ \t \n); MATCHERS is the canonical list text
 * (am_matchers_format). CRC is the CRC-32C, in lower-case hex, of every byte
 * before the "end" line (am_statefile_load, am.h, checks the frame). A file
 * is valid when the header, every record's field count and the end line's
 * count and checksum agree; otherwise open fails with -EBADMSG and nothing
 * is loaded (the rename that wrote the file makes a torn file impossible, so
 * this is corruption, not a crash). */
#include "alert/silence.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "alert/amatch.h"
#include "core/obstime.h"
#include "core/textline.h"
#include "core/vec.h"

struct sil {
	char id[37];
	char *name;
	char *created_by;
	char *comment;
	int64_t starts, ends, updated;
	struct am_matchers m;
};

struct am_silences {
	pthread_mutex_t mu;
	char *path;                 /* NULL: memory only */
	struct am_clock clk;
	int64_t retention;
	struct sil *v;              /* guarded by mu */
	size_t n, cap;
	uint64_t version;           /* guarded by mu; bumped by every change */
};

const char *am_silence_state_name(enum am_silence_state s)
{
	return s == AM_SIL_PENDING ? "pending" : s == AM_SIL_ACTIVE ? "active" : "expired";
}

static enum am_silence_state state_of(const struct sil *x, int64_t now)
{
	if (x->ends <= now)
		return AM_SIL_EXPIRED;
	return x->starts > now ? AM_SIL_PENDING : AM_SIL_ACTIVE;
}

static void sil_release(struct sil *x)
{
	free(x->name);
	free(x->created_by);
	free(x->comment);
	am_matchers_release(&x->m);
	memset(x, 0, sizeof(*x));
}

static int push(struct am_silences *s, struct sil *x)
{
	if (OBS_VEC_RESERVE(s->v, s->cap, s->n + 1))
		return -ENOMEM;
	s->v[s->n++] = *x;
	return 0;
}

static void new_id(char *id)
{
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t k = getrandom(b + got, sizeof(b) - got, 0);
		if (k <= 0) {
			/* no entropy source: a time-based fallback is still unique enough here */
			uint64_t t = (uint64_t)obs_time_now() ^ (uint64_t)(uintptr_t)id;
			for (size_t i = got; i < sizeof(b); i++, t = t * 6364136223846793005ULL + 1)
				b[i] = (unsigned char)(t >> 33);
			break;
		}
		got += (size_t)k;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(id, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

/* ---- the file ------------------------------------------------------------ */

static int serialize(struct am_silences *s, struct obs_buf *b)
{
	if (obs_buf_puts(b, "obsfs-silences 1\n"))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		struct sil *x = &s->v[i];
		if (obs_buf_printf(b, "%s\t", x->id) || am_field_escape(b, x->name) ||
		    obs_buf_printf(b, "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t", x->starts, x->ends,
				   x->updated) ||
		    am_field_escape(b, x->created_by) || obs_buf_putc(b, '\t') ||
		    am_field_escape(b, x->comment) || obs_buf_putc(b, '\t'))
			return -ENOMEM;
		struct obs_buf mt;
		obs_buf_init(&mt);
		int rc = am_matchers_format(&x->m, &mt);
		if (!rc)
			rc = am_field_escape(b, mt.data);
		obs_buf_release(&mt);
		if (rc || obs_buf_putc(b, '\n'))
			return -ENOMEM;
	}
	return am_statefile_end(b, s->n);
}

static int save(struct am_silences *s)
{
	s->version++;   /* even a failed save may leave the set changed until undone */
	if (!s->path)
		return 0;
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = serialize(s, &b);
	if (!rc)
		rc = am_save_atomic(s->path, b.data, b.len);
	obs_buf_release(&b);
	return rc;
}

static int parse_i64(const char *p, int64_t *out)
{
	char *e;
	errno = 0;
	long long v = strtoll(p, &e, 10);
	if (errno || e == p || *e)
		return -EBADMSG;
	*out = v;
	return 0;
}

/* one record of the file (am_statefile_load's callback) */
static int load_rec(void *ctx, char *line)
{
	struct am_silences *s = ctx;
	char *f[8];
	int nf = 0;
	for (char *p = line;; p++) {
		if (nf < 8 && (p == line || p[-1] == 0))
			f[nf++] = p;
		if (!*p)
			break;
		if (*p == '\t')
			*p = 0;
	}
	if (nf != 8 || strlen(f[0]) != 36)
		return -EBADMSG;
	struct sil x;
	memset(&x, 0, sizeof(x));
	memcpy(x.id, f[0], 37);
	for (int i = 1; i < 8; i++)
		am_field_unescape(f[i]);
	if (parse_i64(f[2], &x.starts) || parse_i64(f[3], &x.ends) || parse_i64(f[4], &x.updated))
		return -EBADMSG;
	const char *why;
	int rc = am_matchers_parse(f[7], strlen(f[7]), 0, &x.m, &why);
	if (rc)
		return rc == -ENOMEM ? rc : -EBADMSG;
	x.name = strdup(f[1]);
	x.created_by = strdup(f[5]);
	x.comment = strdup(f[6]);
	if (!x.name || !x.created_by || !x.comment || push(s, &x)) {
		sil_release(&x);
		return -ENOMEM;
	}
	return 0;
}

static int load(struct am_silences *s)
{
	return am_statefile_load(s->path, "obsfs-silences 1", load_rec, s);
}

int am_silences_open(const char *path, const struct am_clock *clk, int64_t retention_ms,
		     struct am_silences **out)
{
	struct am_silences *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	if (clk)
		s->clk = *clk;
	s->retention = retention_ms > 0 ? retention_ms : AM_SILENCE_RETENTION_DEFAULT;
	if (path && !(s->path = strdup(path))) {
		am_silences_free(s);
		return -ENOMEM;
	}
	if (path) {
		int rc = load(s);
		if (rc) {
			am_silences_free(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void am_silences_free(struct am_silences *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		sil_release(&s->v[i]);
	free(s->v);
	free(s->path);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ---- the text form ------------------------------------------------------- */

static int key_is(const char *k, size_t n, const char *const *names)
{
	for (; *names; names++)
		if (strlen(*names) == n && strncasecmp(k, *names, n) == 0)
			return 1;
	return 0;
}

static const char *const K_MATCHERS[] = { "matchers", "match", "matcher", NULL };
static const char *const K_UNTIL[] = { "until", "ends", "endsAt", "end", "ends_at", NULL };
static const char *const K_FOR[] = { "for", "duration", NULL };
static const char *const K_STARTS[] = { "starts", "startsAt", "start", "from", "starts_at", NULL };
static const char *const K_AUTHOR[] = { "author", "createdBy", "created_by", "by", NULL };
static const char *const K_COMMENT[] = { "comment", NULL };

static int all_digits(const char *s, size_t n)
{
	size_t d = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d++;
		else if (s[i] != '.')
			return 0;
	}
	return d > 0;
}

/* An end: a duration from start ("2h", "+2h") or a time (RFC3339, epoch with
 * 9+ digits, "now+2h"). */
static int parse_end(const char *v, size_t n, int64_t now, int64_t start, int64_t *out)
{
	int64_t d;
	if (n && v[0] == '+' && obs_duration_parse(v + 1, n - 1, &d) == 0) {
		*out = start + d;
		return 0;
	}
	if (!(all_digits(v, n) && n >= 9) && obs_duration_parse(v, n, &d) == 0) {
		*out = start + d;
		return 0;
	}
	return obs_time_parse_rel(v, n, now, out);
}

struct spec {
	struct am_matchers m;
	int have_m;
	char *author, *comment;
	int64_t starts, ends;
};

static int parse_spec(const char *text, size_t n, int64_t now, struct spec *sp, const char **why)
{
	const char *until = NULL, *dur = NULL;
	size_t until_n = 0, dur_n = 0;
	memset(sp, 0, sizeof(*sp));
	sp->starts = now;
	const char *p = text, *end = text + n, *a, *b;
	while (obs_line_next(&p, end, &a, &b)) {
		if (a == b || *a == '#')
			continue;
		const char *k = a;
		while (k < b && *k != ':' && *k != '=' && *k != ' ' && *k != '\t' && *k != '!' && *k != '~')
			k++;
		size_t kn = (size_t)(k - a);
		const char *v = k;
		int keyed = 0;
		if (k < b && (*k == ':' || *k == ' ' || *k == '\t' || (*k == '=' && (k + 1 == b || k[1] != '~')))) {
			keyed = key_is(a, kn, K_MATCHERS) || key_is(a, kn, K_UNTIL) || key_is(a, kn, K_FOR) ||
				key_is(a, kn, K_STARTS) || key_is(a, kn, K_AUTHOR) || key_is(a, kn, K_COMMENT);
			if (keyed) {
				v = k + 1;
				while (v < b && (*v == ' ' || *v == '\t'))
					v++;
			}
		}
		size_t vn = (size_t)(b - v);
		if (!keyed && kn && k < b && *k == ':' && (k + 1 == b || k[1] == ' ' || k[1] == '\t')) {
			*why = "unknown key";   /* "KEY: value", not a bare alert name */
			return -EINVAL;
		}
		if (!keyed || key_is(a, kn, K_MATCHERS)) {
			const char *ms = keyed ? v : a;
			size_t mn = keyed ? vn : (size_t)(b - a);
			struct am_matchers more;
			int rc = am_matchers_parse(ms, mn, !sp->have_m, &more, why);
			if (rc)
				return rc;
			for (size_t i = 0; i < more.n; i++) {
				if (sp->m.n >= AM_MAX_MATCHERS) {
					am_matchers_release(&more);
					*why = "too many matchers";
					return -EINVAL;
				}
				struct obs_matcher *nv = realloc(sp->m.v, (sp->m.n + 1) * sizeof(*nv));
				if (!nv) {
					am_matchers_release(&more);
					return -ENOMEM;
				}
				sp->m.v = nv;
				sp->m.v[sp->m.n++] = more.v[i];
				memset(&more.v[i], 0, sizeof(more.v[i]));
			}
			am_matchers_release(&more);
			sp->have_m = 1;
		} else if (key_is(a, kn, K_UNTIL)) {
			until = v, until_n = vn;
		} else if (key_is(a, kn, K_FOR)) {
			dur = v, dur_n = vn;
		} else if (key_is(a, kn, K_STARTS)) {
			if (obs_time_parse_rel(v, vn, now, &sp->starts)) {
				*why = "invalid start time";
				return -EINVAL;
			}
		} else if (key_is(a, kn, K_AUTHOR)) {
			free(sp->author);
			if (!(sp->author = strndup(v, vn)))
				return -ENOMEM;
		} else {
			free(sp->comment);
			if (!(sp->comment = strndup(v, vn)))
				return -ENOMEM;
		}
	}
	if (until && dur) {
		*why = "both an end and a duration";
		return -EINVAL;
	}
	if (until) {
		if (parse_end(until, until_n, now, sp->starts, &sp->ends)) {
			*why = "invalid end time";
			return -EINVAL;
		}
	} else if (dur) {
		int64_t d;
		if (obs_duration_parse(dur, dur_n, &d) || d <= 0) {
			*why = "invalid duration";
			return -EINVAL;
		}
		sp->ends = sp->starts + d;
	} else {
		sp->ends = sp->starts + AM_SILENCE_DEFAULT_DURATION;
	}
	if (sp->m.n == 0) {
		*why = "at least one matcher required";
		return -EINVAL;
	}
	int nonempty = 0;
	for (size_t i = 0; i < sp->m.n; i++)
		if (!obs_matcher_matches_empty(&sp->m.v[i]))
			nonempty = 1;
	if (!nonempty) {
		*why = "at least one matcher must not match the empty string";
		return -EINVAL;
	}
	if (sp->ends <= now) {
		*why = "end time can't be in the past";
		return -EINVAL;
	}
	if (sp->ends <= sp->starts) {
		*why = "end time must be after start time";
		return -EINVAL;
	}
	return 0;
}

static void spec_release(struct spec *sp)
{
	am_matchers_release(&sp->m);
	free(sp->author);
	free(sp->comment);
}

/* The live (pending or active) silence with this name or id, or -1. */
static long find_live(struct am_silences *s, const char *key, int64_t now)
{
	for (size_t i = s->n; i-- > 0;)
		if (state_of(&s->v[i], now) != AM_SIL_EXPIRED &&
		    (strcmp(s->v[i].name, key) == 0 || strcmp(s->v[i].id, key) == 0))
			return (long)i;
	return -1;
}

static long find_any(struct am_silences *s, const char *key, int64_t now)
{
	long i = find_live(s, key, now);
	if (i >= 0)
		return i;
	for (size_t k = s->n; k-- > 0;)
		if (strcmp(s->v[k].id, key) == 0)
			return (long)k;
	return -1;
}

static int name_ok(const char *name)
{
	if (!*name || strchr(name, '/') || strchr(name, '\t') || strchr(name, '\n'))
		return 0;
	return strcmp(name, ".") && strcmp(name, "..");
}

int am_silences_set(struct am_silences *s, const char *name, const char *text, size_t n,
		    char *id_out, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	if (strlen(name) > AM_SILENCE_NAME_MAX)
		return -ENAMETOOLONG;
	if (!name_ok(name)) {
		*why = "invalid silence name";
		return -EINVAL;
	}
	int64_t now = am_clock_now(&s->clk);
	struct spec sp;
	int rc = parse_spec(text, n, now, &sp, why);
	if (rc) {
		spec_release(&sp);
		return rc;
	}
	struct sil x;
	memset(&x, 0, sizeof(x));
	new_id(x.id);
	x.name = strdup(name);
	x.created_by = sp.author ? sp.author : strdup("");
	x.comment = sp.comment ? sp.comment : strdup("");
	sp.author = sp.comment = NULL;
	x.starts = sp.starts;
	x.ends = sp.ends;
	x.updated = now;
	x.m = sp.m;
	am_matchers_init(&sp.m);
	spec_release(&sp);
	if (!x.name || !x.created_by || !x.comment) {
		sil_release(&x);
		return -ENOMEM;
	}
	pthread_mutex_lock(&s->mu);
	long old = find_live(s, name, now);
	int64_t old_s = 0, old_e = 0, old_u = 0;
	if (old >= 0) {
		struct sil *o = &s->v[old];
		old_s = o->starts, old_e = o->ends, old_u = o->updated;
		if (o->starts > now)
			o->starts = now;
		o->ends = now;
		o->updated = now;
	}
	if ((rc = push(s, &x))) {
		sil_release(&x);
	} else if ((rc = save(s))) {
		sil_release(&s->v[--s->n]);
	} else if (id_out) {
		memcpy(id_out, s->v[s->n - 1].id, 37);
	}
	if (rc && old >= 0) {
		s->v[old].starts = old_s, s->v[old].ends = old_e, s->v[old].updated = old_u;
	}
	pthread_mutex_unlock(&s->mu);
	if (rc)
		*why = rc == -ENOMEM ? "out of memory" : "cannot save silences";
	return rc;
}

int am_silences_expire(struct am_silences *s, const char *key)
{
	int64_t now = am_clock_now(&s->clk);
	pthread_mutex_lock(&s->mu);
	long i = find_live(s, key, now);
	int rc = -ENOENT;
	if (i >= 0) {
		struct sil *x = &s->v[i];
		int64_t os = x->starts, oe = x->ends, ou = x->updated;
		if (x->starts > now)
			x->starts = now;
		x->ends = now;
		x->updated = now;
		if ((rc = save(s)))
			x->starts = os, x->ends = oe, x->updated = ou;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int am_silences_list(struct am_silences *s, int include_expired, struct obs_buf *out)
{
	int64_t now = am_clock_now(&s->clk);
	pthread_mutex_lock(&s->mu);
	const char **names = malloc((s->n + 1) * sizeof(*names));
	int rc = names ? 0 : -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; !rc && i < s->n; i++) {
		if (include_expired)
			names[k++] = s->v[i].id;
		else if (state_of(&s->v[i], now) != AM_SIL_EXPIRED)
			names[k++] = s->v[i].name;
	}
	if (!rc) {
		qsort(names, k, sizeof(*names), cmp_str);
		for (size_t i = 0; !rc && i < k; i++)
			if (i == 0 || strcmp(names[i], names[i - 1]))
				rc = obs_buf_printf(out, "%s\n", names[i]) ? -ENOMEM : 0;
	}
	pthread_mutex_unlock(&s->mu);
	free(names);
	return rc;
}

static int render_one(const struct sil *x, int64_t now, struct obs_buf *out)
{
	char st[32], en[32], up[32];
	obs_time_format(x->starts, OBS_TIME_RFC3339, st);
	obs_time_format(x->ends, OBS_TIME_RFC3339, en);
	obs_time_format(x->updated, OBS_TIME_RFC3339, up);
	if (obs_buf_printf(out, "id: %s\nname: %s\nmatchers: ", x->id, x->name) ||
	    am_matchers_format(&x->m, out) ||
	    obs_buf_printf(out, "\nstatus: %s\nstartsAt: %s\nendsAt: %s\nupdatedAt: %s\ncreatedBy: ",
			   am_silence_state_name(state_of(x, now)), st, en, up) ||
	    am_field_escape(out, x->created_by) || obs_buf_puts(out, "\ncomment: ") ||
	    am_field_escape(out, x->comment) || obs_buf_putc(out, '\n'))
		return -ENOMEM;
	return 0;
}

int am_silences_render(struct am_silences *s, const char *key, struct obs_buf *out)
{
	int64_t now = am_clock_now(&s->clk);
	pthread_mutex_lock(&s->mu);
	long i = find_any(s, key, now);
	int rc = i < 0 ? -ENOENT : render_one(&s->v[i], now, out);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int am_silences_render_all(struct am_silences *s, struct obs_buf *out)
{
	int64_t now = am_clock_now(&s->clk);
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; !rc && i < s->n; i++) {
		if (i && obs_buf_putc(out, '\n'))
			rc = -ENOMEM;
		if (!rc)
			rc = render_one(&s->v[i], now, out);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* amtool's filter: every filter matcher names a label the silence matches on
 * with a value the filter matcher accepts. */
static int filter_ok(const struct sil *x, const struct am_matchers *f)
{
	for (size_t i = 0; i < f->n; i++) {
		int ok = 0;
		for (size_t j = 0; j < x->m.n && !ok; j++)
			ok = strcmp(x->m.v[j].name, f->v[i].name) == 0 &&
			     obs_matcher_match(&f->v[i], x->m.v[j].value);
		if (!ok)
			return 0;
	}
	return 1;
}

int am_silences_query(struct am_silences *s, const char *filter, int include_expired,
		      struct obs_buf *out, const char **why)
{
	struct am_matchers f;
	am_matchers_init(&f);
	if (filter) {
		int rc = am_matchers_parse(filter, strlen(filter), 1, &f, why);
		if (rc)
			return rc;
	}
	int64_t now = am_clock_now(&s->clk);
	int rc = obs_buf_printf(out, "%-36s  %-40s  %-24s  %-10s  %s\n", "ID", "Matchers", "Ends At",
				"Created By", "Comment") ? -ENOMEM : 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; !rc && i < s->n; i++) {
		const struct sil *x = &s->v[i];
		if ((!include_expired && state_of(x, now) == AM_SIL_EXPIRED) || !filter_ok(x, &f))
			continue;
		struct obs_buf mt;
		obs_buf_init(&mt);
		char en[32];
		obs_time_format(x->ends, OBS_TIME_RFC3339, en);
		rc = am_matchers_format(&x->m, &mt);
		if (!rc && obs_buf_printf(out, "%-36s  %-40s  %-24s  %-10s  %s\n", x->id, mt.data, en,
					  x->created_by, x->comment))
			rc = -ENOMEM;
		obs_buf_release(&mt);
	}
	pthread_mutex_unlock(&s->mu);
	am_matchers_release(&f);
	return rc;
}

int am_silences_mutes(struct am_silences *s, const struct obs_labels *l, struct obs_buf *ids)
{
	int64_t now = am_clock_now(&s->clk);
	int k = 0;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++) {
		if (state_of(&s->v[i], now) != AM_SIL_ACTIVE || !am_matchers_match(&s->v[i].m, l))
			continue;
		if (ids)
			(void)obs_buf_printf(ids, "%s%s", k ? "," : "", s->v[i].id);
		k++;
	}
	pthread_mutex_unlock(&s->mu);
	return k;
}

int am_silences_gc(struct am_silences *s)
{
	int64_t now = am_clock_now(&s->clk);
	pthread_mutex_lock(&s->mu);
	size_t k = 0, dropped = 0;
	struct sil *keep = malloc((s->n + 1) * sizeof(*keep));
	int rc = keep ? 0 : -ENOMEM;
	if (!rc) {
		for (size_t i = 0; i < s->n; i++) {
			if (s->v[i].ends + s->retention <= now)
				dropped++;
			else
				keep[k++] = s->v[i];
		}
	}
	if (!rc && dropped) {
		/* save the kept set first; only then free the dropped ones */
		struct sil *old = s->v;
		size_t oldn = s->n;
		s->v = keep;
		s->n = k;
		if ((rc = save(s))) {
			s->v = old;
			s->n = oldn;
		} else {
			for (size_t i = 0; i < oldn; i++)
				if (old[i].ends + s->retention <= now)
					sil_release(&old[i]);
			free(old);
			s->cap = oldn + 1;
			keep = NULL;
		}
	}
	free(keep);
	pthread_mutex_unlock(&s->mu);
	return rc ? rc : (int)dropped;
}

uint64_t am_silences_version(struct am_silences *s, int64_t now, int64_t *valid_until)
{
	int64_t until = INT64_MAX;
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++) {
		int64_t t = s->v[i].starts > now ? s->v[i].starts : s->v[i].ends > now ? s->v[i].ends : INT64_MAX;
		if (t < until)
			until = t;
	}
	uint64_t v = s->version;
	pthread_mutex_unlock(&s->mu);
	if (valid_until)
		*valid_until = until;
	return v;
}

void am_silences_count(struct am_silences *s, size_t *pending, size_t *active, size_t *expired)
{
	int64_t now = am_clock_now(&s->clk);
	size_t c[3] = { 0, 0, 0 };
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->n; i++)
		c[state_of(&s->v[i], now)]++;
	pthread_mutex_unlock(&s->mu);
	if (pending)
		*pending = c[0];
	if (active)
		*active = c[1];
	if (expired)
		*expired = c[2];
}
