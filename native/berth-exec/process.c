/* berth-exec: starting the process in the container, as runc's setns init does (see berth-exec.c) */
#include "berth-exec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>


/* what the child needs that must be opened on the host side, before the namespaces change */
struct prepared {
	int ns_fds[8];
	int nns;
	int pid_ns_fd;
	int procs_fds[16];
	int nprocs;
	int last_cap;
	struct sock_fprog filter;
};

/* Go's error strings are the C library's with a lower-case first letter */
const char *go_errno(int err)
{
	static char buf[256];
	snprintf(buf, sizeof buf, "%s", strerror(err));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* Go's %q for ordinary strings */
static const char *go_quote(const char *s)
{
	static char buf[8192];
	size_t n = 0;
	buf[n++] = '"';
	for (; *s && n < sizeof buf - 4; s++) {
		if (*s == '"' || *s == '\\')
			buf[n++] = '\\';
		buf[n++] = *s;
	}
	buf[n++] = '"';
	buf[n] = 0;
	return buf;
}

static uint64_t parse_hex(const char **p)
{
	char *end;
	uint64_t v = strtoull(*p, &end, 16);
	*p = *end == ':' ? end + 1 : end;
	return v;
}

void parse_options(int argc, char **argv, struct options *o)
{
	int i;
	memset(o, 0, sizeof *o);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			o->argv = &argv[i + 1];
			break;
		}
		if (!strcmp(a, "--no-new-privs") || !strcmp(a, "--stdin") || !strcmp(a, "--output")) {
			if (a[2] == 'n')
				o->no_new_privs = 1;
			else if (a[2] == 's')
				o->pipe_stdin = 1;
			else
				o->pipe_output = 1;
			continue;
		}
		if (!v)
			fail("berth-exec: %s needs a value", a);
		i++;
		if (!strcmp(a, "--pid"))
			o->pid = (pid_t)atoi(v);
		else if (!strcmp(a, "--cgroup"))
			o->cgroup = v;
		else if (!strcmp(a, "--uid")) {
			o->has_user = 1;
			o->uid = (uid_t)strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--gid"))
			o->gid = (gid_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--groups")) {
			char *end;
			const char *p = v;
			while (*p && o->ngroups < MAX_LIST) {
				o->groups[o->ngroups++] = (gid_t)strtoul(p, &end, 10);
				p = *end == ',' ? end + 1 : end;
				if (end == p && *p)
					break;
			}
		} else if (!strcmp(a, "--cwd"))
			o->cwd = v;
		else if (!strcmp(a, "--env")) {
			if (o->nenv < (int)(sizeof o->env / sizeof o->env[0]) - 1)
				o->env[o->nenv++] = (char *)v;
		} else if (!strcmp(a, "--rlimit")) {
			unsigned long long soft, hard;
			int res;
			if (sscanf(v, "%d:%llu:%llu", &res, &soft, &hard) != 3 || o->nlimits >= RLIM_NLIMITS)
				fail("berth-exec: bad --rlimit %s", v);
			o->limits[o->nlimits].resource = res;
			o->limits[o->nlimits].lim.rlim_cur = (rlim_t)soft;
			o->limits[o->nlimits].lim.rlim_max = (rlim_t)hard;
			o->nlimits++;
		} else if (!strcmp(a, "--oom-score-adj"))
			o->oom_score_adj = v;
		else if (!strcmp(a, "--caps")) {
			const char *p = v;
			o->has_caps = 1;
			o->cap_bnd = parse_hex(&p);
			o->cap_eff = parse_hex(&p);
			o->cap_prm = parse_hex(&p);
			o->cap_inh = parse_hex(&p);
			o->cap_amb = parse_hex(&p);
		} else if (!strcmp(a, "--seccomp"))
			o->seccomp_file = v;
		else if (!strcmp(a, "--seccomp-flags"))
			o->seccomp_flags = (unsigned)strtoul(v, NULL, 10);
		else
			fail("berth-exec: unknown option %s", a);
	}
	o->env[o->nenv] = NULL;
	if (o->pid <= 0 || !o->cgroup || !o->argv || !o->argv[0])
		fail("berth-exec: --pid, --cgroup and a program are required");
}


char *read_all(const char *path, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;
	if (fd < 0 || !buf) {
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	while ((r = read(fd, buf + n, cap - n)) > 0) {
		n += (size_t)r;
		if (n == cap) {
			char *bigger = realloc(buf, cap * 2 + 1);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	close(fd);
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

/* The mount point of the hierarchy a /proc/PID/cgroup line names ("" = the cgroup2 one), from mountinfo. */
static int hierarchy_mount(const char *mountinfo, const char *controllers, char *out, size_t outlen)
{
	const char *line = mountinfo;
	while (line && *line) {
		const char *next = strchr(line, '\n');
		char buf[4096], root[1024], point[1024], fstype[64], super[1024];
		size_t len = next ? (size_t)(next - line) : strlen(line);
		const char *sep;
		if (len >= sizeof buf)
			len = sizeof buf - 1;
		memcpy(buf, line, len);
		buf[len] = 0;
		line = next ? next + 1 : NULL;
		sep = strstr(buf, " - ");
		if (!sep || sscanf(buf, "%*s %*s %*s %1023s %1023s", root, point) != 2)
			continue;
		if (sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2 || strcmp(root, "/"))
			continue;
		if (!*controllers) {
			if (strcmp(fstype, "cgroup2"))
				continue;
		} else {
			/* every controller of the line must be one of the mount's options */
			char ctl[256], opts[1100];
			char *save = NULL, *c;
			int all = 1;
			if (strcmp(fstype, "cgroup"))
				continue;
			snprintf(ctl, sizeof ctl, "%s", controllers);
			snprintf(opts, sizeof opts, ",%s,", super);
			for (c = strtok_r(ctl, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
				char want[300];
				snprintf(want, sizeof want, ",%s,", c);
				if (!strstr(opts, want))
					all = 0;
			}
			if (!all)
				continue;
		}
		snprintf(out, outlen, "%s", point);
		return 0;
	}
	return -1;
}

/*
 * Opens cgroup.procs of every cgroup the init is in (the child writes itself there, so it is born in none of
 * berthd's), after checking that the init is still the container's.
 */
static void open_cgroups(const struct options *o, struct prepared *p)
{
	char path[256], *cgroups, *mountinfo, *line, *save = NULL;
	int owned = 0;
	size_t want = strlen(o->cgroup);
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)o->pid);
	cgroups = read_all(path, NULL);
	mountinfo = read_all("/proc/self/mountinfo", NULL);
	if (!cgroups || !mountinfo)
		fail("cannot exec in a stopped container");
	for (line = strtok_r(cgroups, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char point[1024], file[2304];
		size_t len;
		int fd;
		if (!c2)
			continue;
		*c2 = 0;
		len = strlen(c2 + 1);
		if (len >= want && !strcmp(c2 + 1 + len - want, o->cgroup))
			owned = 1;
		if (hierarchy_mount(mountinfo, c1 + 1, point, sizeof point) < 0)
			continue;
		snprintf(file, sizeof file, "%s%s/cgroup.procs", point, c2 + 1);
		fd = open(file, O_WRONLY | O_CLOEXEC);
		if (fd >= 0 && p->nprocs < (int)(sizeof p->procs_fds / sizeof p->procs_fds[0]))
			p->procs_fds[p->nprocs++] = fd;
		else if (fd >= 0)
			close(fd);
	}
	if (!owned)
		fail("cannot exec in a stopped container");
	free(cgroups);
	free(mountinfo);
}

/* The init's namespaces that differ from ours; mount last, as the others are opened through /proc. */
static void open_namespaces(const struct options *o, struct prepared *p)
{
	static const char *names[] = {"user", "ipc", "uts", "net", "cgroup", "mnt"};
	char path[128], own[128];
	size_t i;
	struct stat theirs, mine;
	p->pid_ns_fd = -1;
	snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)o->pid);
	if (stat(path, &theirs) == 0 && stat("/proc/self/ns/pid", &mine) == 0 && theirs.st_ino != mine.st_ino)
		p->pid_ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		int fd;
		snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)o->pid, names[i]);
		snprintf(own, sizeof own, "/proc/self/ns/%s", names[i]);
		if (stat(path, &theirs) < 0)
			fail("cannot exec in a stopped container");
		if (stat(own, &mine) == 0 && theirs.st_ino == mine.st_ino && theirs.st_dev == mine.st_dev)
			continue;
		if (i == 0)
			fail(START_FAILED "berth-exec does not join user namespaces");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail("cannot exec in a stopped container");
		p->ns_fds[p->nns++] = fd;
	}
}

static void prepare(const struct options *o, struct prepared *p)
{
	char *text;
	memset(p, 0, sizeof *p);
	open_cgroups(o, p);
	open_namespaces(o, p);
	text = read_all("/proc/sys/kernel/cap_last_cap", NULL);
	p->last_cap = text ? atoi(text) : CAP_LAST_CAP;
	free(text);
	if (o->seccomp_file) {
		size_t len;
		char *prog = read_all(o->seccomp_file, &len);
		if (!prog || len == 0 || len % sizeof(struct sock_filter))
			fail(START_FAILED "cannot read the seccomp filter %s", o->seccomp_file);
		p->filter.len = (unsigned short)(len / sizeof(struct sock_filter));
		p->filter.filter = (struct sock_filter *)prog;
	}
}

static void cleanup(struct prepared *p)
{
	int i;
	for (i = 0; i < p->nns; i++)
		close(p->ns_fds[i]);
	for (i = 0; i < p->nprocs; i++)
		close(p->procs_fds[i]);
	if (p->pid_ns_fd >= 0)
		close(p->pid_ns_fd);
	free(p->filter.filter);
}

static int child_fail_fd = -1;

static void __attribute__((noreturn, format(printf, 1, 2))) child_fail(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int n;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof msg - 1)
		n = (int)sizeof msg - 1;
	if (write(child_fail_fd, msg, (size_t)n) < 0) { /* the parent reports a bare failure */ }
	_exit(255);
}

static void load_seccomp(const struct options *o, const struct prepared *p)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, o->seccomp_flags, &p->filter) < 0)
		child_fail(START_FAILED "error loading seccomp filter into kernel: %s", go_errno(errno));
}

static void apply_caps(const struct options *o)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2];
	int c;
	data[0].effective = (uint32_t)o->cap_eff;
	data[1].effective = (uint32_t)(o->cap_eff >> 32);
	data[0].permitted = (uint32_t)o->cap_prm;
	data[1].permitted = (uint32_t)(o->cap_prm >> 32);
	data[0].inheritable = (uint32_t)o->cap_inh;
	data[1].inheritable = (uint32_t)(o->cap_inh >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		child_fail(START_FAILED "unable to apply caps: %s", go_errno(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(START_FAILED "unable to clear ambient caps: %s", go_errno(errno));
	for (c = 0; c < 64; c++)
		if (o->cap_amb & (1ULL << c))
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
}

/* Go 1.19's exec.LookPath, as runc 1.1 uses it: a slash means that file, else the first match in PATH */
static int executable(const char *file, int *err)
{
	struct stat st;
	if (stat(file, &st) < 0) {
		*err = errno;
		return 0;
	}
	if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) {
		*err = EACCES;
		return -1;
	}
	return 1;
}

static const char *look_path(const char *file, const struct options *o, char *buf, size_t buflen)
{
	const char *path = "";
	int i, err = 0, r;
	if (strchr(file, '/')) {
		r = executable(file, &err);
		if (r == 1)
			return file;
		if (r == 0)
			child_fail(START_FAILED "exec: %s: stat %s: %s", go_quote(file), file, go_errno(err));
		child_fail(START_FAILED "exec: %s: %s", go_quote(file), go_errno(err));
	}
	for (i = 0; i < o->nenv; i++)
		if (!strncmp(o->env[i], "PATH=", 5))
			path = o->env[i] + 5;
	while (1) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		if (len == 0)
			snprintf(buf, buflen, "./%s", file);
		else
			snprintf(buf, buflen, "%.*s/%s", (int)len, path, file);
		if (executable(buf, &err) == 1) {
			if (len == 0 || path[0] != '/')
				child_fail(START_FAILED "exec: %s: cannot run executable found relative to current directory", go_quote(file));
			return buf;
		}
		if (!end)
			break;
		path = end + 1;
	}
	child_fail(START_FAILED "exec: %s: executable file not found in $PATH", go_quote(file));
}

/* In the new process, in the container's pid namespace: the rest of runc's setns init, then execve. */
static void __attribute__((noreturn)) run_child(const struct options *o, const struct prepared *p)
{
	char program[4096];
	const char *file;
	int i, cwd_done = 0;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (i = 0; i < p->nprocs; i++)
		if (write(p->procs_fds[i], "0", 1) < 0)
			child_fail(START_FAILED "cannot join the container's cgroups: %s", go_errno(errno));
	for (i = 0; i < p->nns; i++)
		if (setns(p->ns_fds[i], 0) < 0)
			child_fail(START_FAILED "cannot join the container's namespaces: %s", go_errno(errno));
	for (i = 0; i < o->nlimits; i++)
		if (setrlimit(o->limits[i].resource, &o->limits[i].lim) < 0)
			child_fail(START_FAILED "error setting rlimit type %d: %s", o->limits[i].resource, go_errno(errno));
	if (o->oom_score_adj) {
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, o->oom_score_adj, strlen(o->oom_score_adj)) < 0) { /* as runc: best effort */ }
			close(fd);
		}
	}
	/* nothing of berthd's or ours may reach the program (before seccomp, which may not allow close_range) */
	syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
	if (o->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(START_FAILED "unable to set no_new_privs: %s", go_errno(errno));
	/* without no_new_privs, loading a filter needs CAP_SYS_ADMIN: before the capabilities go */
	if (p->filter.len && !o->no_new_privs)
		load_seccomp(o, p);
	if (o->cwd && chdir(o->cwd) == 0)
		cwd_done = 1;
	if (o->has_caps)
		for (i = 0; i <= p->last_cap && i < 64; i++)
			if (!(o->cap_bnd & (1ULL << i)) && prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
				child_fail(START_FAILED "unable to drop capability %d: %s", i, go_errno(errno));
	if (o->has_user) {
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			child_fail(START_FAILED "unable to keep capabilities: %s", go_errno(errno));
		if (setgroups((size_t)o->ngroups, o->groups) < 0)
			child_fail(START_FAILED "setgroups: %s", go_errno(errno));
		if (setresgid(o->gid, o->gid, o->gid) < 0)
			child_fail(START_FAILED "setgid: %s", go_errno(errno));
		if (setresuid(o->uid, o->uid, o->uid) < 0)
			child_fail(START_FAILED "setuid: %s", go_errno(errno));
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	}
	if (o->cwd && !cwd_done && chdir(o->cwd) < 0)
		child_fail(START_FAILED "chdir to cwd (%s) set in config.json failed: %s", go_quote(o->cwd), go_errno(errno));
	if (o->has_caps)
		apply_caps(o);
	file = look_path(o->argv[0], o, program, sizeof program);
	if (p->filter.len && o->no_new_privs)
		load_seccomp(o, p);
	execve(file, o->argv, o->env);
	child_fail(START_FAILED "exec %s: %s", file, go_errno(errno));
}


/* Joins the pid namespace (for the child), forks, and waits until the child exec'd or said why not. */
pid_t start_process(const struct options *o)
{
	struct prepared p;
	int errpipe[2];
	char msg[4096];
	ssize_t n;
	pid_t pid;

	prepare(o, &p);
	if (p.pid_ns_fd >= 0 && setns(p.pid_ns_fd, CLONE_NEWPID) < 0)
		fail(START_FAILED "cannot join the container's pid namespace: %s", go_errno(errno));
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		fail(START_FAILED "pipe: %s", go_errno(errno));
	pid = fork();
	if (pid < 0)
		fail(START_FAILED "fork: %s", go_errno(errno));
	if (pid == 0) {
		close(errpipe[0]);
		child_fail_fd = errpipe[1];
		run_child(o, &p);
	}
	close(errpipe[1]);
	do
		n = read(errpipe[0], msg, sizeof msg - 1);
	while (n < 0 && errno == EINTR);
	close(errpipe[0]);
	cleanup(&p);
	if (n > 0) {
		msg[n] = 0;
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		status_writer("error", msg);
		exit(255);
	}
	return pid;
}

int wait_status(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 255;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
