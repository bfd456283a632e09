/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A socket-activation launcher for the tests, doing what systemd does for a
 * .socket unit (sd_listen_fds(3)): listen on ADDRESS, wait for the first
 * connection, then start PROGRAM with the listening socket as fd 3 (or 4,
 * behind an unrelated decoy socket at fd 3) and LISTEN_PID, LISTEN_FDS and
 * LISTEN_FDNAMES set.  The launcher waits for PROGRAM and passes SIGTERM
 * on.
 *
 *   activate [--decoy] [--fdname NAME] [--wrong-pid] ADDRESS -- PROGRAM...
 *
 * ADDRESS is "@name" (abstract) or a path.  Exit status: PROGRAM's, or 125
 * for a launcher error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static void
on_term(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static int
listen_on(const char *address)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(address);
	socklen_t len;
	int fd;

	if (n == 0 || n >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, address, n);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if (address[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, len) < 0 ||
	    listen(fd, 16) < 0) {
		perror("activate: listen");
		return -1;
	}
	return fd;
}

int
main(int argc, char **argv)
{
	const char *fdname = NULL;
	int decoy = 0, wrong_pid = 0, i = 1;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0 && argv[i][2]; i++) {
		if (strcmp(argv[i], "--decoy") == 0)
			decoy = 1;
		else if (strcmp(argv[i], "--wrong-pid") == 0)
			wrong_pid = 1;
		else if (strcmp(argv[i], "--fdname") == 0 && i + 1 < argc)
			fdname = argv[++i];
		else
			return 125;
	}
	if (i + 2 >= argc || strcmp(argv[i + 1], "--") != 0)
		return 125;
	const char *address = argv[i];
	char **prog = argv + i + 2;
	char decoy_addr[64];
	int d = -1;

	if (decoy) {
		snprintf(decoy_addr, sizeof(decoy_addr), "@lrpc-test-decoy-%d",
			 (int)getpid());
		d = listen_on(decoy_addr);
		if (d < 0)
			return 125;
	}
	int fd = listen_on(address);
	if (fd < 0)
		return 125;
	/* Say we listen (the test starts its client then), and start the
	 * service only when the first client knocks. */
	printf("activate: listening\n");
	fflush(stdout);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return 125;
	signal(SIGTERM, on_term);
	child = fork();
	if (child < 0)
		return 125;
	if (child == 0) {
		char buf[32];
		int next = 3;
		if (d >= 0) {
			if (dup2(d, next++) < 0)
				_exit(125);
		}
		if (dup2(fd, next++) < 0)
			_exit(125);
		snprintf(buf, sizeof(buf), "%d", next - 3);
		setenv("LISTEN_FDS", buf, 1);
		snprintf(buf, sizeof(buf), "%d",
			 wrong_pid ? (int)getppid() : (int)getpid());
		setenv("LISTEN_PID", buf, 1);
		if (fdname) {
			char names[256];
			snprintf(names, sizeof(names), "%s%s", d >= 0 ?
				 "decoy:" : "", fdname);
			setenv("LISTEN_FDNAMES", names, 1);
		}
		execv(prog[0], prog);
		perror("activate: exec");
		_exit(125);
	}
	close(fd);
	if (d >= 0)
		close(d);
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
