/* ship_statsd.c — obs-ship's StatsD listener (--statsd HOST:PORT): one
 * thread receives UDP datagrams (recvmmsg, 64 at a time, an 8 MiB socket
 * buffer when the system allows), aggregates their lines with
 * lib/ingest/statsagg per flush interval and writes each interval's
 * aggregates to MOUNT/ingest, stamped with the flush time.
 *
 * A datagram may hold several lines. One longer than max_packet bytes is
 * dropped whole (counted oversized); a malformed line is dropped and its
 * datagram counted malformed (its other lines are kept, as the statsd
 * daemon does). Datagrams the kernel dropped because the socket buffer was
 * full are counted from SO_RXQ_OVFL. */
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/obstime.h"
#include "ingest/statsagg.h"
#include "ship.h"

#define BATCH 64

static struct {
	int fd;
	pthread_t th;
	int started;
	volatile int stop;
	struct obs_statsagg *a;
	int64_t flush_ms, last_flush;
	size_t max_packet;
	char listen[128];
	pthread_mutex_t mu;   /* the counters below */
	uint64_t packets, lines, bad_lines, malformed, oversized, kernel_drops, flushes, flush_drops;
	int64_t last_flush_wall;
	uint64_t bad_reported;     /* bad lines already reported to MOUNT/errors */
	char last_bad[200];        /* the last rejected line and why */
} U = { .fd = -1, .mu = PTHREAD_MUTEX_INITIALIZER };

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_bad(void *ctx, const char *line, size_t len, const char *why)
{
	size_t k = len > 120 ? 120 : len;
	snprintf(U.last_bad, sizeof(U.last_bad), "'%.*s': %s", (int)k, line, why);
}

static void flush(void)
{
	struct obs_buf out;
	obs_buf_init(&out);
	int64_t now = mono_ms(), wall = obs_time_now();
	int rc = obs_statsagg_flush(U.a, wall, now - U.last_flush, &out);
	U.last_flush = now;
	if (!rc)
		rc = sink_send("ingest", out.data, out.len, NULL, 0);
	obs_buf_release(&out);
	struct obs_statsagg_stats st;
	obs_statsagg_stats(U.a, &st);
	pthread_mutex_lock(&U.mu);
	U.flushes++;
	U.flush_drops += rc != 0;
	U.lines = st.lines;
	U.bad_lines = st.bad_lines;
	U.last_flush_wall = wall;
	pthread_mutex_unlock(&U.mu);
	if (st.bad_lines > U.bad_reported) {   /* one errors line per interval */
		char why[300];
		snprintf(why, sizeof(why), "%llu malformed lines, the last %s",
			 (unsigned long long)(st.bad_lines - U.bad_reported), U.last_bad);
		sink_error("statsd", U.listen, why);
		U.bad_reported = st.bad_lines;
	}
}

static void *run(void *arg)
{
	size_t cap = U.max_packet + 1;
	char *bufs = malloc(BATCH * cap);
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	char ctl[BATCH][CMSG_SPACE(sizeof(uint32_t))];
	if (!bufs)
		err(2, "out of memory");
	U.last_flush = mono_ms();
	while (!U.stop) {
		int64_t left = U.last_flush + U.flush_ms - mono_ms();
		if (left <= 0) {
			flush();
			continue;
		}
		struct pollfd pf = { U.fd, POLLIN, 0 };
		int pr = poll(&pf, 1, (int)(left > 200 ? 200 : left));
		if (pr <= 0)
			continue;
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ bufs + (size_t)i * cap, cap };
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_control = ctl[i];
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		int n = recvmmsg(U.fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		uint64_t over = 0, bad = 0, drops = 0;
		int have_drops = 0;
		for (int i = 0; i < n; i++) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
					uint32_t d;
					memcpy(&d, CMSG_DATA(c), sizeof(d));
					drops = d;
					have_drops = 1;
				}
			if ((msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || msgs[i].msg_len > U.max_packet) {
				over++;
				continue;
			}
			long r = obs_statsagg_feed(U.a, iov[i].iov_base, msgs[i].msg_len, on_bad, NULL);
			if (r < 0)
				err(2, "out of memory");
			bad += r > 0;
		}
		struct obs_statsagg_stats st;
		obs_statsagg_stats(U.a, &st);
		pthread_mutex_lock(&U.mu);
		U.lines = st.lines;
		U.bad_lines = st.bad_lines;
		U.packets += (uint64_t)n;
		U.oversized += over;
		U.malformed += bad;
		if (have_drops)
			U.kernel_drops = drops;
		pthread_mutex_unlock(&U.mu);
	}
	flush();
	free(bufs);
	return NULL;
}

int statsd_start(const struct statsd_opts *o)
{
	char host[128];
	const char *port;
	snprintf(U.listen, sizeof(U.listen), "%s", o->listen);
	snprintf(host, sizeof(host), "%s", o->listen);
	char *c = strrchr(host, ':');
	if (!c) {
		port = o->listen;
		snprintf(host, sizeof(host), "127.0.0.1");
	} else {
		*c = 0;
		port = c + 1;
	}
	char *h = host;
	if (*h == '[' && h[strlen(h) - 1] == ']') {
		h[strlen(h) - 1] = 0;
		h++;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE }, *ai;
	int e = getaddrinfo(*h ? h : NULL, port, &hints, &ai);
	if (e) {
		warnx("invalid statsd address '%s': %s", o->listen, gai_strerror(e));
		return -EINVAL;
	}
	U.fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (U.fd < 0 || bind(U.fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		e = errno;
		warn("cannot listen on '%s'", o->listen);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	struct sockaddr_storage sa;
	socklen_t sl = sizeof(sa);
	char hb[64], pb[16];
	if (getsockname(U.fd, (struct sockaddr *)&sa, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&sa, sl, hb, sizeof(hb), pb, sizeof(pb), NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		snprintf(U.listen, sizeof(U.listen), strchr(hb, ':') ? "[%s]:%s" : "%s:%s", hb, pb);   /* the port bound */
	int sz = 8 << 20, one = 1;
	if (setsockopt(U.fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(U.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(U.fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	U.a = obs_statsagg_new(o->pcts, o->npcts);
	if (!U.a)
		return -errno;
	U.flush_ms = o->flush_ms;
	U.max_packet = o->max_packet;
	if (pthread_create(&U.th, NULL, run, NULL))
		return -EAGAIN;
	U.started = 1;
	return 0;
}

void statsd_stop(void)
{
	if (!U.started)
		return;
	U.stop = 1;
	pthread_join(U.th, NULL);
	close(U.fd);
	obs_statsagg_free(U.a);
	U.a = NULL;
	U.started = 0;   /* the counters stay for the last status */
}

void statsd_status(struct obs_buf *out)
{
	if (!U.listen[0])
		return;
	char ts[40] = "never";
	pthread_mutex_lock(&U.mu);
	if (U.flushes)
		obs_time_format(U.last_flush_wall, OBS_TIME_RFC3339, ts);
	obs_buf_printf(out,
		       "statsd listen=%s packets=%" PRIu64 " lines=%" PRIu64 " bad_lines=%" PRIu64 " malformed_packets=%" PRIu64
		       " oversized_packets=%" PRIu64 " kernel_drops=%" PRIu64 " flushes=%" PRIu64 " last_flush=%s"
		       " flush_drops=%" PRIu64 "\n",
		       U.listen, U.packets, U.lines, U.bad_lines, U.malformed, U.oversized, U.kernel_drops, U.flushes, ts,
		       U.flush_drops);
	pthread_mutex_unlock(&U.mu);
}
