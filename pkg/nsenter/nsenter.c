// Runs before the Go runtime: see doc.go for the protocol.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXNS 16

struct ns {
	int type;
	int fd;
};

static int pipefd = -1;

static void fail(const char *what, int err)
{
	if (pipefd >= 0) {
		char buf[512];
		int n = snprintf(buf, sizeof buf, "error: %s: %s\n", what, strerror(err));
		if (n > 0 && write(pipefd, buf, n) < 0) {
			/* nothing more can be reported */
		}
	}
	_exit(1);
}

static int nstype(const char *name)
{
	static const struct { const char *n; int t; } types[] = {
		{"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
		{"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC},
		{"cgroup", CLONE_NEWCGROUP},
#ifdef CLONE_NEWTIME
		{"time", CLONE_NEWTIME},
#endif
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcmp(types[i].n, name) == 0)
			return types[i].t;
	return -1;
}

static void join(struct ns *list, int n, int type)
{
	for (int i = 0; i < n; i++) {
		if (list[i].type != type)
			continue;
		if (setns(list[i].fd, type) < 0)
			fail("setns", errno);
		close(list[i].fd);
		list[i].fd = -1;
	}
}

/* Join the cgroups whose v1 tasks files are listed, one per line, in
 * _BERTH_CGROUP_TASKS, by writing "0" (the calling thread) to each. The
 * process is still single-threaded here, so moving the thread moves the
 * process; and a thread that moves itself does not take the kernel's
 * global threadgroup lock, whose RCU grace period a write of a PID to
 * cgroup.procs waits out. On failure the error goes to the namespace
 * pipe when there is one, else to the stage's sync socket (fd 3) as the
 * JSON message the parent reads. */
static void join_cgroups(void)
{
	const char *list = getenv("_BERTH_CGROUP_TASKS");
	if (list == NULL)
		return;
	char *copy = strdup(list);
	if (copy == NULL)
		_exit(1);
	for (char *save = NULL, *path = strtok_r(copy, "\n", &save); path; path = strtok_r(NULL, "\n", &save)) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		int err = 0;
		if (fd < 0)
			err = errno;
		else if (write(fd, "0", 1) != 1)
			err = errno ? errno : EIO;
		if (fd >= 0)
			close(fd);
		if (err && pipefd >= 0) {
			char what[512];
			snprintf(what, sizeof what, "join cgroup %s", path);
			fail(what, err);
		}
		if (err) {
			char buf[1024];
			/* Paths are the daemon's own (no quotes or backslashes). */
			int n = snprintf(buf, sizeof buf, "{\"type\":\"error\",\"error\":\"join cgroup %s: %s\"}\n", path, strerror(err));
			if (n > 0 && write(3, buf, n) < 0) {
				/* nothing more can be reported */
			}
			_exit(1);
		}
	}
	free(copy);
	unsetenv("_BERTH_CGROUP_TASKS");
}

void berth_nsenter(void)
{
	/* First, while paths still resolve in the host's mount namespace and
	 * before a fork, so that the child starts in the cgroups. */
	const char *spec = getenv("_BERTH_NSENTER");
	const char *pipestr = getenv("_BERTH_NSENTER_PIPE");
	if (spec != NULL && pipestr != NULL)
		pipefd = atoi(pipestr);
	join_cgroups();
	if (spec == NULL || pipestr == NULL)
		return;

	struct ns list[MAXNS];
	int n = 0;
	char *copy = strdup(spec);
	if (copy == NULL)
		fail("strdup", ENOMEM);
	/* Open every path first: once the mount namespace changes, the
	 * /proc/PID/ns paths would resolve in the container's /proc. */
	for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq == NULL || n == MAXNS)
			fail("bad namespace list", EINVAL);
		*eq = '\0';
		int t = nstype(tok);
		if (t < 0)
			fail(tok, EINVAL);
		int fd = open(eq + 1, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			fail(eq + 1, errno);
		list[n].type = t;
		list[n].fd = fd;
		n++;
	}
	free(copy);

	/* The user namespace first, so that the others are joined with the
	 * capabilities it grants; the mount namespace last, because joining it
	 * changes root and cwd. */
	static const int order[] = {CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET,
				    CLONE_NEWPID, CLONE_NEWCGROUP,
#ifdef CLONE_NEWTIME
				    CLONE_NEWTIME,
#endif
				    CLONE_NEWNS};
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		join(list, n, order[i]);

	/* A raw clone without CLONE_VM behaves like fork() here; CLONE_PARENT
	 * makes the child a sibling, so the original parent can wait for it. */
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0)
		fail("clone", errno);
	if (pid > 0) {
		char buf[32];
		int len = snprintf(buf, sizeof buf, "%d\n", pid);
		if (write(pipefd, buf, len) != len)
			_exit(1);
		_exit(0);
	}
	close(pipefd);
	unsetenv("_BERTH_NSENTER");
	unsetenv("_BERTH_NSENTER_PIPE");
}
