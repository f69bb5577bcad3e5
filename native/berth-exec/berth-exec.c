/*
 * berth-exec: starts one process inside a running container, as `runc exec` (or `crun exec`) does for a
 * process without a terminal: same cgroups and namespaces as the container's init, the rlimits,
 * no_new_privs, seccomp filter, capabilities, user and working directory berthd passes, then execve.
 * Failures are reported in runc's words, which dockerd passes on to its clients.
 *
 * Why not the runtime: `runc exec` spends ~20 ms starting two Go programs (runc, then `runc init`) before
 * the process runs; this does the same joins in well under a millisecond.
 *
 *   berth-exec --pid PID --cgroup REL [options] -- ARGS...
 *     --pid PID               the container's init, whose namespaces and cgroups are joined
 *     --cgroup REL            the container's cgroup path; the init must be in it (guards against pid reuse)
 *     --uid N --gid N         the process's user; --groups N,N,... its supplementary groups
 *     --cwd DIR               working directory (in the container)
 *     --env K=V               one variable of the process's environment (repeatable; the environment is only these)
 *     --rlimit RES:SOFT:HARD  resource number, limits (repeatable)
 *     --oom-score-adj N
 *     --no-new-privs
 *     --caps BND:EFF:PRM:INH:AMB   capability sets as hex masks (absent: unchanged, i.e. all of root's)
 *     --seccomp FILE          a BPF program made by --compile-seccomp; --seccomp-flags N for seccomp(2)
 *   Status on fd 3: "pid N\n" once the program runs, or "error MESSAGE\n" if it never started (exit 255).
 *   Otherwise the exit status is the process's, 128+N when a signal N ended it.
 *
 *   berth-exec --serve SOCKET   the same for berthd without a fork of berthd per exec (serve.c): each
 *     connection is one exec; it ends when its stdin (berthd) closes.
 *
 *   berth-exec --compile-seccomp IN OUT   compiles berthd's text form of an OCI seccomp section to BPF:
 *     default ACTION | arch NAME | rule ACTION SYSCALL [ARG OP VALUE VALUE2]...   (numbers as libseccomp's)
 */
#include "berth-exec.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATUS_FD 3

static void fd3_status(const char *kind, const char *text)
{
	dprintf(STATUS_FD, "%s %s\n", kind, text);
}

static void stderr_status(const char *kind, const char *text)
{
	fprintf(stderr, "%s %s\n", kind, text);
}

void (*status_writer)(const char *kind, const char *text) = fd3_status;

void fail(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	status_writer("error", msg);
	exit(255);
}

static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

int main(int argc, char **argv)
{
	static struct options o;
	int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH};
	struct sigaction sa;
	size_t i;

	if (argc == 4 && !strcmp(argv[1], "--compile-seccomp")) {
		status_writer = stderr_status;
		return compile_seccomp(argv[2], argv[3]);
	}
	if (argc == 3 && !strcmp(argv[1], "--serve")) {
		status_writer = stderr_status;
		return serve(argv[2]);
	}
	parse_options(argc, argv, &o);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	child_pid = start_process(&o);
	dprintf(STATUS_FD, "pid %d\n", (int)child_pid);
	close(STATUS_FD);
	return wait_status(child_pid);
}
