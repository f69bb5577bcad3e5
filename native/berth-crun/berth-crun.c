/*
 * berth-crun: runs crun on a host with hybrid cgroups (v1 controllers plus a cgroup2 mount that holds a
 * controller of its own, e.g. /sys/fs/cgroup/unified with hugetlb). crun 1.8 refuses such hosts ("cgroups in
 * hybrid mode not supported, drop all controllers from cgroupv2"); runc accepts them.
 *
 * What it does: in a mount namespace of crun's own (the host's mount table is not touched) it detaches the
 * cgroup2 mount, so crun sees a plain cgroup v1 host, then execs crun with the same arguments. It sets up
 * nothing of the container: crun does all of that, as it does on any v1 host. About 0.5 ms per call.
 *
 * Usage: berth-crun [crun's arguments]   (BERTH_CRUN names crun's binary; default /usr/bin/crun)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define UNIFIED "/sys/fs/cgroup/unified"

int main(int argc, char **argv)
{
	const char *crun = getenv("BERTH_CRUN");
	if (!crun || !*crun)
		crun = "/usr/bin/crun";
	(void)argc;
	/* private first, so the detach below stays in this namespace */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "berth-crun: cannot make a mount namespace for crun: %s\n", strerror(errno));
		return 125;
	}
	if (umount2(UNIFIED, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) {
		fprintf(stderr, "berth-crun: cannot hide %s from crun: %s\n", UNIFIED, strerror(errno));
		return 125;
	}
	argv[0] = (char *)"crun";
	execv(crun, argv);
	fprintf(stderr, "berth-crun: cannot run %s: %s\n", crun, strerror(errno));
	return 127;
}
