/**
 * kcgate/sdnotify.h: telling systemd how the service is (sd_notify(3)),
 * without libsystemd: the protocol is one datagram per message on the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace), each message newline-separated VAR=value lines.
 *
 * main.c sends READY=1 once the store is open and the listener is up,
 * RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload,
 * STOPPING=1 when a stop signal arrives, and WATCHDOG=1 every half of
 * $WATCHDOG_USEC while the store's writer runs and the job engine's loop
 * turns (a hung engine stops the pings, and systemd restarts kcgate).
 * Without $NOTIFY_SOCKET (not under systemd, or Type=simple) nothing is sent.
 */
#ifndef KCGATE_SDNOTIFY_H
#define KCGATE_SDNOTIFY_H

#include <stdint.h>

/**
 * Sends @p state to $NOTIFY_SOCKET. @return 0 (sent, or no socket is set),
 * -EINVAL (a malformed $NOTIFY_SOCKET) or -errno from socket()/sendto().
 */
int kcg_sd_notify(const char *state);

/**
 * The watchdog interval systemd asks for ($WATCHDOG_USEC, when
 * $WATCHDOG_PID is unset or this process), in microseconds; 0 = none.
 */
uint64_t kcg_sd_watchdog_usec(void);

#endif
