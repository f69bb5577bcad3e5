/*
 * berth-logger's attach clients (berthd, one connection per attached session).
 *
 * logger → client: frames [stream:1][length:4 BE][payload]; stream 2 stdout, 3 stderr, 0 = the answer to
 * a handover (payload 1 byte: 1 done, 0 refused). The first frame is type 0 with no payload: the client is
 * registered, and every byte the container writes from then on reaches it (a connect alone only queues it).
 * client → logger: frames [type:1][length:4 BE][payload]; type 1 = stdin bytes, type 2 = handover
 * (payload: fd number u32 BE in the client's process, then a byte: bit 0 stdout, bit 1 stderr). A
 * half-close ends the container's stdin when the logger runs with -o (StdinOnce).
 *
 * Handover: berthd gives the logger the docker client's own connection (the logger copies the fd out of
 * berthd with pidfd_getfd), and the logger writes the output there itself in docker's multiplexed format.
 * Why: forwarding 200 MiB through berthd's event loop cost about as much CPU as the container itself.
 * berthd keeps its own copy open and ends the connection when this client's attach connection closes,
 * which happens after everything was written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include "logger.h"

#define MAX_CLIENTS 32
/* the container waits (its pipe fills) while a client has this much unsent: a client sees every byte */
#define CLIENT_HIGH (4 * 1024 * 1024)
/* docker's frame size: the docker CLI reads a whole frame before it writes any of it */
#define DOCKER_FRAME (32 * 1024)
#define MAX_IOV (2 * (READ_SIZE / DOCKER_FRAME + 2))

struct client {
	int fd;     /* the attach connection; -1 = free slot */
	int direct; /* after a handover: the docker client's connection, else -1 */
	int want;   /* direct: bit per stream (1 << 2 stdout, 1 << 3 stderr) */
	pid_t peer;
	char *q; /* unsent output, for direct or fd */
	size_t qoff, qlen, qcap;
	int in_done;
	uint32_t events, direct_events;
	unsigned char hdr[5]; /* client → logger frame being read */
	int hdr_len, type;
	uint32_t need;
	unsigned char ctl[8];
	int ctl_len;
};

static struct client clients[MAX_CLIENTS];
static int lfd = -1;
static char *stdin_pend;
static size_t stdin_pend_len, stdin_pend_cap;
static int stdin_close_pending;

void attach_init(int listen_fd)
{
	lfd = listen_fd;
	for (int i = 0; i < MAX_CLIENTS; i++)
		clients[i].fd = clients[i].direct = -1;
}

static void ctl_mod(int fd, uint32_t id, uint32_t ev)
{
	struct epoll_event e = {.events = ev, .data.u32 = id};
	if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) < 0)
		perror("berth-logger: epoll_ctl");
}

static void set_events(struct client *c)
{
	int i = (int)(c - clients);
	/* no EPOLLIN/RDHUP while stdin input waits for the pipe: both are level-triggered and would spin */
	uint32_t in = c->in_done || stdin_pend_len ? 0 : EPOLLIN | EPOLLRDHUP;
	uint32_t ev = in | (c->direct < 0 && c->qlen ? EPOLLOUT : 0);
	if (ev != c->events)
		ctl_mod(c->fd, ID_CLIENT + (uint32_t)i, c->events = ev);
	if (c->direct >= 0) {
		ev = c->qlen ? EPOLLOUT : 0;
		if (ev != c->direct_events)
			ctl_mod(c->direct, ID_DIRECT + (uint32_t)i, c->direct_events = ev);
	}
}

static void drop_client(struct client *c)
{
	close(c->fd);
	if (c->direct >= 0)
		close(c->direct);
	free(c->q);
	memset(c, 0, sizeof *c);
	c->fd = c->direct = -1;
}

static int enqueue(struct client *c, const char *p, size_t n)
{
	if (c->qoff > 0 && c->qoff + c->qlen + n > c->qcap) {
		memmove(c->q, c->q + c->qoff, c->qlen);
		c->qoff = 0;
	}
	if (c->qoff + c->qlen + n > c->qcap) {
		size_t cap = c->qcap ? c->qcap : 256 * 1024;
		while (cap < c->qoff + c->qlen + n)
			cap *= 2;
		char *q = realloc(c->q, cap);
		if (!q)
			return -1;
		c->q = q;
		c->qcap = cap;
	}
	memcpy(c->q + c->qoff + c->qlen, p, n);
	c->qlen += n;
	return 0;
}

/* Send the buffers (at once when nothing is queued), queue what the socket did not take. */
static void send_iov(struct client *c, struct iovec *iov, int cnt)
{
	int out = c->direct >= 0 ? c->direct : c->fd;
	size_t done = 0;
	if (c->qlen == 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
		ssize_t w = sendmsg(out, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			drop_client(c);
			return;
		}
		done = w > 0 ? (size_t)w : 0;
	}
	for (int i = 0; i < cnt; i++) {
		size_t skip = done < iov[i].iov_len ? done : iov[i].iov_len;
		done -= skip;
		if (skip < iov[i].iov_len && enqueue(c, (char *)iov[i].iov_base + skip, iov[i].iov_len - skip) < 0) {
			drop_client(c);
			return;
		}
	}
	set_events(c);
}

static void send_to(struct client *c, int stream, const char *p, size_t n)
{
	struct iovec iov[MAX_IOV];
	unsigned char hdrs[MAX_IOV / 2][8];
	int cnt = 0;
	if (c->direct < 0) {
		unsigned char *h = hdrs[0];
		h[0] = (unsigned char)stream;
		h[1] = (unsigned char)(n >> 24), h[2] = (unsigned char)(n >> 16), h[3] = (unsigned char)(n >> 8), h[4] = (unsigned char)n;
		iov[cnt++] = (struct iovec){h, 5};
		iov[cnt++] = (struct iovec){(void *)p, n};
		send_iov(c, iov, cnt);
		return;
	}
	if (!(c->want & (1 << stream)))
		return;
	for (size_t off = 0; off < n; off += DOCKER_FRAME) {
		size_t len = n - off < DOCKER_FRAME ? n - off : DOCKER_FRAME;
		unsigned char *h = hdrs[cnt / 2];
		/* docker numbers the streams 1 stdout, 2 stderr */
		h[0] = (unsigned char)(stream - 1), h[1] = h[2] = h[3] = 0;
		h[4] = (unsigned char)(len >> 24), h[5] = (unsigned char)(len >> 16), h[6] = (unsigned char)(len >> 8), h[7] = (unsigned char)len;
		iov[cnt++] = (struct iovec){h, 8};
		iov[cnt++] = (struct iovec){(void *)(p + off), len};
	}
	send_iov(c, iov, cnt);
}

void send_output(int stream, const char *p, size_t n)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			send_to(&clients[i], stream, p, n);
}

static void flush_client(struct client *c)
{
	int out = c->direct >= 0 ? c->direct : c->fd;
	while (c->qlen > 0) {
		ssize_t w = send(out, c->q + c->qoff, c->qlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			drop_client(c);
			return;
		}
		c->qoff += (size_t)w;
		c->qlen -= (size_t)w;
	}
	if (c->qlen == 0)
		c->qoff = 0;
	set_events(c);
}

int clients_lag(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].qlen > CLIENT_HIGH)
			return 1;
	return 0;
}

int clients_pending(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].qlen > 0)
			return 1;
	return 0;
}

void close_clients(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			drop_client(&clients[i]);
}

void close_stdin(void)
{
	if (stdin_fd < 0)
		return;
	close(stdin_fd); /* also leaves the epoll set */
	stdin_fd = -1;
	stdin_pend_len = 0;
	stdin_close_pending = 0;
}

static void all_set_events(void)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (clients[i].fd >= 0)
			set_events(&clients[i]);
}

/* Write what is pending for the container's stdin; watch the pipe while some is left. */
static void push_stdin(void)
{
	size_t off = 0;
	while (off < stdin_pend_len) {
		ssize_t w = write(stdin_fd, stdin_pend + off, stdin_pend_len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) { /* the container closed its stdin */
			close_stdin();
			return;
		}
		off += (size_t)w;
	}
	memmove(stdin_pend, stdin_pend + off, stdin_pend_len - off);
	stdin_pend_len -= off;
	struct epoll_event e = {.events = EPOLLOUT, .data.u32 = 1};
	if (stdin_pend_len > 0) {
		if (epoll_ctl(ep, EPOLL_CTL_ADD, stdin_fd, &e) < 0 && errno != EEXIST)
			perror("berth-logger: epoll_ctl stdin");
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_DEL, stdin_fd, NULL) < 0 && errno != ENOENT)
		perror("berth-logger: epoll_ctl stdin");
	if (stdin_close_pending)
		close_stdin();
}

void stdin_writable(void)
{
	if (stdin_fd >= 0)
		push_stdin();
	all_set_events();
}

static void add_stdin(const unsigned char *p, size_t n)
{
	if (stdin_fd < 0)
		return; /* no stdin (or it is closed): input is dropped, as conmon does */
	if (stdin_pend_len + n > stdin_pend_cap) {
		size_t cap = stdin_pend_len + n;
		char *b = realloc(stdin_pend, cap);
		if (!b)
			return;
		stdin_pend = b;
		stdin_pend_cap = cap;
	}
	memcpy(stdin_pend + stdin_pend_len, p, n);
	stdin_pend_len += n;
}

/* Take the docker client's connection out of berthd (its fd number in berthd's process). */
static void handover(struct client *c)
{
	unsigned char ok = 0;
	if (c->ctl_len >= 5 && c->direct < 0 && c->qlen == 0 && c->peer > 0) {
		int fd = (int)((uint32_t)c->ctl[0] << 24 | (uint32_t)c->ctl[1] << 16 | (uint32_t)c->ctl[2] << 8 | c->ctl[3]);
		int pidfd = (int)syscall(SYS_pidfd_open, c->peer, 0);
		int got = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0); /* O_CLOEXEC is set */
		if (pidfd >= 0)
			close(pidfd);
		struct epoll_event e = {.events = 0, .data.u32 = ID_DIRECT + (uint32_t)(c - clients)};
		if (got >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, got, &e) == 0) {
			c->want = (c->ctl[4] & 1 ? 1 << STREAM_STDOUT : 0) | (c->ctl[4] & 2 ? 1 << STREAM_STDERR : 0);
			ok = 1;
		} else if (got >= 0) {
			close(got);
			got = -1;
		}
		unsigned char answer[6] = {0, 0, 0, 0, 1, ok};
		struct iovec iov = {answer, 6};
		send_iov(c, &iov, 1); /* the answer goes over the attach connection, before the switch */
		if (c->fd >= 0 && ok) {
			c->direct = got;
			c->direct_events = 0;
		} else if (got >= 0) {
			close(got);
		}
		return;
	}
	unsigned char answer[6] = {0, 0, 0, 0, 1, 0};
	struct iovec iov = {answer, 6};
	send_iov(c, &iov, 1);
}

static void client_input(struct client *c)
{
	if (stdin_pend_len > 0)
		return;
	ssize_t n = read(c->fd, read_buf, READ_SIZE);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->in_done = 1;
		if (stdin_once && stdin_fd >= 0) {
			stdin_close_pending = 1;
			if (stdin_pend_len == 0)
				close_stdin();
		}
		set_events(c);
		return;
	}
	bufs_dirty = 1;
	const unsigned char *p = (const unsigned char *)read_buf;
	size_t left = (size_t)n;
	while (left > 0) {
		if (c->hdr_len < 5) {
			size_t take = 5 - (size_t)c->hdr_len < left ? 5 - (size_t)c->hdr_len : left;
			memcpy(c->hdr + c->hdr_len, p, take);
			c->hdr_len += (int)take;
			p += take;
			left -= take;
			if (c->hdr_len < 5)
				break;
			c->type = c->hdr[0];
			c->need = (uint32_t)c->hdr[1] << 24 | (uint32_t)c->hdr[2] << 16 | (uint32_t)c->hdr[3] << 8 | c->hdr[4];
			c->ctl_len = 0;
		}
		size_t take = c->need < left ? c->need : left;
		if (c->type == 1) {
			add_stdin(p, take);
		} else if (c->type == 2) {
			size_t room = sizeof c->ctl - (size_t)c->ctl_len;
			memcpy(c->ctl + c->ctl_len, p, take < room ? take : room);
			c->ctl_len += (int)(take < room ? take : room);
		}
		p += take;
		left -= take;
		c->need -= (uint32_t)take;
		if (c->need == 0) {
			c->hdr_len = 0;
			if (c->type == 2)
				handover(c);
			if (c->fd < 0)
				return;
		}
	}
	if (stdin_pend_len > 0) {
		push_stdin();
		all_set_events();
	}
}

void accept_client(void)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (clients[i].fd >= 0)
			continue;
		struct client *c = &clients[i];
		struct ucred cred;
		socklen_t len = sizeof cred;
		*c = (struct client){.fd = fd, .direct = -1, .events = EPOLLIN | EPOLLRDHUP};
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			c->peer = cred.pid;
		struct epoll_event e = {.events = c->events, .data.u32 = ID_CLIENT + (uint32_t)i};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			drop_client(c);
			return;
		}
		unsigned char ready[5] = {0, 0, 0, 0, 0};
		struct iovec iov = {ready, 5};
		send_iov(c, &iov, 1);
		return;
	}
	close(fd);
}

void client_event(uint32_t id, uint32_t ev)
{
	int direct = id >= ID_DIRECT;
	struct client *c = &clients[id - (direct ? ID_DIRECT : ID_CLIENT)];
	if (c->fd < 0 || (direct && c->direct < 0))
		return;
	if (ev & (EPOLLERR | EPOLLHUP)) {
		drop_client(c);
		return;
	}
	if (ev & EPOLLOUT)
		flush_client(c);
	if (!direct && c->fd >= 0 && (ev & (EPOLLIN | EPOLLRDHUP)) && !c->in_done)
		client_input(c);
}
