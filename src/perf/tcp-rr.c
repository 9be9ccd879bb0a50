/*
 * tcp-rr: small TCP exchanges, timed one by one, for latency and connection-rate figures that
 * the timer of a scripting runtime would blur.
 *
 *   tcp-rr server PORT                 serve until killed; prints "listening" once it accepts
 *   tcp-rr rr HOST PORT SECONDS        one kept-alive connection, request after request
 *   tcp-rr crr HOST PORT SECONDS       connect, request, reply, close, again and again
 *   tcp-rr connect HOST PORT COUNT     COUNT connects, one after another, nothing sent: each one's
 *                                      time to established, in nanoseconds, one a line (any
 *                                      listening port will do: the server's kernel answers)
 *
 * A request and a reply are MSG bytes each. The server keeps a connection until its client ends
 * it. A crr client ends each connection with a reset (SO_LINGER 0), so that neither side keeps it
 * in TIME_WAIT: the client does not run out of ports in a long run, and a NAT that picks source
 * ports at random (kube-proxy's SNAT) never meets a server's TIME_WAIT socket with the same
 * addresses and ports, which would hold a SYN back a second (a cost of the load generator, not
 * of the dataplane's work per connection).
 *
 * The clients print one JSON object on stdout: exchanges completed, seconds, exchanges per
 * second, and the 50th and 99th percentile and the longest of one exchange's time in
 * microseconds (rr: write to reply read; crr: socket() to the reset sent). A failed exchange ends an rr run (one
 * connection is the point) and is counted and skipped in a crr run; the first error is named.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAX_CONNS 1024
/* How long one step of an exchange may take before the client calls it failed. */
#define STEP_TIMEOUT_S 2

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr, "usage: tcp-rr server PORT | tcp-rr rr|crr HOST PORT SECONDS | tcp-rr connect HOST PORT COUNT\n");
	return 2;
}

static int parse_port(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);
	return (*s && !*end && v > 0 && v < 65536) ? (int)v : -1;
}

static void no_delay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- server ---------------------------------------------------------------------------- */

struct conn {
	int fd;
	int got;
	char req[MSG];
};

static int serve(int port)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1024) < 0) {
		fprintf(stderr, "tcp-rr server: port %d: %s\n", port, strerror(errno));
		return 1;
	}
	printf("listening on %d\n", port);
	fflush(stdout);

	static struct pollfd pfd[MAX_CONNS + 1];
	static struct conn conns[MAX_CONNS];
	int n = 0;
	char reply[MSG];
	memset(reply, 'r', sizeof(reply));
	for (;;) {
		pfd[0] = (struct pollfd){ .fd = ls, .events = n < MAX_CONNS ? POLLIN : 0 };
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
		if (poll(pfd, n + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "tcp-rr server: poll: %s\n", strerror(errno));
			return 1;
		}
		/* Serve the open connections before accepting, so that indexes match pfd. */
		for (int i = n - 1; i >= 0; i--) {
			if (!pfd[i + 1].revents)
				continue;
			struct conn *c = &conns[i];
			ssize_t r = read(c->fd, c->req + c->got, MSG - c->got);
			int done = r <= 0;
			if (r > 0) {
				c->got += (int)r;
				if (c->got == MSG) {
					/* MSG bytes always fit an empty send buffer: a short write is a broken peer. */
					done = write(c->fd, reply, MSG) != MSG;
					c->got = 0;
				}
			}
			if (done) {
				close(c->fd);
				conns[i] = conns[--n];
			}
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept(ls, NULL, NULL);
			if (fd >= 0) {
				no_delay(fd);
				conns[n++] = (struct conn){ .fd = fd };
			}
		}
	}
}

/* ---- clients --------------------------------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

static void add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			fprintf(stderr, "tcp-rr: out of memory\n");
			exit(1);
		}
	}
	s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank, in microseconds; the samples must be sorted. */
static double percentile_us(const struct samples *s, double p)
{
	if (!s->n)
		return 0;
	size_t rank = (size_t)((p / 100.0) * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (double)s->v[rank - 1] / 1000.0;
}

static char first_error[160];
static unsigned long errors;

static void failed(const char *step)
{
	errors++;
	if (!first_error[0]) {
		const char *why = errno == EAGAIN || errno == EINPROGRESS ? "timed out" : strerror(errno);
		snprintf(first_error, sizeof(first_error), "%s: %s", step, why);
	}
}

static int connect_to(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = STEP_TIMEOUT_S };
	if (fd < 0) {
		failed("socket");
		return -1;
	}
	/* SO_SNDTIMEO bounds connect() as well as writes. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	no_delay(fd);
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
		failed("connect");
		close(fd);
		return -1;
	}
	return fd;
}

/* One request and its whole reply on an open connection; 0 when both went through. */
static int exchange(int fd)
{
	char req[MSG], reply[MSG];
	memset(req, 'q', sizeof(req));
	if (write(fd, req, MSG) != MSG) {
		failed("write");
		return -1;
	}
	for (int got = 0; got < MSG;) {
		ssize_t r = read(fd, reply + got, MSG - got);
		if (r <= 0) {
			if (r == 0)
				errno = ECONNRESET;
			failed("read");
			return -1;
		}
		got += (int)r;
	}
	return 0;
}

/* Ends a connection with a reset: no TIME_WAIT on either side. */
static void reset_close(int fd)
{
	struct linger now = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
	close(fd);
}

static void report(const char *mode, struct samples *s, double seconds)
{
	qsort(s->v, s->n, sizeof(*s->v), cmp_u64);
	printf("{\"mode\":\"%s\",\"exchanges\":%zu,\"seconds\":%.3f,\"perSecond\":%.1f,"
	       "\"p50Us\":%.1f,\"p99Us\":%.1f,\"maxUs\":%.1f,\"errors\":%lu",
	       mode, s->n, seconds, seconds > 0 ? (double)s->n / seconds : 0.0, percentile_us(s, 50),
	       percentile_us(s, 99), percentile_us(s, 100), errors);
	if (first_error[0]) {
		printf(",\"error\":\"");
		/* strerror texts hold no quote or backslash; keep the JSON valid whatever comes. */
		for (const char *p = first_error; *p; p++)
			putchar(*p == '"' || *p == '\\' ? '\'' : *p);
		putchar('"');
	}
	printf("}\n");
}

static int run_client(int keep_alive, const char *host, int port, double seconds)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
		fprintf(stderr, "tcp-rr: %s is not an IPv4 address\n", host);
		return 2;
	}
	struct samples s = { 0 };
	int fd = -1;
	if (keep_alive) {
		fd = connect_to(&to);
		/* One exchange first, not timed: the path's neighbours and flow entries are set up. */
		if (fd < 0 || exchange(fd) < 0) {
			report("rr", &s, 0);
			return 1;
		}
	}
	uint64_t start = now_ns();
	uint64_t end = start + (uint64_t)(seconds * 1e9);
	uint64_t t = start;
	while (t < end) {
		uint64_t t0 = now_ns();
		if (keep_alive) {
			if (exchange(fd) < 0)
				break;
		} else {
			int c = connect_to(&to);
			int ok = c >= 0 && exchange(c) == 0;
			if (c >= 0)
				reset_close(c);
			if (!ok) {
				t = now_ns();
				continue;
			}
		}
		t = now_ns();
		add(&s, t - t0);
	}
	if (fd >= 0)
		close(fd);
	report(keep_alive ? "rr" : "crr", &s, (double)(t - start) / 1e9);
	return keep_alive && errors ? 1 : 0;
}

/* Times COUNT connects; the first that fails ends the run with exit 1 and what failed. */
static int run_connects(const char *host, int port, long count)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, host, &to.sin_addr) != 1) {
		fprintf(stderr, "tcp-rr: %s is not an IPv4 address\n", host);
		return 2;
	}
	for (long i = 0; i < count; i++) {
		uint64_t t0 = now_ns();
		int fd = connect_to(&to);
		uint64_t t1 = now_ns();
		if (fd < 0) {
			fprintf(stderr, "tcp-rr: connect %ld of %ld: %s\n", i + 1, count, first_error);
			return 1;
		}
		/* An ordinary close: the client keeps TIME_WAIT, and the server's program sees a plain end. */
		close(fd);
		printf("%llu\n", (unsigned long long)(t1 - t0));
	}
	return 0;
}

int main(int argc, char **argv)
{
	/* A peer gone mid-write is an error to count, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "server")) {
		int port = parse_port(argv[2]);
		return port < 0 ? usage() : serve(port);
	}
	if (argc == 5 && (!strcmp(argv[1], "rr") || !strcmp(argv[1], "crr"))) {
		int port = parse_port(argv[3]);
		char *end;
		double seconds = strtod(argv[4], &end);
		if (port < 0 || *end || !(seconds > 0 && seconds <= 3600))
			return usage();
		return run_client(!strcmp(argv[1], "rr"), argv[2], port, seconds);
	}
	if (argc == 5 && !strcmp(argv[1], "connect")) {
		int port = parse_port(argv[3]);
		char *end;
		long count = strtol(argv[4], &end, 10);
		if (port < 0 || *end || !(count > 0 && count <= 1000000))
			return usage();
		return run_connects(argv[2], port, count);
	}
	return usage();
}
