#!/bin/sh
# kcgate-entrypoint: the container image's entry point (Dockerfile).
#
#   kcgate-entrypoint [run] [kcgate flags...]   checks, then execs kcgate (the default)
#   kcgate-entrypoint check                     kcgate --check-config on the configuration
#   kcgate-entrypoint health                    GET /health/ready (the HEALTHCHECK)
#   kcgate-entrypoint version                   kcgate --version
#   kcgate-entrypoint COMMAND [ARGS...]         runs COMMAND (a shell, to look around)
#
# Before starting kcgate it refuses to run as root, and says plainly what is
# missing: the configuration file (mounted, or KCGATE_CONFIG), a writable
# state directory (the volume), a valid configuration. kcgate then replaces
# this shell (exec): it is PID 1, takes SIGTERM itself and drains. Logs go
# to stderr, for the container runtime to keep.
#
# Environment: KCGATE_CONFIG (/etc/kcgate/kcgate.conf), KCGATE_STATE_DIR
# (/var/lib/kcgate), KCGATE_HEALTH_URL (https://127.0.0.1:8443/health/ready),
# KCGATE_BIN (/usr/bin/kcgate), and the secrets the configuration names
# with env:NAME.
set -eu

bin=${KCGATE_BIN:-/usr/bin/kcgate}
config=${KCGATE_CONFIG:-/etc/kcgate/kcgate.conf}
state=${KCGATE_STATE_DIR:-/var/lib/kcgate}
health=${KCGATE_HEALTH_URL:-https://127.0.0.1:8443/health/ready}

die() {
	printf 'kcgate-entrypoint: %s\n' "$1" >&2
	exit 1
}

cmd=${1:-run}
case "$cmd" in
run) [ $# -gt 0 ] && shift ;;
check) exec "$bin" --check-config --config "$config" ;;
# -k: the certificate is for the service's public name, not 127.0.0.1
health) exec curl -fsS -k --max-time 4 -o /dev/null "$health" ;;
version) exec "$bin" --version ;;
-*) ;; # flags for kcgate
*) exec "$@" ;;
esac

[ "$(id -u)" != 0 ] || die "refusing to run as root: use the image's kcgate user (the default USER) or --user UID"
[ -e "$config" ] || die "no configuration at $config: mount one (-v \$PWD/kcgate.conf:$config:ro) or set KCGATE_CONFIG"
[ -r "$config" ] || die "cannot read $config as uid $(id -u): make it readable by that user"
[ -d "$state" ] || die "$state does not exist: mount a volume there (-v kcgate-store:$state)"
[ -w "$state" ] || die "$state is not writable by uid $(id -u): chown the volume to it"
"$bin" --check-config --config "$config" >/dev/null || die "$config has errors (listed above); nothing started"
exec "$bin" --config "$config" "$@"
