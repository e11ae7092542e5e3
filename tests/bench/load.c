/*
 * bench-load: a bounded HTTPS load generator for `./dev bench ingest`.
 *
 *   bench-load --url https://127.0.0.1:PORT/webhooks/mirakl --secret-file F
 *              (--cacert PEM | -k) [--connections 32] [--seconds 10] [--warmup 1]
 *
 * Keeps N HTTP/1.1 keep-alive connections busy (libcurl multi, one easy
 * handle per connection, a new request as soon as the last one is answered)
 * with signed 1 KiB Mirakl webhooks: a 1024-byte JSON body, a unique
 * webhook-id, the current webhook-timestamp and a Standard Webhooks
 * signature made with the key of the whsec_ secret in F. Requests answered
 * during the first --warmup seconds are not counted (connections and TLS
 * sessions are being set up); then requests answered within --seconds are.
 * After that no new request starts and those in flight are drained.
 *
 * stdout, one line:
 *   load: requests=N ok=N errors=N rps=R p50_ms=X p99_ms=Y
 * (counted window only; ok = 2xx, errors = anything else incl. transport
 * failures; rps = ok / seconds; latencies of every counted request).
 * stderr: the status code breakdown and `load: acked=N`, every 2xx over the
 * whole run (warm-up and drain included), which the durability check needs.
 * Exit status 0 when some request succeeded, 1 otherwise, 2 on bad usage.
 */
#include "kcgate/common.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_LEN 1024           /* the "1 KiB webhook" of the issue */
#define MAX_CONNECTIONS 1024
#define MAX_SECONDS 3600
#define REQUEST_TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define DRAIN_LIMIT_NS (15ull * 1000000000ull) /* give up on stragglers after this */
#define MAX_KEY 64
#define MAX_SECRET_FILE 4096

/* One connection's worth of state: its easy handle and current request. */
struct slot {
	CURL *easy;
	struct curl_slist *headers;
	char body[BODY_LEN + 1];
	char errbuf[CURL_ERROR_SIZE];
	uint64_t start_ns;
	bool active;
};

struct stats {
	uint64_t requests;           /* answered (or failed) in the window */
	uint64_t ok;
	uint64_t errors;
	uint64_t acked;              /* every 2xx, whole run */
	uint64_t status[600];        /* counted window, by HTTP status */
	uint64_t transport;          /* counted window, no HTTP answer */
	uint32_t *lat_us;            /* counted window latencies */
	size_t n_lat, cap_lat;
	char first_error[CURL_ERROR_SIZE + 64];
};

/* What every request needs to know. */
struct load {
	const char *url;
	const char *cacert;
	bool insecure;
	unsigned char key[MAX_KEY];
	size_t key_len;
	char tag[17];                /* random per run, so ids never repeat across runs */
	uint64_t counter;
	CURLM *multi;
	struct stats st;
};

static int usage(void)
{
	fprintf(stderr, "usage: bench-load --url URL --secret-file FILE (--cacert PEM | -k)\n"
			"                  [--connections N] [--seconds S] [--warmup S]\n");
	return 2;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	return size * nmemb;
}

/* Reads a whsec_<base64> secret from @p path into load->key. */
static int read_secret(const char *path, struct load *load)
{
	char buf[MAX_SECRET_FILE];
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	int r = -EINVAL;
	if (strncmp(buf, "whsec_", 6) == 0) {
		r = kcg_base64_decode(buf + 6, n - 6, load->key, sizeof(load->key));
		if (r > 0) {
			load->key_len = (size_t)r;
			r = 0;
		} else if (r == 0) {
			r = -EINVAL;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/*
 * A Mirakl-shaped body of exactly BODY_LEN bytes, different per request
 * (so the store keeps real, distinct payloads), padded with a filler field.
 */
static int make_body(char *out, const char *wid, uint64_t n)
{
	char head[256];
	int hl = snprintf(head, sizeof(head),
			  "{\"type\":\"ORDER_CREATED\",\"id\":\"%s\",\"data\":{\"order_id\":\"BENCH-%" PRIu64
			  "\",\"shop_id\":2001,\"state\":\"WAITING_ACCEPTANCE\",\"filler\":\"",
			  wid, n);
	const char *tail = "\"}}";
	size_t tl = strlen(tail);
	if (hl < 0 || (size_t)hl + tl > BODY_LEN)
		return -EINVAL;
	memcpy(out, head, (size_t)hl);
	memset(out + hl, 'x', BODY_LEN - (size_t)hl - tl);
	memcpy(out + BODY_LEN - tl, tail, tl + 1);
	return 0;
}

/* Prepares and adds the next request on @p s. */
static int start_request(struct load *load, struct slot *s)
{
	char wid[64], ts[24], sig[80], hdr[160];
	uint64_t n = ++load->counter;
	snprintf(wid, sizeof(wid), "msg_%s_%" PRIu64, load->tag, n);
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (make_body(s->body, wid, n) < 0)
		return -EINVAL;

	/* Standard Webhooks: HMAC-SHA256 over "{id}.{timestamp}.{raw body}". */
	char msg[sizeof(wid) + sizeof(ts) + BODY_LEN + 2];
	int ml = snprintf(msg, sizeof(msg), "%s.%s.", wid, ts);
	memcpy(msg + ml, s->body, BODY_LEN);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	if (!HMAC(EVP_sha256(), load->key, (int)load->key_len, (unsigned char *)msg, (size_t)ml + BODY_LEN, mac,
		  &mac_len))
		return -EIO;
	memcpy(sig, "v1,", 3);
	kcg_base64_encode(mac, mac_len, sig + 3);

	curl_slist_free_all(s->headers);
	s->headers = NULL;
	const char *fixed[] = { "Content-Type: application/json", "Expect:" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *h = curl_slist_append(s->headers, fixed[i]);
		if (!h)
			return -ENOMEM;
		s->headers = h;
	}
	const char *names[] = { "webhook-id", "webhook-timestamp", "webhook-signature" };
	const char *values[] = { wid, ts, sig };
	for (size_t i = 0; i < 3; i++) {
		snprintf(hdr, sizeof(hdr), "%s: %s", names[i], values[i]);
		struct curl_slist *h = curl_slist_append(s->headers, hdr);
		if (!h)
			return -ENOMEM;
		s->headers = h;
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)BODY_LEN);
	s->errbuf[0] = '\0';
	s->start_ns = kcg_mono_ns();
	if (curl_multi_add_handle(load->multi, s->easy) != CURLM_OK)
		return -EIO;
	s->active = true;
	return 0;
}

static int setup_slot(struct load *load, struct slot *s)
{
	s->easy = curl_easy_init();
	if (!s->easy)
		return -ENOMEM;
	CURL *e = s->easy;
	curl_easy_setopt(e, CURLOPT_URL, load->url);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)REQUEST_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	if (load->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		curl_easy_setopt(e, CURLOPT_CAINFO, load->cacert);
	}
	return 0;
}

static int record_latency(struct stats *st, uint64_t ns)
{
	if (st->n_lat == st->cap_lat) {
		size_t cap = st->cap_lat ? st->cap_lat * 2 : 65536;
		uint32_t *p = realloc(st->lat_us, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		st->lat_us = p;
		st->cap_lat = cap;
	}
	uint64_t us = ns / 1000;
	st->lat_us[st->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	return 0;
}

/* Books one finished request; @p counted says whether it falls in the window. */
static int finish_request(struct load *load, struct slot *s, CURLcode res, uint64_t now, bool counted)
{
	struct stats *st = &load->st;
	long code = 0;
	if (res == CURLE_OK)
		curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
	bool ok = res == CURLE_OK && code >= 200 && code < 300;
	if (ok)
		st->acked++;
	if (res != CURLE_OK && !st->first_error[0])
		snprintf(st->first_error, sizeof(st->first_error), "%s: %s", curl_easy_strerror(res),
			 s->errbuf[0] ? s->errbuf : "-");
	if (!counted)
		return 0;
	st->requests++;
	if (ok)
		st->ok++;
	else
		st->errors++;
	if (res != CURLE_OK || code < 100 || code >= 600)
		st->transport++;
	else
		st->status[code]++;
	return record_latency(st, now - s->start_ns);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile @p p (0..100) of the sorted latencies, in ms. */
static double percentile_ms(const struct stats *st, unsigned p)
{
	if (st->n_lat == 0)
		return 0.0;
	size_t rank = (st->n_lat * p + 99) / 100;
	if (rank == 0)
		rank = 1;
	return st->lat_us[rank - 1] / 1000.0;
}

static int parse_num(const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
	if (kcg_parse_u64(v, min, max, out) < 0) {
		fprintf(stderr, "bench-load: %s is not a number in %" PRIu64 "..%" PRIu64 "\n", v, min, max);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct load load;
	const char *secret_file = NULL;
	uint64_t conns = 32, seconds = 10, warmup = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-k") == 0 || strcmp(a, "--insecure") == 0) {
			load.insecure = true;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		const char *v = argv[++i];
		if (strcmp(a, "--url") == 0)
			load.url = v;
		else if (strcmp(a, "--secret-file") == 0)
			secret_file = v;
		else if (strcmp(a, "--cacert") == 0)
			load.cacert = v;
		else if (strcmp(a, "--connections") == 0) {
			if (parse_num(v, 1, MAX_CONNECTIONS, &conns) < 0)
				return 2;
		} else if (strcmp(a, "--seconds") == 0) {
			if (parse_num(v, 1, MAX_SECONDS, &seconds) < 0)
				return 2;
		} else if (strcmp(a, "--warmup") == 0) {
			if (parse_num(v, 0, MAX_SECONDS, &warmup) < 0)
				return 2;
		} else
			return usage();
	}
	if (!load.url || !secret_file || (!load.cacert && !load.insecure))
		return usage();
	int r = read_secret(secret_file, &load);
	if (r < 0) {
		fprintf(stderr, "bench-load: %s: not a readable whsec_<base64> secret (%s)\n", secret_file,
			kcg_strerror(r));
		return 2;
	}
	unsigned char rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return 1;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(load.tag + 2 * i, 3, "%02x", rnd[i]);

	signal(SIGPIPE, SIG_IGN);
	int rc = 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	struct slot *slots = calloc(conns, sizeof(*slots));
	if (!slots)
		goto fail_global;
	load.multi = curl_multi_init();
	if (!load.multi)
		goto fail_slots;
	/* One connection per slot, kept alive and reused; never more. */
	curl_multi_setopt(load.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
	curl_multi_setopt(load.multi, CURLMOPT_MAXCONNECTS, (long)conns);
	curl_multi_setopt(load.multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);

	for (size_t i = 0; i < conns; i++) {
		if (setup_slot(&load, &slots[i]) < 0)
			goto fail_multi;
	}

	const uint64_t sec = 1000000000ull;
	uint64_t t0 = kcg_mono_ns();
	uint64_t window_start = t0 + warmup * sec;
	uint64_t window_end = window_start + seconds * sec;
	size_t active = 0;
	for (size_t i = 0; i < conns; i++) {
		if (start_request(&load, &slots[i]) < 0)
			goto fail_multi;
		active++;
	}

	while (active > 0) {
		int running = 0;
		curl_multi_perform(load.multi, &running);
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(load.multi, &left))) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct slot *s = NULL;
			CURLcode res = m->data.result;
			CURL *easy = m->easy_handle;
			curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
			uint64_t now = kcg_mono_ns();
			if (finish_request(&load, s, res, now, now >= window_start && now < window_end) < 0)
				goto fail_multi;
			curl_multi_remove_handle(load.multi, easy);
			s->active = false;
			active--;
			if (now < window_end) {
				if (start_request(&load, s) < 0)
					goto fail_multi;
				active++;
			}
		}
		if (active == 0)
			break;
		if (kcg_mono_ns() > window_end + DRAIN_LIMIT_NS) {
			fprintf(stderr, "bench-load: %zu requests still in flight after the drain limit\n", active);
			break;
		}
		curl_multi_poll(load.multi, NULL, 0, 100, NULL);
	}

	struct stats *st = &load.st;
	qsort(st->lat_us, st->n_lat, sizeof(*st->lat_us), cmp_u32);
	printf("load: requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64 " rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
	       st->requests, st->ok, st->errors, (double)st->ok / (double)seconds, percentile_ms(st, 50),
	       percentile_ms(st, 99));
	fflush(stdout);
	fprintf(stderr, "load: status");
	for (int c = 100; c < 600; c++) {
		if (st->status[c])
			fprintf(stderr, " %d=%" PRIu64, c, st->status[c]);
	}
	fprintf(stderr, " transport=%" PRIu64 "\n", st->transport);
	fprintf(stderr, "load: acked=%" PRIu64 " sent=%" PRIu64 " connections=%" PRIu64 " seconds=%" PRIu64
			" warmup=%" PRIu64 "\n",
		st->acked, load.counter, conns, seconds, warmup);
	if (st->first_error[0])
		fprintf(stderr, "load: first transport error: %s\n", st->first_error);
	rc = st->ok > 0 ? 0 : 1;
	goto cleanup;

fail_multi:
	fprintf(stderr, "bench-load: cannot set up or start a request (out of memory or libcurl error)\n");
cleanup:
	for (size_t i = 0; i < conns; i++) {
		if (!slots[i].easy)
			continue;
		if (slots[i].active)
			curl_multi_remove_handle(load.multi, slots[i].easy);
		curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
	}
	curl_multi_cleanup(load.multi);
	free(load.st.lat_us);
fail_slots:
	free(slots);
fail_global:
	curl_global_cleanup();
	OPENSSL_cleanse(load.key, sizeof(load.key));
	return rc;
}
