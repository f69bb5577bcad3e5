/* berth-exec: see berth-exec.c */
#ifndef BERTH_EXEC_H
#define BERTH_EXEC_H

#define _GNU_SOURCE
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define MAX_LIST 512
#define START_FAILED "exec failed: unable to start container process: "

struct limit { int resource; struct rlimit lim; };

struct options {
	pid_t pid;
	const char *cgroup;
	int has_user;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_LIST];
	int ngroups;
	const char *cwd;
	char *env[MAX_LIST * 8];
	int nenv;
	struct limit limits[RLIM_NLIMITS];
	int nlimits;
	const char *oom_score_adj;
	int no_new_privs;
	int has_caps;
	uint64_t cap_bnd, cap_eff, cap_prm, cap_inh, cap_amb;
	const char *seccomp_file;
	unsigned seccomp_flags;
	/* server requests only: pipes for stdin, for stdout and stderr (else /dev/null) */
	int pipe_stdin, pipe_output;
	char **argv;
};

/* where "pid N" and "error MESSAGE" go: fd 3 on the command line, a frame on a server connection */
extern void (*status_writer)(const char *kind, const char *text);

void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
const char *go_errno(int err);
char *read_all(const char *path, size_t *len);
void parse_options(int argc, char **argv, struct options *o);
/* Starts the process (fails if it never ran); returns its pid once it exec'd */
pid_t start_process(const struct options *o);
/* the exit status as runc reports it: the code, or 128+N for signal N */
int wait_status(pid_t pid);
int compile_seccomp(const char *in, const char *out);
int serve(const char *socket_path);

#endif
