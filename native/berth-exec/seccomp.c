/* berth-exec --compile-seccomp: berthd's line form of an OCI seccomp section to BPF, with libseccomp */
#include "berth-exec.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int compile_seccomp(const char *in, const char *out)
{
	char *text = read_all(in, NULL), *line, *save = NULL;
	scmp_filter_ctx ctx = NULL;
	int fd, rc;
	if (!text)
		fail("cannot read %s: %s", in, strerror(errno));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		unsigned long long action;
		int used = 0;
		if (sscanf(line, "default %llu", &action) == 1) {
			ctx = seccomp_init((uint32_t)action);
			if (!ctx)
				fail("seccomp_init failed");
			/* as runc: no_new_privs is the process spec's business, not the filter's */
			seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
		} else if (ctx && sscanf(line, "arch %127s", name) == 1) {
			uint32_t arch = seccomp_arch_resolve_name(name);
			if (!arch)
				fail("unknown seccomp architecture %s", name);
			rc = seccomp_arch_add(ctx, arch);
			if (rc < 0 && rc != -EEXIST)
				fail("cannot add seccomp architecture %s: %s", name, strerror(-rc));
		} else if (ctx && sscanf(line, "rule %llu %127s%n", &action, name, &used) == 2) {
			struct scmp_arg_cmp conds[6];
			unsigned ncond = 0, arg, op;
			unsigned long long a, b;
			const char *rest = line + used;
			int nr = seccomp_syscall_resolve_name(name), k;
			while (ncond < 6 && sscanf(rest, " %u %u %llu %llu%n", &arg, &op, &a, &b, &k) == 4) {
				conds[ncond].arg = arg;
				conds[ncond].op = (enum scmp_compare)op;
				conds[ncond].datum_a = a;
				conds[ncond].datum_b = b;
				ncond++;
				rest += k;
			}
			if (nr == __NR_SCMP_ERROR)
				continue; /* unknown to this libseccomp: runc skips it too */
			rc = seccomp_rule_add_array(ctx, (uint32_t)action, nr, ncond, conds);
			if (rc < 0)
				fail("cannot add seccomp rule for %s: %s", name, strerror(-rc));
		} else
			fail("bad seccomp line: %s", line);
	}
	if (!ctx)
		fail("no default action in %s", in);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("cannot write %s: %s", out, strerror(errno));
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		fail("cannot export the seccomp filter: %s", strerror(-rc));
	close(fd);
	seccomp_release(ctx);
	free(text);
	return 0;
}
