/*
 * bench-baseline: the ceiling kcgate's ingest is measured against.
 *
 *   bench-baseline --listen 127.0.0.1:PORT --cert F --key F [--threads N]
 *
 * A bare libmicrohttpd server with the same daemon setup as src/http.c
 * (HTTPS from in-memory PEM, internal polling thread + epoll, a thread pool,
 * the same connection limit, timeout and memory limit) that reads each
 * request body and answers 202 {"event_id":"...","duplicate":false} without
 * parsing, authenticating or storing anything. The ratio kcgate/baseline is
 * then what kcgate's own work (auth, validation, durable group commit,
 * logging) costs, with TLS and HTTP parsing factored out.
 *
 * Prints "listening" to stderr once it accepts connections; exits 0 on
 * SIGTERM or SIGINT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* The same values as kcgate's defaults (include/kcgate/config.h, src/config.c). */
#define MAX_CONNECTIONS 1024
#define CONNECTION_TIMEOUT_S 30
#define MEMORY_LIMIT 16384
#define MAX_THREADS 64
#define MAX_PEM (1024 * 1024)

/* Per-connection request state, made on the first callback of a request. */
struct req {
	size_t body_len;
};

static atomic_uint_fast64_t counter;
static uint64_t run_tag;

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(MAX_PEM + 1);
	if (!buf)
		goto fail_file;
	size_t n = fread(buf, 1, MAX_PEM, f);
	if (ferror(f) || n == 0 || n == MAX_PEM)
		goto fail_buf;
	buf[n] = '\0';
	fclose(f);
	return buf;

fail_buf:
	free(buf);
fail_file:
	fclose(f);
	return NULL;
}

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct req *req = *con_cls;
	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* Read (and drop) the body, as kcgate must read it before answering. */
		req->body_len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, "POST") != 0)
		return answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			      "{\"error\":\"method_not_allowed\",\"message\":\"POST only\"}");

	/* 26 characters like a kcgate ULID, so the answers are the same size. */
	char body[96];
	uint64_t n = atomic_fetch_add(&counter, 1);
	snprintf(body, sizeof(body), "{\"event_id\":\"%010" PRIX64 "%016" PRIX64 "\",\"duplicate\":false}",
		 run_tag & UINT64_C(0xFFFFFFFFFF), n);
	return answer(conn, MHD_HTTP_ACCEPTED, body);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench-baseline --listen HOST:PORT --cert PEM --key PEM [--threads N]\n");
	return 2;
}

/* Splits "host:port" or "[v6]:port" into a sockaddr. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr, socklen_t *alen, int *v6)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *h = host;
	size_t hl = strlen(h);
	if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
		h[hl - 1] = '\0';
		h++;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST };
	struct addrinfo *res = NULL;
	if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res)
		return -EINVAL;
	memset(addr, 0, sizeof(*addr));
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*alen = res->ai_addrlen;
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

int main(int argc, char **argv)
{
	const char *listen = NULL, *cert_path = NULL, *key_path = NULL;
	unsigned threads = 4;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			return usage();
		const char *v = argv[++i];
		if (strcmp(a, "--listen") == 0) {
			listen = v;
		} else if (strcmp(a, "--cert") == 0) {
			cert_path = v;
		} else if (strcmp(a, "--key") == 0) {
			key_path = v;
		} else if (strcmp(a, "--threads") == 0) {
			char *end;
			errno = 0;
			unsigned long t = strtoul(v, &end, 10);
			if (errno || *end || end == v || t < 1 || t > MAX_THREADS)
				return usage();
			threads = (unsigned)t;
		} else {
			return usage();
		}
	}
	if (!listen || !cert_path || !key_path)
		return usage();

	struct sockaddr_storage addr;
	socklen_t alen;
	int v6;
	if (parse_listen(listen, &addr, &alen, &v6) < 0) {
		fprintf(stderr, "bench-baseline: bad --listen %s\n", listen);
		return 1;
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
	uint16_t port = ntohs(v6 ? a6->sin6_port : a4->sin_port);

	int rc = 1;
	char *cert = read_file(cert_path);
	char *key = read_file(key_path);
	if (!cert || !key) {
		fprintf(stderr, "bench-baseline: cannot read %s\n", cert ? key_path : cert_path);
		goto fail_pem;
	}
	run_tag = (uint64_t)time(NULL);

	/* The pool threads inherit this mask, so only sigwait() sees the signals. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, port, NULL, NULL, on_request, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONNECTION_TIMEOUT_S,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_HTTPS_MEM_CERT, cert,
		MHD_OPTION_HTTPS_MEM_KEY, key,
		MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "bench-baseline: cannot start on %s (address in use, bad certificate?)\n", listen);
		goto fail_pem;
	}
	fprintf(stderr, "bench-baseline: listening on https://%s (%u threads)\n", listen, threads);

	int sig = 0;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	rc = 0;

fail_pem:
	free(key);
	free(cert);
	return rc;
}
