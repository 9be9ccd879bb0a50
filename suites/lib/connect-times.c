/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Times TCP connects to ADDRESS:PORT, one after another: prints each handshake's duration in
 * nanoseconds, one a line. A connect is what crosses a Service's NAT (every later packet of the
 * connection follows conntrack), so it is where the cost of the Service lookup shows end to end.
 * Exits 1 at the first connect that fails or takes longer than two seconds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct timeval limit = {.tv_sec = 2};
	int count;

	if (argc != 4) {
		fprintf(stderr, "usage: %s ADDRESS PORT COUNT\n", argv[0]);
		return 2;
	}
	if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
		fprintf(stderr, "not an IPv4 address: %s\n", argv[1]);
		return 2;
	}
	to.sin_port = htons((unsigned short)atoi(argv[2]));
	count = atoi(argv[3]);
	for (int i = 0; i < count; i++) {
		struct timespec a, b;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0) {
			perror("socket");
			return 1;
		}
		/* A lost SYN would otherwise wait out the kernel's retransmits (minutes). */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
		clock_gettime(CLOCK_MONOTONIC, &a);
		if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
			fprintf(stderr, "connect %d of %d: ", i + 1, count);
			perror(NULL);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
		close(fd);
	}
	return 0;
}
