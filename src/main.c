/*
 * main.c: the process. Arguments, configuration, the store, the server,
 * and the lifecycle: SIGTERM/SIGINT turn readiness off, let in-flight
 * requests finish (server.shutdown_timeout_s), stop the job engine (calls
 * in flight are abandoned: their jobs stay pending), stop the store's
 * writer (which completes everything queued), stop the server, sync and
 * close the store, exit 0. A second signal skips the rest of the drain.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kcgate/common.h"
#include "kcgate/config.h"
#include "kcgate/http.h"
#include "kcgate/engine.h"
#include "kcgate/log.h"
#include "kcgate/metrics.h"
#include "kcgate/sdnotify.h"
#include "kcgate/session.h"
#include "kcgate/flow.h"
#include "kcgate/store.h"

#define PEM_MAX (1u << 20) /* a certificate chain or key larger than this is a mistake */
/* File descriptors besides client connections: the listening socket, epoll
 * and signalling fds per server thread, LMDB, the job engine's sockets,
 * stdio and some room. */
#define FD_SPARE 128

static void usage(FILE *to)
{
	fprintf(to, "usage: kcgate --config FILE [--check-config]\n"
		    "       kcgate --list-keys\n"
		    "       kcgate --version\n"
		    "  -c, --config FILE    the configuration file (see docs/configuration.md)\n"
		    "      --check-config   validate the configuration, print every error, exit 0 or 1\n"
		    "      --list-keys      print every configuration key: section, key, type, default, required\n"
		    "  -V, --version        print the version\n");
}

/* --list-keys: one tab-separated line per key of every table (a map
 * section's key is "*"), the source conf/kcgate.conf.example is checked
 * against (tests/packaging.py). */
static int list_keys(void)
{
	size_t n;
	const struct kcg_config_key *const *keys = kcg_config_keys_all(&n);
	for (size_t i = 0; i < n; i++) {
		const struct kcg_config_key *k = keys[i];
		printf("%s\t%s\t%s\t%s\t%s\n", k->section, k->name, kcg_config_type_name(k->type), k->def ? k->def : "-",
		       k->required ? "required" : "optional");
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Reads a PEM file into a NUL-terminated malloc'd string. */
static char *read_pem(const char *path, const char **why)
{
	char *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size <= 0 || (uint64_t)st.st_size > PEM_MAX) {
		*why = "empty, unreadable or larger than 1 MiB";
		goto fail_fd;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		*why = "out of memory";
		goto fail_fd;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n <= 0) {
			*why = n < 0 ? strerror(errno) : "file shrank while reading";
			goto fail_buf;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fd);
	return buf;
fail_buf:
	free(buf);
fail_fd:
	close(fd);
	return NULL;
}

/* Each line of a config message list becomes one log line. */
static void log_lines(enum kcg_log_level level, const char *msg, const char *lines)
{
	while (lines && *lines) {
		const char *nl = strchr(lines, '\n');
		size_t n = nl ? (size_t)(nl - lines) : strlen(lines);
		kcg_log(level, msg, json_pack("{s:s%}", "detail", lines, n));
		lines += n + (nl ? 1 : 0);
	}
}

static void log_fail(const char *msg, const char *detail)
{
	kcg_log_str(KCG_LOG_ERROR, msg, detail);
}

/*
 * Every connection is a file descriptor: raises the soft RLIMIT_NOFILE to
 * the hard limit, and when max_connections + health_reserve still does not
 * fit, lowers max_connections (health_reserve first). Says so in the log.
 * @return false when not even one connection fits.
 */
static bool fit_fd_limit(uint64_t *max_connections, uint64_t *reserve)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return true; /* nothing to go by */
	rlim_t want = (rlim_t)(*max_connections + *reserve + FD_SPARE);
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			kcg_log(KCG_LOG_INFO, "raised the open file limit",
				json_pack("{s:I, s:I}", "from", (json_int_t)old, "to", (json_int_t)rl.rlim_cur));
		else
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
		return true;
	if (rl.rlim_cur <= FD_SPARE + 1) {
		kcg_log(KCG_LOG_ERROR, "the open file limit leaves no room for connections",
			json_pack("{s:I, s:I}", "limit", (json_int_t)rl.rlim_cur, "needed", (json_int_t)want));
		return false;
	}
	uint64_t room = (uint64_t)rl.rlim_cur - FD_SPARE;
	uint64_t old_max = *max_connections, old_res = *reserve;
	if (*reserve > room / 8)
		*reserve = room / 8;
	*max_connections = room - *reserve < *max_connections ? room - *reserve : *max_connections;
	kcg_log(KCG_LOG_WARN, "server.max_connections lowered to fit the open file limit (ulimit -n)",
		json_pack("{s:I, s:I, s:I, s:I, s:I}", "limit", (json_int_t)rl.rlim_cur, "max_connections",
			  (json_int_t)*max_connections, "configured", (json_int_t)old_max, "health_reserve",
			  (json_int_t)*reserve, "configured_health_reserve", (json_int_t)old_res));
	return true;
}

/*
 * SIGHUP: re-read the file; when it is valid, swap its map sections
 * ([shipping_methods], [khaos.tax_rates], [alerts.mail_to]) and the
 * secrets whose value changed (re-read from env: and file:) into the
 * running config (atomic pointers: readers load each once per use; a
 * replaced map or secret stays allocated until exit, see
 * kcg_config_reload()), then let the flows retry what waited on them. An
 * invalid file changes nothing. Other keys are read at start only: a
 * change to one is logged as needing a restart. Secret values are never
 * logged, only their names.
 */
static void reload(struct kcg_config *live, const char *path, struct kcg_flow_set *flows)
{
	struct kcg_config fresh = { 0 };
	char *errors = NULL, *warnings = NULL, *changes = NULL, *secrets = NULL, *restart = NULL;
	int rc = kcg_config_load(path, &fresh, &errors, &warnings);
	log_lines(KCG_LOG_WARN, "config warning", warnings);
	if (rc != 0) {
		log_lines(KCG_LOG_ERROR, "config error", errors);
		kcg_log(KCG_LOG_ERROR, "config reload refused: the file has errors, nothing changed",
			json_pack("{s:s, s:s}", "path", path, "detail", kcg_strerror(rc)));
		goto out;
	}
	rc = kcg_config_reload(live, &fresh, &changes, &secrets, &restart);
	if (rc != 0) {
		kcg_log(KCG_LOG_ERROR, "config reload refused, nothing changed", json_pack("{s:s}", "detail", kcg_strerror(rc)));
		goto out;
	}
	if (restart)
		kcg_log(KCG_LOG_WARN, "config reload: these keys changed but take effect only after a restart",
			json_pack("{s:s}", "keys", restart));
	size_t n = 0;
	rc = flows->n_enabled ? kcg_flow_set_reload(flows, &n) : 0;
	kcg_log(rc == 0 ? KCG_LOG_INFO : KCG_LOG_WARN, "config reloaded",
		json_pack("{s:s, s:s, s:s, s:I, s:s}", "path", path, "maps", changes ? changes : "unchanged", "secrets",
			  secrets ? secrets : "unchanged", "retried", (json_int_t)n, "detail", rc == 0 ? "" : kcg_strerror(rc)));
out:
	free(errors);
	free(warnings);
	free(changes);
	free(secrets);
	free(restart);
	kcg_config_finish(&fresh);
}

/* sd_notify, logged when it fails (a systemd that cannot hear us will
 * time the service out: say why). */
static void notify(const char *state)
{
	int rc = kcg_sd_notify(state);
	if (rc != 0)
		kcg_log(KCG_LOG_WARN, "cannot notify systemd (NOTIFY_SOCKET)", json_pack("{s:s}", "detail", kcg_strerror(rc)));
}

/* The watchdog's question: is the store's writer up, and has the job
 * engine's loop turned within the watchdog interval? */
static bool healthy(struct kcg_store *store, struct kcg_engine *engine, uint64_t wd_usec)
{
	if (!kcg_store_ready(store))
		return false;
	if (!engine)
		return true;
	uint64_t beat = kcg_engine_heartbeat(engine), now = kcg_now_ms();
	return beat && (now < beat || now - beat < wd_usec / 1000);
}

/*
 * The main thread's loop: waits for a signal; SIGHUP reloads (RELOADING=1,
 * then READY=1); under a systemd watchdog, pings it every half interval
 * while healthy. Returns the stop signal.
 */
static int wait_for_stop(sigset_t *sigs, struct kcg_config *cfg, const char *path, struct kcg_flow_set *flows,
			 struct kcg_store *store, struct kcg_engine *engine)
{
	uint64_t wd_usec = kcg_sd_watchdog_usec();
	uint64_t every_ns = wd_usec * 1000u / 2, next = kcg_mono_ns();
	for (;;) {
		int sig;
		if (wd_usec) {
			uint64_t now = kcg_mono_ns();
			if (now >= next) {
				if (healthy(store, engine, wd_usec))
					notify("WATCHDOG=1");
				next = now + every_ns;
			}
			uint64_t left = next - now;
			struct timespec ts = { (time_t)(left / 1000000000u), (long)(left % 1000000000u) };
			sig = sigtimedwait(sigs, NULL, &ts);
			if (sig < 0)
				continue; /* EAGAIN: time to ping; EINTR: again */
		} else if (sigwait(sigs, &sig) != 0) {
			continue;
		}
		if (sig != SIGHUP)
			return sig;
		char state[96];
		struct timespec mono;
		clock_gettime(CLOCK_MONOTONIC, &mono);
		snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)mono.tv_sec * 1000000ull + (unsigned long long)mono.tv_nsec / 1000u);
		notify(state);
		reload(cfg, path, flows);
		notify("READY=1");
	}
}

/* Waits for in-flight requests to end, up to @p timeout_s or a second signal. */
static void drain(struct kcg_http *http, uint64_t timeout_s, const sigset_t *sigs)
{
	uint64_t deadline = kcg_mono_ns() + timeout_s * 1000000000u;
	while (kcg_http_in_flight(http) > 0) {
		if (kcg_mono_ns() >= deadline) {
			kcg_log(KCG_LOG_WARN, "drain timed out",
				json_pack("{s:I}", "in_flight", (json_int_t)kcg_http_in_flight(http)));
			return;
		}
		struct timespec tick = { 0, 10 * 1000 * 1000 };
		if (sigtimedwait(sigs, NULL, &tick) > 0) {
			kcg_log_str(KCG_LOG_WARN, "second signal: stopping without waiting", NULL);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'k' },
		{ "list-keys", no_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL;
	bool check_only = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:Vh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; break;
		case 'k': check_only = true; break;
		case 'L': return list_keys();
		case 'V': printf("kcgate %s\n", KCGATE_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!config_path || optind != argc) {
		usage(stderr);
		return 2;
	}

	struct kcg_config cfg = { 0 };
	char *errors = NULL, *warnings = NULL;
	int rc = kcg_config_load(config_path, &cfg, &errors, &warnings);
	if (check_only) {
		if (warnings)
			fprintf(stderr, "%s", warnings);
		if (errors)
			fprintf(stderr, "%s", errors);
		else if (rc == 0)
			printf("%s: OK\n", config_path);
		else
			fprintf(stderr, "%s: %s\n", config_path, kcg_strerror(rc));
		free(errors);
		free(warnings);
		kcg_config_finish(&cfg);
		return rc == 0 ? 0 : 1;
	}
	kcg_log_set_level(rc == 0 ? cfg.server.log_level : KCG_LOG_INFO);
	log_lines(KCG_LOG_WARN, "config warning", warnings);
	free(warnings);
	if (rc != 0) {
		log_lines(KCG_LOG_ERROR, "config error", errors);
		if (!errors)
			log_fail("config error", kcg_strerror(rc));
		free(errors);
		kcg_config_finish(&cfg);
		return 1;
	}

	int status = 1;
	const char *why = NULL;
	char *cert = NULL, *key = NULL;
	struct kcg_store *store = NULL;
	struct kcg_http *http = NULL;
	struct kcg_engine *engine = NULL;
	struct kcg_sessions *sessions = NULL;
	static struct kcg_flow_set flows; /* large; lives as long as the process */
	rc = kcg_flow_set_init(&flows, &cfg);
	if (rc != 0) {
		log_fail("cannot register the flows", kcg_strerror(rc));
		kcg_config_finish(&cfg);
		return 1;
	}

	if (cfg.server.tls_cert) {
		cert = read_pem(cfg.server.tls_cert, &why);
		if (!cert) {
			kcg_log(KCG_LOG_ERROR, "cannot read server.tls_cert", json_pack("{s:s, s:s}", "path", cfg.server.tls_cert, "detail", why));
			goto out;
		}
		key = read_pem(cfg.server.tls_key, &why);
		if (!key) {
			kcg_log(KCG_LOG_ERROR, "cannot read server.tls_key", json_pack("{s:s, s:s}", "path", cfg.server.tls_key, "detail", why));
			goto out;
		}
	}

	/* Signals are taken synchronously by this thread: block them before
	 * any other thread exists so every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct kcg_store_options sopt = {
		.path = cfg.store.path,
		.map_size_bytes = cfg.store.map_size_mb << 20,
		.dedupe_ttl_ms = cfg.store.dedupe_ttl_h * 3600u * 1000u,
		.max_batch = cfg.store.max_batch,
		.queue_limit = cfg.store.queue_limit,
		.on_commit = kcg_metrics_commit,
		.dbs = flows.dbs,
		.retention_ms = cfg.store.retention_days * 24u * 3600u * 1000u,
		.sweep_batch = cfg.store.sweep_batch,
		.owners = flows.owners,
		.on_event = flows.n_enabled ? kcg_flow_set_on_event : NULL,
		.on_event_arg = &flows,
		.on_exception = flows.n_enabled ? kcg_flow_set_on_exception : NULL,
		.on_exception_arg = &flows,
	};
	rc = kcg_store_open(&sopt, &store, &why);
	if (rc != 0) {
		kcg_log(KCG_LOG_ERROR, "cannot open the store",
			json_pack("{s:s, s:s, s:s}", "path", cfg.store.path, "step", why ? why : "", "detail", kcg_strerror(rc)));
		goto out;
	}

	if (flows.n_enabled) {
		flows.ctx.store = store;
		struct kcg_engine_options eopt = {
			.store = store,
			.cfg = &cfg,
			.kinds = flows.kinds,
			.timers = flows.timers,
			.n_timers = flows.n_timers,
			.ctx = &flows.ctx,
		};
		rc = kcg_engine_create(&eopt, &engine);
		if (rc == 0)
			rc = kcg_engine_start(engine);
		if (rc != 0) {
			log_fail("cannot start the job engine", kcg_strerror(rc));
			goto out;
		}
	}

	uint64_t max_conns = cfg.server.max_connections, reserve = cfg.server.health_reserve;
	if (!fit_fd_limit(&max_conns, &reserve))
		goto out;
	/* the console's sign-in sessions: in memory, a restart signs everyone out */
	sessions = kcg_sessions_create(cfg.console.max_sessions, cfg.console.session_ttl_min * 60000u);
	if (!sessions) {
		log_fail("cannot create the console's session table", "out of memory");
		goto out;
	}
	struct kcg_app app = { .cfg = &cfg, .store = store, .engine = engine, .sessions = sessions };
	atomic_init(&app.shutting_down, false);
	struct kcg_http_options hopt = {
		.host = cfg.server.listen_host,
		.port = cfg.server.listen_port,
		.cert_pem = cert,
		.key_pem = key,
		.threads = (unsigned)cfg.server.threads,
		.max_connections = (unsigned)max_conns,
		.connection_timeout_s = (unsigned)cfg.server.connection_timeout_s,
		.max_header_bytes = cfg.server.max_header_bytes,
		.max_body_bytes = cfg.server.max_body_bytes,
		.header_timeout_s = (unsigned)cfg.server.header_timeout_s,
		.handshake_timeout_s = (unsigned)cfg.server.handshake_timeout_s,
		.body_timeout_s = (unsigned)cfg.server.body_timeout_s,
		.max_connections_per_ip = (unsigned)cfg.server.max_connections_per_ip,
		.health_reserve = (unsigned)reserve,
		.tls_priorities = cfg.server.tls_priorities,
		.trusted_proxies = cfg.server.trusted_proxies,
		.admin_auth_burst = (unsigned)cfg.server.admin_auth_burst,
		.admin_auth_interval_s = (unsigned)cfg.server.admin_auth_interval_s,
	};
	http = kcg_http_create(&hopt, &app, &why);
	if (!http) {
		kcg_log(KCG_LOG_ERROR, "cannot start the server",
			json_pack("{s:s, s:s, s:i}", "detail", why, "host", cfg.server.listen_host, "port", (int)cfg.server.listen_port));
		goto out;
	}
	char url[300];
	bool v6 = strchr(cfg.server.listen_host, ':') != NULL;
	snprintf(url, sizeof(url), "%s://%s%s%s:%u", cert ? "https" : "http", v6 ? "[" : "", cfg.server.listen_host,
		 v6 ? "]" : "", (unsigned)cfg.server.listen_port);
	kcg_log(KCG_LOG_INFO, "listening",
		json_pack("{s:s, s:s, s:s, s:s, s:s}", "url", url, "version", KCGATE_VERSION, "store", cfg.store.path,
			  "mirakl_auth", kcg_webhook_auth_name(cfg.mirakl.webhook.mode), "inriver_auth",
			  kcg_webhook_auth_name(cfg.inriver.webhook.mode)));
	json_t *on = json_array();
	for (size_t i = 0; i < flows.n_enabled; i++)
		json_array_append_new(on, json_string(flows.enabled[i]->name));
	kcg_log(KCG_LOG_INFO, flows.n_enabled ? "flows on" : "no flow configured (ingest only)",
		json_pack("{s:o}", "flows", on));

	char ready[400];
	snprintf(ready, sizeof(ready), "READY=1\nSTATUS=listening on %s", url);
	notify(ready);
	int sig = wait_for_stop(&sigs, &cfg, config_path, &flows, store, engine);
	notify("STOPPING=1");
	kcg_log(KCG_LOG_INFO, "shutting down", json_pack("{s:s, s:I}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
							   "in_flight", (json_int_t)kcg_http_in_flight(http)));
	atomic_store(&app.shutting_down, true);
	sigdelset(&sigs, SIGHUP); /* a reload is no second stop signal: it stays blocked from here */
	drain(http, cfg.server.shutdown_timeout_s, &sigs);
	kcg_engine_stop(engine); /* the engine stays allocated: server threads may still use it */
	kcg_store_stop(store); /* completes every queued request, resuming its connection */
	kcg_http_destroy(http);
	http = NULL;
	status = 0;
out:
	kcg_http_destroy(http);
	kcg_engine_destroy(engine);
	kcg_sessions_destroy(sessions);
	kcg_store_close(store);
	if (status == 0)
		kcg_log_str(KCG_LOG_INFO, "stopped", NULL);
	free(cert);
	free(key);
	kcg_config_finish(&cfg);
	return status;
}
