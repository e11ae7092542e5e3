/*
 * sdnotify.c: the sd_notify protocol over $NOTIFY_SOCKET (see
 * kcgate/sdnotify.h). A library module: it returns codes, main.c logs.
 */
#include "kcgate/sdnotify.h"

#include "kcgate/common.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int kcg_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (!path || !*path)
		return 0;
	size_t n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	ssize_t sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	int rc = sent < 0 ? -errno : 0;
	close(fd);
	return rc;
}

uint64_t kcg_sd_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;
	if (!usec || kcg_parse_u64(usec, 1, UINT64_MAX, &v) != 0)
		return 0;
	if (pid && (kcg_parse_u64(pid, 1, UINT32_MAX, &p) != 0 || p != (uint64_t)getpid()))
		return 0;
	return v;
}
