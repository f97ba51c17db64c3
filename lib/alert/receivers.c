/* receivers.c — exec hook (posix_spawn, so the multi-threaded daemon never
 * runs code between fork and exec), webhook and Alertmanager forwarding
 * (libcurl easy handles, one per call). */
#include "alert/receivers.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/obstime.h"

extern char **environ;

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ---- exec ---------------------------------------------------------------- */

static int env_add(char ***env, size_t *n, const char *k, const char *v)
{
	char *s;
	if (asprintf(&s, "%s=%s", k, v) < 0)
		return -ENOMEM;
	char **e = realloc(*env, (*n + 2) * sizeof(*e));
	if (!e) {
		free(s);
		return -ENOMEM;
	}
	e[(*n)++] = s;
	e[*n] = NULL;
	*env = e;
	return 0;
}

static void env_free(char **env, size_t n, size_t own_from)
{
	for (size_t i = own_from; i < n; i++)
		free(env[i]);
	free(env);
}

int am_deliver_exec(const struct am_delivery *d, const char *external_url, struct obs_buf *why)
{
	const struct am_exec *ex = d->exec;
	size_t n = 0;
	char **env = NULL;
	/* the daemon's environment minus any ALERT_ variables, then ours */
	for (char **e = environ; e && *e; e++) {
		if (!strncmp(*e, "ALERT_", 6))
			continue;
		char **ne = realloc(env, (n + 2) * sizeof(*ne));
		if (!ne) {
			free(env);
			return -ENOMEM;
		}
		env = ne;
		env[n++] = *e;
		env[n] = NULL;
	}
	size_t own = n;
	struct obs_buf gl;
	obs_buf_init(&gl);
	char cnt[32], nf[32], nr[32];
	snprintf(cnt, sizeof(cnt), "%zu", d->nalerts);
	snprintf(nf, sizeof(nf), "%zu", d->nfiring);
	snprintf(nr, sizeof(nr), "%zu", d->nresolved);
	int rc = d->group_labels ? obs_labels_format(d->group_labels, &gl) : 0;
	if (!rc && gl.len == 0)
		rc = obs_buf_puts(&gl, "{}");
	if (!rc)
		rc = env_add(&env, &n, "ALERT_STATUS", d->nfiring ? "firing" : "resolved") ||
		     env_add(&env, &n, "ALERT_RECEIVER", d->receiver) ||
		     env_add(&env, &n, "ALERT_GROUP_KEY", d->group_key) ||
		     env_add(&env, &n, "ALERT_GROUP_LABELS", gl.data) ||
		     env_add(&env, &n, "ALERT_COUNT", cnt) || env_add(&env, &n, "ALERT_FIRING", nf) ||
		     env_add(&env, &n, "ALERT_RESOLVED", nr) ||
		     (external_url && *external_url && env_add(&env, &n, "ALERT_EXTERNAL_URL", external_url))
			     ? -ENOMEM : 0;
	obs_buf_release(&gl);
	if (rc) {
		env_free(env, n, own);
		return rc;
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC)) {
		rc = -errno;
		env_free(env, n, own);
		return rc;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	pid_t pid;
	int err = posix_spawnp(&pid, ex->argv.v[0], &fa, &at, ex->argv.v, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	env_free(env, n, own);
	close(p[0]);
	if (err) {
		close(p[1]);
		obs_buf_printf(why, "cannot run '%s': %s", ex->argv.v[0], strerror(err));
		return -err;
	}
	/* write the payload; a hook that does not read it gives EPIPE, which is
	 * fine: SIGPIPE is blocked on this thread meanwhile and then consumed */
	sigset_t pipe_set, old_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	size_t off = 0;
	int64_t deadline = obs_time_now() + (ex->timeout > 0 ? ex->timeout : 10000);
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	while (off < d->json_len && obs_time_now() < deadline) {
		ssize_t k = write(p[1], d->json + off, d->json_len - off);
		if (k > 0) {
			off += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pf = { p[1], POLLOUT, 0 };
			poll(&pf, 1, 50);
			continue;
		}
		break;
	}
	close(p[1]);
	struct timespec zero = { 0, 0 };
	while (sigtimedwait(&pipe_set, NULL, &zero) == SIGPIPE)
		;
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			obs_buf_printf(why, "exec hook '%s': %s", ex->argv.v[0], strerror(errno));
			return -ECHILD;
		}
		if (obs_time_now() >= deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			obs_buf_printf(why, "exec hook '%s' timed out", ex->argv.v[0]);
			return -ETIMEDOUT;
		}
		sleep_ms(10);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		obs_buf_printf(why, "exec hook '%s' exited with status %d", ex->argv.v[0], WEXITSTATUS(status));
	else
		obs_buf_printf(why, "exec hook '%s' killed by signal %d", ex->argv.v[0], WTERMSIG(status));
	return -EIO;
}

/* ---- HTTP ---------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t discard(char *p, size_t sz, size_t n, void *ctx)
{
	return sz * n;
}

/* One POST. 0, or -errno with *retry set when another attempt may help. */
static int post(const char *url, const char *body, size_t len, int64_t timeout_ms, int *retry,
		struct obs_buf *why)
{
	pthread_once(&curl_once, curl_init);
	CURL *c = curl_easy_init();
	if (!c)
		return -ENOMEM;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "obsfs-alertmanager/1");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode cc = curl_easy_perform(c);
	long code = 0;
	int rc = 0;
	*retry = 0;
	if (cc != CURLE_OK) {
		obs_buf_reset(why);
		obs_buf_printf(why, "post to '%s': %s", url, curl_easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
		*retry = 1;
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code / 100 != 2) {
			obs_buf_reset(why);
			obs_buf_printf(why, "post to '%s': http status %ld", url, code);
			rc = -EPROTO;
			*retry = code >= 500 || code == 429;
		}
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

int am_deliver_webhook(const struct am_delivery *d, struct obs_buf *why)
{
	int64_t backoff = 500;
	int rc = 0, retry = 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		if (attempt)
			sleep_ms(backoff), backoff *= 2;
		rc = post(d->webhook->url, d->json, d->json_len, d->webhook->timeout, &retry, why);
		if (rc == 0 || !retry)
			break;
	}
	return rc;
}

/* ---- forwarding to Alertmanager ------------------------------------------ */

static json_t *lbl(const struct obs_labels *l)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < l->n; i++)
		json_object_set_new(o, l->v[i].name, json_string(l->v[i].value));
	return o;
}

int am_forward_json(const struct am_alert *alerts, size_t n, struct obs_buf *out)
{
	json_t *arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct am_alert *a = &alerts[i];
		json_t *o = json_object();
		char b[40];
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return -ENOMEM;
		}
		json_object_set_new(o, "labels", lbl(&a->labels));
		json_object_set_new(o, "annotations", lbl(&a->annotations));
		if (a->starts_at) {
			obs_time_format(a->starts_at, OBS_TIME_RFC3339, b);
			json_object_set_new(o, "startsAt", json_string(b));
		}
		if (a->ends_at) {
			obs_time_format(a->ends_at, OBS_TIME_RFC3339, b);
			json_object_set_new(o, "endsAt", json_string(b));
		}
		json_object_set_new(o, "generatorURL", json_string(a->generator_url ? a->generator_url : ""));
	}
	char *s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (!s)
		return -ENOMEM;
	int rc = obs_buf_puts(out, s) ? -ENOMEM : 0;
	free(s);
	return rc;
}

int am_forward_post(const char *base, int64_t timeout_ms, const struct am_alert *alerts, size_t n,
		    struct obs_buf *why)
{
	char *url;
	if (asprintf(&url, "%sapi/v2/alerts", base) < 0)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n; i += 64) {
		size_t k = n - i < 64 ? n - i : 64;
		struct obs_buf body;
		obs_buf_init(&body);
		int retry, r = am_forward_json(alerts + i, k, &body);
		if (!r)
			r = post(url, body.data, body.len, timeout_ms, &retry, why);
		obs_buf_release(&body);
		if (r)
			rc = r;
	}
	free(url);
	return rc;
}
