/* regex.c — per-thread PCRE2 match data and shared match limits. */
#include "core/regex.h"

#include <pthread.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pcre2_match_context *mctx;   /* read-only after once */
static pthread_key_t md_key;
static int md_key_ok;

static void md_free(void *p)
{
	pcre2_match_data_free(p);
}

static void init(void)
{
	md_key_ok = pthread_key_create(&md_key, md_free) == 0;
	mctx = pcre2_match_context_create(NULL);
	if (mctx) {
		pcre2_set_match_limit(mctx, 1000000);
		pcre2_set_depth_limit(mctx, 100000);
		pcre2_set_heap_limit(mctx, 64 * 1024);   /* KiB */
	}
}

int obs_re_match_md(const pcre2_code *re, const char *s, size_t n, pcre2_match_data *md)
{
	if (!re)
		return 0;
	pthread_once(&once, init);
	pcre2_match_data *own = NULL;
	if (!md && md_key_ok && !(md = pthread_getspecific(md_key))) {
		md = pcre2_match_data_create(1, NULL);
		if (md && pthread_setspecific(md_key, md)) {
			own = md;   /* could not keep it: free after use */
		}
	}
	if (!md && !(md = own = pcre2_match_data_create(1, NULL)))
		return 0;
	int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
		rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, PCRE2_NO_JIT, md, mctx);
	if (own)
		pcre2_match_data_free(own);
	return rc >= 0;   /* 0: matched, ovector too small */
}

int obs_re_match(const pcre2_code *re, const char *s, size_t n)
{
	return obs_re_match_md(re, s, n, NULL);
}
