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

void berth_nsenter(void)
{
	const char *spec = getenv("_BERTH_NSENTER");
	const char *pipestr = getenv("_BERTH_NSENTER_PIPE");
	if (spec == NULL || pipestr == NULL)
		return;
	pipefd = atoi(pipestr);

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
