/*
 * berth-logger: owns the stdio of one non-TTY container, in place of conmon's copy loop.
 *
 *   berth-logger -l LOG -s SOCKET -p PIDFILE [-i] [-o] [-m MAX_SIZE -n MAX_FILES] -- CONMON ARGV...
 *
 * It makes the container's stdout/stderr pipes (and stdin with -i), binds the attach socket, forks, and
 * the parent execs conmon (run with `-l passthrough`, so conmon hands its fds 0-2 to the container and
 * only monitors it: exit file, oom, subreaper). The child is the logger: it appends everything the
 * container writes to LOG in the k8s-file format berth reads (`<RFC3339Nano> <stdout|stderr> <F|P> text`)
 * and copies it to the attached clients. Why a separate process: conmon reads 8 KiB at a time and writes
 * per line; this reads 256 KiB and writes the log in one call per read. It is not berthd, so output keeps
 * being logged while berthd is down.
 *
 * Attach clients: see attach.c. The logger exits once both output pipes are at EOF, the log is written
 * and every client got everything; berthd waits for that exit before it reports the container's exit,
 * so `logs` after `wait` is complete.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "logger.h"

#define OUT_CAP (1024 * 1024)
/*
 * Coalescing: a pipe read again within STREAM_GAP_NS of its last read while it holds less than
 * COALESCE_BYTES waits COALESCE_MS first. A container streaming output in small writes (4 KiB from
 * `head`, a line at a time from others) then costs a read, a log write and a send per 64 KiB, not per
 * write, which on a small machine leaves the CPU to the container and the client. Output after a quiet
 * moment is read at once.
 */
#define STREAM_GAP_NS 1000000LL
#define COALESCE_BYTES (64 * 1024)
#define COALESCE_MS 1

static const char *log_path;
static int log_fd = -1;
static long long log_size, max_size;
static int max_files = 1;
static char *out_buf;
static size_t out_len;
char *read_buf;
int bufs_dirty;

int ep;
int pipe_fd[4] = {-1, -1, -1, -1}; /* index = stream (2 stdout, 3 stderr) */
static int paused;
int stdin_fd = -1, stdin_once;
static int listen_fd = -1;

static int watching[4];
static long long last_read_ns[4], defer_until_ns[4];

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A pipe is watched unless a lagging client paused reading or its read is deferred (coalescing). */
static void sync_watch(void)
{
	for (int s = STREAM_STDOUT; s <= STREAM_STDERR; s++) {
		if (pipe_fd[s] < 0)
			continue;
		int want = !paused && !defer_until_ns[s];
		if (want == watching[s])
			continue;
		/* removed, not masked: a pipe at EOF reports EPOLLHUP even with no events asked for */
		struct epoll_event e = {.events = EPOLLIN, .data.u32 = (uint32_t)s};
		if (epoll_ctl(ep, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, pipe_fd[s], &e) < 0)
			perror("berth-logger: epoll_ctl pipe");
		watching[s] = want;
	}
}

/* Stop reading the container's pipes while a client lags far behind; start again when none does. */
static void update_pause(void)
{
	int lag = clients_lag();
	if (lag == paused)
		return;
	paused = lag;
	sync_watch();
}

static void die(const char *what)
{
	fprintf(stderr, "berth-logger: %s: %s\n", what, strerror(errno));
	exit(125);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a full disk loses output; the container keeps running (as with conmon) */
		p += w;
		n -= (size_t)w;
	}
}

static void open_log(void)
{
	struct stat st;
	log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (log_fd < 0)
		die("open log");
	log_size = fstat(log_fd, &st) == 0 ? st.st_size : 0;
}

/* log → log.1 → … → log.(max_files-1); the oldest falls off. One file: start it over. */
static void rotate(void)
{
	char from[4096], to[4096];
	close(log_fd);
	if (max_files <= 1) {
		if (truncate(log_path, 0) < 0 && errno != ENOENT)
			perror("berth-logger: truncate");
	} else {
		for (int i = max_files - 1; i >= 1; i--) {
			snprintf(to, sizeof to, "%s.%d", log_path, i);
			if (i == 1)
				snprintf(from, sizeof from, "%s", log_path);
			else
				snprintf(from, sizeof from, "%s.%d", log_path, i - 1);
			if (rename(from, to) < 0 && errno != ENOENT)
				perror("berth-logger: rename");
		}
	}
	open_log();
}

static void flush_log(void)
{
	if (out_len == 0)
		return;
	write_all(log_fd, out_buf, out_len);
	log_size += (long long)out_len;
	out_len = 0;
}

/* "2026-11-29T07:30:00.123456789Z " : the time field of every record of one read */
static size_t timestamp(char *dst)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return (size_t)snprintf(dst, 48, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ ", tm.tm_year + 1900, tm.tm_mon + 1,
				tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* One record per line; a read that ends without a newline gives a P (partial) record, as conmon's do. */
static void log_chunk(int stream, const char *p, size_t n)
{
	char hdr[64];
	size_t h = timestamp(hdr);
	memcpy(hdr + h, stream == STREAM_STDOUT ? "stdout F " : "stderr F ", 9);
	h += 9;
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) + 1 : n;
		size_t rec = h + len + (nl ? 0 : 1);
		if (max_size > 0 && log_size + (long long)(out_len + rec) > max_size && log_size + (long long)out_len > 0) {
			flush_log();
			rotate();
		}
		if (out_len + rec > OUT_CAP)
			flush_log();
		char *o = out_buf + out_len;
		memcpy(o, hdr, h);
		o[h - 2] = nl ? 'F' : 'P';
		memcpy(o + h, p, len);
		if (!nl)
			o[h + len] = '\n';
		out_len += rec;
		p += len;
		n -= len;
	}
}

static void read_pipe(int s)
{
	last_read_ns[s] = now_ns();
	ssize_t n = read(pipe_fd[s], read_buf, READ_SIZE);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close(pipe_fd[s]);
		pipe_fd[s] = -1;
		watching[s] = 0;
		return;
	}
	bufs_dirty = 1;
	log_chunk(s, read_buf, (size_t)n);
	/* the log first: what a client is sent is already on its way to the file */
	flush_log();
	send_output(s, read_buf, (size_t)n);
}

/* The pipe is readable: read it now, or, while it streams in small writes, a little later (coalescing) */
static void pipe_input(int s, uint32_t ev)
{
	long long t = now_ns();
	int avail;
	if (!(ev & EPOLLHUP) && t - last_read_ns[s] < STREAM_GAP_NS && ioctl(pipe_fd[s], FIONREAD, &avail) == 0 &&
	    avail < COALESCE_BYTES) {
		defer_until_ns[s] = t + COALESCE_MS * 1000000LL;
		sync_watch();
		return;
	}
	read_pipe(s);
}

static void run(void)
{
	struct epoll_event evs[16];
	while (pipe_fd[STREAM_STDOUT] >= 0 || pipe_fd[STREAM_STDERR] >= 0 || clients_pending()) {
		/* idle for a second after output: give the buffers' pages back, so a quiet logger stays small */
		int deferred = defer_until_ns[STREAM_STDOUT] || defer_until_ns[STREAM_STDERR];
		int n = epoll_wait(ep, evs, 16, deferred ? COALESCE_MS : bufs_dirty ? 1000 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		if (deferred) {
			long long t = now_ns();
			for (int s = STREAM_STDOUT; s <= STREAM_STDERR; s++) {
				if (!defer_until_ns[s] || defer_until_ns[s] > t)
					continue;
				defer_until_ns[s] = 0;
				sync_watch();
				if (pipe_fd[s] >= 0 && !paused)
					read_pipe(s);
			}
			if (n == 0)
				continue;
		}
		if (n == 0) {
			madvise(out_buf, OUT_CAP, MADV_DONTNEED);
			madvise(read_buf, READ_SIZE, MADV_DONTNEED);
			bufs_dirty = 0;
			continue;
		}
		for (int i = 0; i < n; i++) {
			uint32_t id = evs[i].data.u32, ev = evs[i].events;
			if (id == STREAM_STDOUT || id == STREAM_STDERR) {
				if (pipe_fd[id] >= 0)
					pipe_input((int)id, ev);
			} else if (id == 0) {
				accept_client();
			} else if (id == 1) {
				stdin_writable();
			} else {
				client_event(id, ev);
			}
		}
		update_pause();
	}
	flush_log();
}

/* Close every inherited fd but ours (the launcher's fd 3 is conmon's sync fifo, for example). */
static void close_other_fds(int *keep, int nkeep)
{
	/* sorted, then the gaps between them closed: no directory listing (its buffer would stay in the heap) */
	for (int i = 1; i < nkeep; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned int from = 3;
	for (int i = 0; i < nkeep; i++) {
		if (keep[i] < 0 || (unsigned int)keep[i] < from)
			continue;
		if ((unsigned int)keep[i] > from && close_range(from, (unsigned int)keep[i] - 1, 0) < 0)
			perror("berth-logger: close_range");
		from = (unsigned int)keep[i] + 1;
	}
	if (close_range(from, ~0U, 0) < 0)
		perror("berth-logger: close_range");
}

static void usage(void)
{
	fprintf(stderr, "usage: berth-logger -l LOG -s SOCKET -p PIDFILE [-i] [-o] [-m MAX_SIZE] [-n MAX_FILES] -- CONMON ARGS...\n");
	exit(125);
}

int main(int argc, char **argv)
{
	const char *sock_path = NULL, *pid_path = NULL;
	int with_stdin = 0, opt;
	while ((opt = getopt(argc, argv, "+l:s:p:iom:n:")) != -1) {
		switch (opt) {
		case 'l': log_path = optarg; break;
		case 's': sock_path = optarg; break;
		case 'p': pid_path = optarg; break;
		case 'i': with_stdin = 1; break;
		case 'o': stdin_once = 1; break;
		case 'm': max_size = atoll(optarg); break;
		case 'n': max_files = atoi(optarg); break;
		default: usage();
		}
	}
	if (!log_path || !sock_path || !pid_path || optind >= argc)
		usage();

	int out[2], err[2], in[2] = {-1, -1};
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (with_stdin && pipe2(in, O_CLOEXEC) < 0))
		die("pipe");
	/* a bigger pipe lets the container write more per wakeup of the logger (best effort) */
	fcntl(out[0], F_SETPIPE_SZ, 1024 * 1024);
	fcntl(err[0], F_SETPIPE_SZ, 1024 * 1024);

	/* the socket listens before conmon runs, so berthd can connect as soon as conmon reports the pid */
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof addr.sun_path) {
		errno = ENAMETOOLONG;
		die("socket path");
	}
	strcpy(addr.sun_path, sock_path);
	char dir[sizeof addr.sun_path];
	strcpy(dir, sock_path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			die("mkdir socket dir");
	}
	unlink(sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 16) < 0)
		die("attach socket");
	open_log();

	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid > 0) {
		/* conmon: the container's stdio are its own (passthrough) */
		char buf[24];
		int pf = open(pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int len = snprintf(buf, sizeof buf, "%d", pid);
		if (pf < 0 || write(pf, buf, (size_t)len) != len)
			die("pidfile");
		close(pf);
		int null_in = with_stdin ? in[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null_in < 0 || dup2(null_in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			die("dup2");
		execv(argv[optind], argv + optind);
		die("exec conmon");
	}

	setsid();
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		die("chdir");
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 || dup2(null_fd, 2) < 0)
		die("/dev/null");
	close(out[1]);
	close(err[1]);
	if (with_stdin)
		close(in[0]);
	int keep[] = {out[0], err[0], in[1], listen_fd, log_fd};
	close_other_fds(keep, 5);

	/* mmap'ed, not static: the pages exist only while there is output, and go back after (run) */
	out_buf = mmap(NULL, OUT_CAP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	read_buf = mmap(NULL, READ_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (out_buf == MAP_FAILED || read_buf == MAP_FAILED)
		die("mmap");
	attach_init(listen_fd);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll");
	pipe_fd[STREAM_STDOUT] = out[0];
	pipe_fd[STREAM_STDERR] = err[0];
	struct epoll_event e = {.events = EPOLLIN, .data.u32 = 0};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &e) < 0)
		die("epoll_ctl");
	for (int s = STREAM_STDOUT; s <= STREAM_STDERR; s++) {
		e.data.u32 = (uint32_t)s;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, pipe_fd[s], &e) < 0)
			die("epoll_ctl");
		watching[s] = 1;
	}
	if (with_stdin) {
		stdin_fd = in[1];
		if (fcntl(stdin_fd, F_SETFL, O_NONBLOCK) < 0)
			die("fcntl");
	}
	run();
	/* the socket goes first: a client that connects now is refused rather than left waiting */
	close(listen_fd);
	unlink(sock_path);
	close_stdin();
	close_clients();
	close(log_fd);
	return 0;
}
