/* Shared by berth-logger.c (pipes, log file, main loop) and attach.c (attach clients, stdin). */
#ifndef BERTH_LOGGER_H
#define BERTH_LOGGER_H
#include <stddef.h>
#include <stdint.h>

#define READ_SIZE (256 * 1024)
#define STREAM_STDOUT 2
#define STREAM_STDERR 3
/* epoll ids: 0 listen socket, 1 stdin pipe, 2/3 output pipes, 100+i client i, 200+i its docker connection */
#define ID_CLIENT 100
#define ID_DIRECT 200

extern int ep;
extern char *read_buf;
extern int bufs_dirty;
extern int pipe_fd[4];
extern int stdin_fd, stdin_once;

void attach_init(int listen_fd);
void accept_client(void);
void client_event(uint32_t id, uint32_t events);
void stdin_writable(void);
void close_stdin(void);
/* copy one read of the container's output to every client */
void send_output(int stream, const char *p, size_t n);
int clients_pending(void);
void close_clients(void);
/* 1 while a client lags so far behind that the container's pipes are not read */
int clients_lag(void);
#endif
