/*
 * berth-spawn --serve SOCKET: starts programs for berthd without a fork of berthd (a fork of a ~100 MB Node
 * process blocks its event loop for several milliseconds each time). berthd starts it once, with a pipe as
 * stdin; when that pipe closes (berthd stopped or died) the server exits. Programs under way run on.
 * It starts what berthd names (the OCI runtime's `exec`, for instance) and joins no namespace itself.
 *
 * Each connection is one request, handled by a fork of the server:
 *   berthd → server: u32 (big-endian) length, then the arguments, each ended by a NUL; then, for a program
 *                    started with --stdin, its stdin, raw, until berthd shuts down its writing side
 *   server → berthd: frames of u8 type, u32 (big-endian) length, payload:
 *                    1 stdout, 2 stderr, 3 status ("pid N", "ok" or "error MESSAGE"), 4 exit status (decimal,
 *                    128+N for signal N)
 *   [--stdin] [--output] -- PROGRAM ARGS...   run PROGRAM (an absolute path) with pipes for stdin and for
 *                                            stdout/stderr (else /dev/null), relay them, then its exit status
 *   --mount FSTYPE SOURCE TARGET OPTIONS CWD  mount(2) (mount(8) costs a shell, a fork and libmount's start);
 *                                            OPTIONS as mount -o takes them (ro, nosuid, nodev, noexec, ...
 *                                            become flags); relative paths in them (lowerdir) start at CWD
 *   --umount TARGET [--lazy]
 * A connection berthd closes while a program runs is a detach: its output is read and dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_REQUEST (1 << 20)

enum { FRAME_STDOUT = 1, FRAME_STDERR = 2, FRAME_STATUS = 3, FRAME_EXIT = 4 };

static int conn = -1;
static int conn_dead;

static void send_all(const void *buf, size_t len)
{
	const char *p = buf;
	while (len && !conn_dead) {
		ssize_t n = send(conn, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			conn_dead = 1;
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static void send_frame(int type, const void *data, size_t len)
{
	unsigned char head[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
				 (unsigned char)(len >> 8), (unsigned char)len};
	send_all(head, sizeof head);
	send_all(data, len);
}

static void frame_status(const char *kind, const char *text)
{
	char line[4200];
	int n = snprintf(line, sizeof line, "%s %s", kind, text);
	send_frame(FRAME_STATUS, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
}

static void __attribute__((noreturn)) bad_request(const char *what)
{
	frame_status("error", what);
	_exit(1);
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The request's arguments as an argv (the buffer is kept: argv points into it). */
static char **read_request(int *argc)
{
	unsigned char head[4];
	uint32_t len;
	char *buf, *p, **argv;
	int n = 0, cap = 64;
	if (read_full(conn, head, 4) < 0)
		exit(1);
	len = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 | (uint32_t)head[2] << 8 | head[3];
	if (len == 0 || len > MAX_REQUEST || !(buf = malloc(len + 1)) || read_full(conn, buf, len) < 0)
		bad_request("bad request");
	buf[len] = 0;
	argv = malloc(sizeof *argv * (size_t)cap);
	argv[n++] = (char *)"berth-spawn";
	for (p = buf; p < buf + len; p += strlen(p) + 1) {
		if (n + 2 > cap)
			argv = realloc(argv, sizeof *argv * (size_t)(cap *= 2));
		argv[n++] = p;
	}
	argv[n] = NULL;
	*argc = n;
	return argv;
}

/* Copies until the process's output ends: connection → stdin (buffered), stdout/stderr → frames. */
static void pump(int in_w, int out_r, int err_r)
{
	static char inbuf[65536], buf[65536];
	size_t pending = 0, off = 0;
	int reading_conn = in_w >= 0;
	while (out_r >= 0 || err_r >= 0) {
		struct pollfd fds[4];
		int nfds = 0, i_conn = -1, i_in = -1, i_out = -1, i_err = -1;
		if (reading_conn && !pending && !conn_dead) {
			i_conn = nfds;
			fds[nfds++] = (struct pollfd){conn, POLLIN, 0};
		}
		if (in_w >= 0 && pending) {
			i_in = nfds;
			fds[nfds++] = (struct pollfd){in_w, POLLOUT, 0};
		}
		if (out_r >= 0) {
			i_out = nfds;
			fds[nfds++] = (struct pollfd){out_r, POLLIN, 0};
		}
		if (err_r >= 0) {
			i_err = nfds;
			fds[nfds++] = (struct pollfd){err_r, POLLIN, 0};
		}
		if (poll(fds, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (i_conn >= 0 && fds[i_conn].revents) {
			ssize_t n = read(conn, inbuf, sizeof inbuf);
			if (n > 0) {
				pending = (size_t)n;
				off = 0;
			} else if (n == 0 || errno != EINTR) {
				/* berthd's end of stdin (or the connection is gone): the process sees EOF */
				reading_conn = 0;
				close(in_w);
				in_w = -1;
			}
		}
		if (i_in >= 0 && fds[i_in].revents) {
			ssize_t n = write(in_w, inbuf + off, pending);
			if (n > 0) {
				off += (size_t)n;
				pending -= (size_t)n;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				/* the process closed its stdin: drop what it will not read */
				pending = 0;
				reading_conn = 0;
				close(in_w);
				in_w = -1;
			}
		}
		for (int k = 0; k < 2; k++) {
			int idx = k ? i_err : i_out, *fd = k ? &err_r : &out_r;
			if (idx < 0 || !fds[idx].revents)
				continue;
			ssize_t n = read(*fd, buf, sizeof buf);
			if (n > 0)
				send_frame(k ? FRAME_STDERR : FRAME_STDOUT, buf, (size_t)n);
			else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				close(*fd);
				*fd = -1;
			}
		}
	}
	if (in_w >= 0)
		close(in_w);
}

/* Splits mount(8)-style options into mount(2)'s flags (the words below) and the filesystem's own data. */
static unsigned long mount_flags(const char *options, char *data, size_t datalen)
{
	static const struct { const char *word; unsigned long flag; } words[] = {
		{"ro", MS_RDONLY}, {"rw", 0}, {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC},
		{"sync", MS_SYNCHRONOUS}, {"noatime", MS_NOATIME}, {"nodiratime", MS_NODIRATIME}, {"relatime", MS_RELATIME},
	};
	unsigned long flags = 0;
	size_t used = 0;
	const char *p = options;
	data[0] = 0;
	while (*p) {
		size_t len = strcspn(p, ","), i;
		for (i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strlen(words[i].word) == len && !strncmp(p, words[i].word, len))
				break;
		if (i < sizeof words / sizeof words[0])
			flags |= words[i].flag;
		else if (used + len + 2 < datalen) {
			used += (size_t)snprintf(data + used, datalen - used, "%s%.*s", used ? "," : "", (int)len, p);
		}
		p += len + (p[len] == ',');
	}
	return flags;
}

static void __attribute__((noreturn)) mount_request(int argc, char **argv)
{
	int rc = -1;
	if (!strcmp(argv[1], "--mount") && argc == 7) {
		static char data[MAX_REQUEST];
		unsigned long flags = mount_flags(argv[5], data, sizeof data);
		if (chdir(argv[6]) == 0)
			rc = mount(argv[3], argv[4], argv[2], flags, data);
	} else if (!strcmp(argv[1], "--umount") && (argc == 3 || argc == 4)) {
		rc = umount2(argv[2], argc == 4 && !strcmp(argv[3], "--lazy") ? MNT_DETACH : 0);
	} else {
		errno = EINVAL;
	}
	if (rc == 0)
		send_frame(FRAME_STATUS, "ok", 2);
	else
		frame_status("error", strerror(errno));
	_exit(0);
}

/* stdio of the program: pipes whose other ends stay here, or /dev/null */
static void setup_stdio(int pipe_stdin, int pipe_output, int *in_w, int *out_r, int *err_r)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC), p[2], i;
	*in_w = *out_r = *err_r = -1;
	for (i = 0; i < 3; i++) {
		int want = i == 0 ? pipe_stdin : pipe_output, keep;
		if (!want) {
			dup2(null, i);
			continue;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			bad_request(strerror(errno));
		dup2(i == 0 ? p[0] : p[1], i); /* dup2 clears close-on-exec: the program gets these */
		keep = i == 0 ? p[1] : p[0];
		close(i == 0 ? p[0] : p[1]);
		fcntl(keep, F_SETFL, O_NONBLOCK);
		if (i == 0)
			*in_w = keep;
		else if (i == 1)
			*out_r = keep;
		else
			*err_r = keep;
	}
	close(null);
}

/* Forks and execs argv[0]; returns its pid once it runs (a close-on-exec pipe says whether execv failed). */
static pid_t start_program(char **argv)
{
	int errpipe[2], err = 0;
	ssize_t n;
	pid_t pid;
	char msg[4200];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		bad_request(strerror(errno));
	pid = fork();
	if (pid < 0)
		bad_request(strerror(errno));
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], argv);
		err = errno;
		if (write(errpipe[1], &err, sizeof err) < 0) { /* the parent sees EOF and reports a bare start */ }
		_exit(127);
	}
	close(errpipe[1]);
	do
		n = read(errpipe[0], &err, sizeof err);
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	if (n == (ssize_t)sizeof err) {
		waitpid(pid, NULL, 0);
		snprintf(msg, sizeof msg, "cannot run %s: %s", argv[0], strerror(err));
		bad_request(msg);
	}
	return pid;
}

static void __attribute__((noreturn)) handle(int listener)
{
	int argc, in_w, out_r, err_r, pipe_stdin = 0, pipe_output = 0, i, status, code;
	char **argv, text[32];
	pid_t pid;
	close(listener);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	argv = read_request(&argc);
	if (argc > 1 && (!strcmp(argv[1], "--mount") || !strcmp(argv[1], "--umount")))
		mount_request(argc, argv);
	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--stdin"))
			pipe_stdin = 1;
		else if (!strcmp(argv[i], "--output"))
			pipe_output = 1;
		else
			bad_request("unknown option");
	}
	if (i + 1 >= argc || argv[i + 1][0] != '/')
		bad_request("no program (an absolute path) after --");
	/* stdin is relayed while the output is: without output there would be no loop to relay it in */
	if (pipe_stdin && !pipe_output)
		bad_request("--stdin needs --output");
	setup_stdio(pipe_stdin, pipe_output, &in_w, &out_r, &err_r);
	pid = start_program(&argv[i + 1]);
	/* the program has its own copies now */
	close(STDIN_FILENO);
	close(STDOUT_FILENO);
	close(STDERR_FILENO);
	snprintf(text, sizeof text, "%d", (int)pid);
	frame_status("pid", text);
	pump(in_w, out_r, err_r);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	snprintf(text, sizeof text, "%d", code);
	send_frame(FRAME_EXIT, text, strlen(text));
	_exit(0);
}

static int serve(const char *socket_path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int listener;
	if (strlen(socket_path) >= sizeof addr.sun_path) {
		fprintf(stderr, "berth-spawn: socket path too long: %s\n", socket_path);
		return 1;
	}
	strcpy(addr.sun_path, socket_path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unlink(socket_path);
	if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 128) < 0) {
		fprintf(stderr, "berth-spawn: cannot listen on %s: %s\n", socket_path, strerror(errno));
		return 1;
	}
	/* handlers are not waited for */
	signal(SIGCHLD, SIG_IGN);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {listener, POLLIN, 0}};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (fds[0].revents) {
			char c;
			if (read(STDIN_FILENO, &c, 1) <= 0)
				break;
		}
		if (fds[1].revents & POLLIN) {
			pid_t pid;
			conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
			if (conn < 0)
				continue;
			pid = fork();
			if (pid == 0)
				handle(listener);
			close(conn);
		}
	}
	unlink(socket_path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--serve"))
		return serve(argv[2]);
	fprintf(stderr, "usage: berth-spawn --serve SOCKET\n");
	return 2;
}
