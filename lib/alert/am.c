/* am.c — the shared pieces of the notifier side: clock, alert copies,
 * fingerprints, atomic saves, versioned state files (their format is in
 * am.h), field escaping. */
#include "alert/am.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/fileio.h"
#include "core/obstime.h"

int64_t am_clock_now(const struct am_clock *c)
{
	if (c && c->now)
		return c->now(c->ctx);
	return obs_time_now();
}

void am_alert_init(struct am_alert *a)
{
	memset(a, 0, sizeof(*a));
}

void am_alert_release(struct am_alert *a)
{
	if (!a)
		return;
	obs_labels_release(&a->labels);
	obs_labels_release(&a->annotations);
	free(a->generator_url);
	memset(a, 0, sizeof(*a));
}

int am_alert_copy(struct am_alert *dst, const struct am_alert *src)
{
	am_alert_init(dst);
	if (obs_labels_copy(&dst->labels, &src->labels) ||
	    obs_labels_copy(&dst->annotations, &src->annotations))
		goto oom;
	if (src->generator_url && !(dst->generator_url = strdup(src->generator_url)))
		goto oom;
	dst->starts_at = src->starts_at;
	dst->ends_at = src->ends_at;
	return 0;
oom:
	am_alert_release(dst);
	return -ENOMEM;
}

int am_alert_resolved(const struct am_alert *a, int64_t now)
{
	return a->ends_at != 0 && a->ends_at <= now;
}

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv_add(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t fnv_sep(uint64_t h)
{
	h ^= 0xff;
	return h * FNV_PRIME;
}

uint64_t am_fingerprint(const struct obs_labels *l)
{
	/* obs_labels are sorted by name already, __name__ included */
	uint64_t h = FNV_OFFSET;
	if (!l || l->n == 0)
		return h;
	for (size_t i = 0; i < l->n; i++) {
		h = fnv_add(h, l->v[i].name);
		h = fnv_sep(h);
		h = fnv_add(h, l->v[i].value);
		h = fnv_sep(h);
	}
	return h;
}

static int mkdir_p(const char *dir)
{
	char *d = strdup(dir);
	if (!d)
		return -ENOMEM;
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(d, 0700) && errno != EEXIST) {
			int e = -errno;
			free(d);
			return e;
		}
		*p = '/';
	}
	int rc = mkdir(d, 0700) && errno != EEXIST ? -errno : 0;
	free(d);
	return rc;
}

int am_save_atomic(const char *path, const void *data, size_t n)
{
	char *dir = strdup(path);
	int rc = 0;
	if (!dir)
		return -ENOMEM;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		rc = mkdir_p(dir);
	}
	free(dir);
	return rc ? rc : obs_write_file_atomic(path, data, n, "am.save");
}

int am_statefile_end(struct obs_buf *b, size_t count)
{
	uint32_t crc = obs_crc32c(0, b->data, b->len);
	return obs_buf_printf(b, "end %zu %08" PRIx32 "\n", count, crc) ? -ENOMEM : 0;
}

int am_statefile_load(const char *path, const char *magic, int (*rec)(void *ctx, char *line), void *ctx)
{
	char *data = NULL;
	size_t len = 0;
	int rc = obs_read_file(path, 0, &data, &len);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	rc = -EBADMSG;
	size_t ml = strlen(magic);
	if (len < ml + 1 || memcmp(data, magic, ml) || data[ml] != '\n')
		goto out;
	char *end = NULL;   /* the last line that starts with "end " */
	for (size_t i = len; i-- > 1;)
		if (data[i - 1] == '\n' && len - i >= 4 && !memcmp(data + i, "end ", 4)) {
			end = data + i;
			break;
		}
	size_t count;
	uint32_t crc;
	if (!end || sscanf(end, "end %zu %" SCNx32, &count, &crc) != 2 ||
	    crc != obs_crc32c(0, data, (size_t)(end - data)))
		goto out;
	*end = 0;
	size_t got = 0;
	for (char *p = data + ml + 1; *p; got++) {
		char *nl = strchr(p, '\n');
		if (!nl)
			goto out;
		*nl = 0;
		if ((rc = rec(ctx, p)))
			goto out;
		rc = -EBADMSG;
		p = nl + 1;
	}
	rc = got == count ? 0 : -EBADMSG;
out:
	free(data);
	return rc;
}

int am_field_escape(struct obs_buf *out, const char *s)
{
	for (; s && *s; s++) {
		int rc;
		switch (*s) {
		case '\\': rc = obs_buf_append(out, "\\\\", 2); break;
		case '\t': rc = obs_buf_append(out, "\\t", 2); break;
		case '\n': rc = obs_buf_append(out, "\\n", 2); break;
		default: rc = obs_buf_putc(out, *s); break;
		}
		if (rc)
			return rc;
	}
	return 0;
}

void am_field_unescape(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*o++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}
