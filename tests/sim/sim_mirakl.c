/*
 * kcgate-sim, Mirakl seller API: OR11 (list), OR12 (one order), OR21
 * (accept/refuse), following the seller OpenAPI extract in
 * shared/ref/mirakl-mmp-seller-openapi.subset.json. Orders are kept as their
 * OR11 JSON so responses are what a test created, plus filled defaults.
 *
 * The order's life as Mirakl runs it (peers.md section 1, FACTS.md section 3):
 * OR21 moves accepted lines to WAITING_DEBIT, then WAITING_DEBIT_PAYMENT,
 * then after the platform's debit delay SHIPPING (or CANCELED when the debit
 * fails); undecided orders are refused when the acceptance window ends;
 * addresses stay null until the platform setting shows them. Time-driven
 * changes run on a ticker thread and, lazily, before every Mirakl call and
 * control read, so a test sees a change as soon as it is due. Every change
 * can be announced by a signed webhook (Standard Webhooks), sent by its own
 * thread so request handling never waits for the receiver.
 */
#include "sim.h"

#include <microhttpd.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DAY_MS (24LL * 3600 * 1000)
#define SHIPPING_DAYS 5
/* Platform defaults (POST /_sim/mirakl/settings). */
#define DEFAULT_DEBIT_DELAY_MS 500
#define DEFAULT_ACCEPTANCE_WINDOW_S 259200LL	/* 3 days */
#define DEFAULT_SEED 1
#define MAX_DEBIT_DELAY_MS 86400000LL
#define MAX_WINDOW_S 1000000000LL
/* The life ticker's period. */
#define TICK_MS 20
/* Webhooks: queue bound, socket timeouts. */
#define WEBHOOK_QUEUE_MAX 100000
#define WEBHOOK_TIMEOUT_MS 2000

static const char *const order_states[] = {
	"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT",
	"SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED", "REFUSED", "CANCELED",
};

static bool valid_state(const char *s)
{
	for (size_t i = 0; i < sizeof(order_states) / sizeof(order_states[0]); i++) {
		if (strcmp(s, order_states[i]) == 0)
			return true;
	}
	return false;
}

static struct sim_order *find_order(const char *id)
{
	for (size_t i = 0; i < sim.norders; i++) {
		if (strcmp(sim.orders[i].id, id) == 0)
			return &sim.orders[i];
	}
	return NULL;
}

/* ---- platform settings (guarded by sim.lock) ---- */

enum visibility { VIS_SHIPPING, VIS_ACCEPTANCE, VIS_ALWAYS };
static const char *const vis_names[] = {"shipping", "acceptance", "always"};

static struct {
	enum visibility vis;
	long long debit_delay_ms;
	double debit_failure_rate;
	long long acceptance_window_s;
	bool partial_acceptance;
	char *webhook_url;		/* NULL: no webhooks */
	unsigned char key[64];		/* the whsec_ secret, decoded */
	size_t keylen;			/* 0: no secret, no webhooks */
	uint64_t seed, rng;		/* debit outcomes */
} set = {
	.debit_delay_ms = DEFAULT_DEBIT_DELAY_MS,
	.acceptance_window_s = DEFAULT_ACCEPTANCE_WINDOW_S,
	.partial_acceptance = true,
	.seed = DEFAULT_SEED,
	.rng = DEFAULT_SEED,
};

/* Earliest time a time-driven change is due (INT64_MAX: none; 0: scan). */
static int64_t next_due;

static void settings_defaults(void)
{
	free(set.webhook_url);
	memset(&set, 0, sizeof(set));
	set.vis = VIS_SHIPPING;
	set.debit_delay_ms = DEFAULT_DEBIT_DELAY_MS;
	set.acceptance_window_s = DEFAULT_ACCEPTANCE_WINDOW_S;
	set.partial_acceptance = true;
	set.seed = set.rng = DEFAULT_SEED;
	next_due = 0;
}

/* ---- webhooks out (own lock; taken after sim.lock, never before) ---- */

struct hook {
	struct hook *next;
	char *url;
	unsigned char key[64];
	size_t keylen;
	char *body;
	char *order_id;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hook *head, *tail;
	size_t len;
	unsigned long sent, failed;
	uint64_t gen;		/* bumped by reset: an in-flight send is not counted */
	uint64_t msg_seq;	/* never reset: webhook ids stay unique for the process */
	int64_t boot_ms;
	bool stop;
} wh = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void hook_free(struct hook *h)
{
	if (!h)
		return;
	free(h->url);
	free(h->body);
	free(h->order_id);
	free(h);
}

/* "http://host[:port][/path]" into its parts; false if not that shape. */
static bool parse_url(const char *url, char *host, size_t hostsz, char *port, size_t portsz,
		      const char **path)
{
	const char *p, *h, *he;
	size_t n;

	if (!url || strncasecmp(url, "http://", 7) != 0)
		return false;
	h = url + 7;
	if (*h == '[') {
		he = strchr(h, ']');
		if (!he)
			return false;
		h++;
		p = he + 1;
	} else {
		he = h + strcspn(h, ":/?#");
		p = he;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= hostsz)
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (*p == ':') {
		size_t pl = strspn(p + 1, "0123456789");

		if (pl == 0 || pl >= portsz || (p[1 + pl] && p[1 + pl] != '/'))
			return false;
		memcpy(port, p + 1, pl);
		port[pl] = '\0';
		p += 1 + pl;
	} else {
		if (*p && *p != '/')
			return false;
		snprintf(port, portsz, "80");
	}
	*path = *p ? p : "/";
	return strlen(*path) < 2048 && !strpbrk(*path, " \r\n");
}

/* Announce a change of order @p o; lock held. */
static void webhook_enqueue(struct sim_order *o, const char *type)
{
	struct hook *h;
	json_t *b;

	if (!set.webhook_url || !set.keylen)
		return;
	b = json_pack("{s:s, s:{s:s, s:O}}", "type", type, "data", "order_id", o->id,
		"order_state", json_object_get(o->json, "order_state"));
	h = calloc(1, sizeof(*h));
	if (!b || !h)
		abort();
	h->body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	if (!h->body)
		abort();
	h->url = sim_strdup(set.webhook_url);
	h->order_id = sim_strdup(o->id);
	memcpy(h->key, set.key, sizeof(h->key));
	h->keylen = set.keylen;
	pthread_mutex_lock(&wh.mu);
	if (wh.len >= WEBHOOK_QUEUE_MAX) {
		wh.failed++;
		pthread_mutex_unlock(&wh.mu);
		fprintf(stderr, "kcgate-sim: webhook for order %s dropped: %d webhooks queued\n",
			o->id, WEBHOOK_QUEUE_MAX);
		hook_free(h);
		return;
	}
	if (wh.tail)
		wh.tail->next = h;
	else
		wh.head = h;
	wh.tail = h;
	wh.len++;
	pthread_cond_signal(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
}

static void webhook_clear(void)
{
	struct hook *h;

	pthread_mutex_lock(&wh.mu);
	h = wh.head;
	wh.head = wh.tail = NULL;
	wh.len = 0;
	wh.sent = wh.failed = 0;
	wh.gen++;
	pthread_mutex_unlock(&wh.mu);
	while (h) {
		struct hook *n = h->next;

		hook_free(h);
		h = n;
	}
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* POST one webhook; 0, or -1 with @p err set. */
static int webhook_post(const struct hook *h, char *err, size_t errsz)
{
	char host[256], port[16], id[64], ts[24], head[3072], resp[1024];
	const char *path;
	const void *parts[5];
	size_t lens[5], got = 0;
	unsigned char mac[32];
	char *sig;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct timeval tv = {.tv_sec = WEBHOOK_TIMEOUT_MS / 1000,
		.tv_usec = (WEBHOOK_TIMEOUT_MS % 1000) * 1000};
	int fd = -1, rc = -1, status = 0, gai;
	size_t blen = strlen(h->body);

	if (!parse_url(h->url, host, sizeof(host), port, sizeof(port), &path)) {
		snprintf(err, errsz, "bad url");
		return -1;
	}
	pthread_mutex_lock(&wh.mu);
	snprintf(id, sizeof(id), "msg_sim%llx_%llu", (unsigned long long)wh.boot_ms,
		(unsigned long long)++wh.msg_seq);
	pthread_mutex_unlock(&wh.mu);
	snprintf(ts, sizeof(ts), "%lld", (long long)(sim_now_ms() / 1000));
	parts[0] = id, lens[0] = strlen(id);
	parts[1] = ".", lens[1] = 1;
	parts[2] = ts, lens[2] = strlen(ts);
	parts[3] = ".", lens[3] = 1;
	parts[4] = h->body, lens[4] = blen;
	sim_hmac_sha256(h->key, h->keylen, parts, lens, 5, mac);
	sig = sim_base64(mac, sizeof(mac));
	snprintf(head, sizeof(head),
		"POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nContent-Type: application/json\r\n"
		"Content-Length: %zu\r\nwebhook-id: %s\r\nwebhook-timestamp: %s\r\n"
		"webhook-signature: v1,%s\r\nUser-Agent: kcgate-sim\r\nConnection: close\r\n\r\n",
		path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port,
		blen, id, ts, sig);
	free(sig);
	gai = getaddrinfo(host, port, &hints, &ai);
	if (gai) {
		snprintf(err, errsz, "%s: %s", host, gai_strerror(gai));
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		snprintf(err, errsz, "connect: %s", strerror(errno));
		goto out;
	}
	if (!send_all(fd, head, strlen(head)) || !send_all(fd, h->body, blen)) {
		snprintf(err, errsz, "send: %s", strerror(errno));
		goto out;
	}
	/* Read the status line and headers, then the body (discarded) so the
	 * receiver is not reset mid-answer. */
	while (got < sizeof(resp) - 1) {
		ssize_t n = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			break;
	}
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(err, errsz, "no HTTP answer");
		goto out;
	}
	if (strstr(resp, "\r\n\r\n")) {
		const char *cl = strcasestr(resp, "\r\nContent-Length:");
		long long left = cl ? strtoll(cl + 17, NULL, 10) : 1LL << 16;

		left -= (long long)(got - (size_t)(strstr(resp, "\r\n\r\n") + 4 - resp));
		while (left > 0) {
			char sink[4096];
			ssize_t n = recv(fd, sink, sizeof(sink), 0);

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			left -= n;
		}
	}
	if (status < 200 || status > 299) {
		snprintf(err, errsz, "HTTP %d", status);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return rc;
}

static void *webhook_sender(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wh.mu);
	for (;;) {
		struct hook *h;
		uint64_t gen;
		char err[300] = "";
		int rc;

		while (!wh.head && !wh.stop)
			pthread_cond_wait(&wh.cv, &wh.mu);
		if (wh.stop)
			break;
		h = wh.head;
		wh.head = h->next;
		if (!wh.head)
			wh.tail = NULL;
		wh.len--;
		gen = wh.gen;
		pthread_mutex_unlock(&wh.mu);
		rc = webhook_post(h, err, sizeof(err));
		if (rc)
			fprintf(stderr, "kcgate-sim: webhook for order %s to %s failed (%s): dropped\n",
				h->order_id, h->url, err);
		hook_free(h);
		pthread_mutex_lock(&wh.mu);
		if (gen == wh.gen) {
			if (rc)
				wh.failed++;
			else
				wh.sent++;
		}
	}
	pthread_mutex_unlock(&wh.mu);
	return NULL;
}

/* ---- the order's life (lock held throughout) ---- */

/* Position of an active state in the life; -1 for REFUSED, CANCELED and the rest. */
static int life_rank(const char *s)
{
	static const char *const life[] = {"STAGING", "WAITING_ACCEPTANCE", "WAITING_DEBIT",
		"WAITING_DEBIT_PAYMENT", "SHIPPING", "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED"};

	for (int i = 0; s && i < (int)(sizeof(life) / sizeof(life[0])); i++) {
		if (strcmp(s, life[i]) == 0)
			return i;
	}
	return -1;
}
#define RANK_WAITING_DEBIT 2
#define RANK_SHIPPING 4

static bool is_final(const char *s)
{
	return s && (strcmp(s, "REFUSED") == 0 || strcmp(s, "CANCELED") == 0 || strcmp(s, "CLOSED") == 0);
}

static const char *order_state_of(struct sim_order *o)
{
	const char *s = json_string_value(json_object_get(o->json, "order_state"));

	return s ? s : "";
}

static const char *line_state(json_t *l)
{
	const char *s = json_string_value(json_object_get(l, "order_line_state"));

	return s ? s : "";
}

static void mark_flags(struct sim_order *o)
{
	int r = life_rank(order_state_of(o));

	if (r >= RANK_WAITING_DEBIT)
		o->was_accepted = true;
	if (r >= RANK_SHIPPING)
		o->was_shipping = true;
}

static bool has_line_in(struct sim_order *o, const char *st)
{
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		if (strcmp(line_state(l), st) == 0)
			return true;
	}
	return false;
}

/* When the next time-driven change of @p o is due (INT64_MAX: none). */
static int64_t due_of(struct sim_order *o)
{
	int64_t due = INT64_MAX;

	if (strcmp(order_state_of(o), "WAITING_ACCEPTANCE") == 0)
		due = o->born_ms + set.acceptance_window_s * 1000;
	if (has_line_in(o, "WAITING_DEBIT") && o->debit_start_ms + set.debit_delay_ms / 2 < due)
		due = o->debit_start_ms + set.debit_delay_ms / 2;
	if (has_line_in(o, "WAITING_DEBIT_PAYMENT") && o->debit_start_ms + set.debit_delay_ms < due)
		due = o->debit_start_ms + set.debit_delay_ms;
	return due;
}

/* Mirakl takes a line's quantity off its offer when the order is created
 * (@p sign -1) and gives it back when the line is refused or cancelled
 * (+1); lock held. */
static void offer_stock(json_t *l, int sign)
{
	const char *sku = json_string_value(json_object_get(l, "offer_sku"));
	json_t *q = json_object_get(l, "quantity");
	if (sku && json_is_integer(q) && json_integer_value(q) > 0)
		sim_mirakl_stock_order(sku, sign * (long long)json_integer_value(q));
}

static bool line_ended(const char *st)
{
	return strcmp(st, "REFUSED") == 0 || strcmp(st, "CANCELED") == 0;
}

/* Move every line in @p from to @p to; returns how many moved. */
static size_t move_lines(struct sim_order *o, const char *from, const char *to, const char *now)
{
	size_t i, n = 0;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		if (strcmp(line_state(l), from) != 0)
			continue;
		if (line_ended(to) && !line_ended(from))
			offer_stock(l, +1);
		json_object_set_new(l, "order_line_state", json_string(to));
		json_object_set_new(l, "last_updated_date", json_string(now));
		n++;
	}
	return n;
}

/*
 * Record a change of @p o's lines: the order state follows its lines (the
 * least advanced active line; @p fallback when no line is active), the
 * last_updated_date moves, a webhook goes out.
 */
static void commit(struct sim_order *o, int64_t now_ms, const char *fallback)
{
	const char *best = NULL;
	int best_rank = 1000;
	size_t i;
	json_t *l;
	char now[32];

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		int r = life_rank(line_state(l));

		if (r >= 0 && r < best_rank) {
			best_rank = r;
			best = line_state(l);
		}
	}
	json_object_set_new(o->json, "order_state", json_string(best ? best : fallback));
	sim_fmt_iso(now_ms, now);
	json_object_set_new(o->json, "last_updated_date", json_string(now));
	o->updated_ms = now_ms / 1000 * 1000;
	mark_flags(o);
	webhook_enqueue(o, "ORDER_STATE_CHANGED");
	if (due_of(o) < next_due)
		next_due = due_of(o);
}

struct sim_order *sim_mirakl_find(const char *id)
{
	return find_order(id);
}

void sim_mirakl_commit(struct sim_order *o, const char *fallback)
{
	commit(o, sim_now_ms(), fallback);
}

void sim_mirakl_touch(struct sim_order *o)
{
	char now[32];
	int64_t now_ms = sim_now_ms();

	sim_fmt_iso(now_ms, now);
	json_object_set_new(o->json, "last_updated_date", json_string(now));
	o->updated_ms = now_ms / 1000 * 1000;
}

static void auto_refuse(struct sim_order *o, int64_t now_ms)
{
	char now[32];

	sim_fmt_iso(now_ms, now);
	move_lines(o, "WAITING_ACCEPTANCE", "REFUSED", now);
	json_object_set_new(o->json, "acceptance_decision_date", json_null());
	commit(o, now_ms, "REFUSED");
}

/*
 * The debit: WAITING_DEBIT -> WAITING_DEBIT_PAYMENT when @p pay (half the
 * delay), then -> SHIPPING, or CANCELED on a failed debit, when @p finish.
 */
static void debit_steps(struct sim_order *o, int64_t now_ms, bool pay, bool finish)
{
	char now[32];

	sim_fmt_iso(now_ms, now);
	if (pay && move_lines(o, "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", now))
		commit(o, now_ms, "CANCELED");
	if (finish && has_line_in(o, "WAITING_DEBIT_PAYMENT")) {
		size_t i;
		json_t *l;

		json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
			if (strcmp(line_state(l), "WAITING_DEBIT_PAYMENT") == 0 && !o->debit_fail)
				json_object_set_new(l, "debited_date", json_string(now));
		}
		move_lines(o, "WAITING_DEBIT_PAYMENT", o->debit_fail ? "CANCELED" : "SHIPPING", now);
		if (!o->debit_fail)
			json_object_set_new(o->json, "customer_debited_date", json_string(now));
		commit(o, now_ms, "CANCELED");
	}
}

static void advance_order(struct sim_order *o, int64_t now_ms)
{
	if (strcmp(order_state_of(o), "WAITING_ACCEPTANCE") == 0 &&
	    now_ms >= o->born_ms + set.acceptance_window_s * 1000)
		auto_refuse(o, now_ms);
	debit_steps(o, now_ms, now_ms >= o->debit_start_ms + set.debit_delay_ms / 2,
		now_ms >= o->debit_start_ms + set.debit_delay_ms);
}

void sim_mirakl_advance(void)
{
	int64_t now = sim_now_ms(), next = INT64_MAX;

	if (now < next_due)
		return;
	for (size_t i = 0; i < sim.norders; i++) {
		int64_t d;

		advance_order(&sim.orders[i], now);
		d = due_of(&sim.orders[i]);
		if (d < next)
			next = d;
	}
	next_due = next;
}

static void advance_locked(void)
{
	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	pthread_mutex_unlock(&sim.lock);
}

/* ---- what a caller sees: addresses hidden until the platform shows them ---- */

static bool addresses_visible(const struct sim_order *o)
{
	return set.vis == VIS_ALWAYS || (set.vis == VIS_ACCEPTANCE && o->was_accepted) || o->was_shipping;
}

/* The customer as currently visible; new reference (or NULL). */
static json_t *customer_view(const struct sim_order *o)
{
	static const char *const hidden[] = {"billing_address", "shipping_address", "delivery_contact",
		"accounting_contact"};
	json_t *c = json_object_get(o->json, "customer"), *v;

	if (!json_is_object(c) || addresses_visible(o))
		return json_incref(c);
	v = json_copy(c);
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (i < 2 || json_object_get(v, hidden[i]))
			json_object_set_new(v, hidden[i], json_null());
	}
	return v;
}

/* The order as OR11/OR12 show it now; new reference. */
static json_t *order_view(const struct sim_order *o)
{
	json_t *v;

	if (addresses_visible(o))
		return json_incref(o->json);
	v = json_copy(o->json);
	json_object_set_new(v, "customer", customer_view(o));
	return v;
}

static const char *stored_tax_mode(const struct sim_order *o)
{
	const char *m = json_string_value(json_object_get(o->json, "order_tax_mode"));

	return m ? m : "";
}

/* ---- OR11's order_tax_mode: prices shown with or without their taxes ---- */

/* An amount in minor units (pennies), rounded half away from zero. */
static long long to_minor(json_t *v)
{
	double d = json_number_value(v) * 100;

	return (long long)(d + (d < 0 ? -0.5 : 0.5));
}

static bool num_p(json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

/* The sum of the "amount"s of a taxes array, in minor units. */
static long long tax_minor(json_t *taxes)
{
	long long sum = 0;
	size_t i;
	json_t *t;

	json_array_foreach(taxes, i, t) {
		if (num_p(json_object_get(t, "amount")))
			sum += to_minor(json_object_get(t, "amount"));
	}
	return sum;
}

/* obj[key] += delta (minor units) when obj[key] is a number. */
static void add_minor(json_t *obj, const char *key, long long delta)
{
	json_t *v = json_object_get(obj, key);

	if (num_p(v) && delta)
		json_object_set_new(obj, key, json_real((double)(to_minor(v) + delta) / 100));
}

/* n * num / den rounded half away from zero (den != 0). */
static long long mul_div(long long n, long long num, long long den)
{
	long long q = n * num, h = (den < 0 ? -den : den) / 2;

	if (den < 0) {
		q = -q;
		den = -den;
	}
	return q >= 0 ? (q + h) / den : -((-q + h) / den);
}

/* Cancellations and refunds: amount and shipping_amount follow their own taxes. */
static void money_entries(json_t *arr, int sign)
{
	size_t i;
	json_t *e;

	json_array_foreach(arr, i, e) {
		add_minor(e, "amount", sign * tax_minor(json_object_get(e, "taxes")));
		add_minor(e, "shipping_amount", sign * tax_minor(json_object_get(e, "shipping_taxes")));
	}
}

/*
 * @p v (a copy we own) as OR11 shows it with order_tax_mode @p mode: every
 * price field (OpenAPI: "price, unit price, shipping price, cancellation
 * amount, refund amount and order total prices") gets its taxes added
 * (TAX_EXCLUDED -> TAX_INCLUDED) or taken off (the reverse), in pennies.
 * A line's price_unit moves in proportion to its price (a promotion line's
 * unit price is before the promotion); a line with price 0 moves by its
 * taxes over its quantity. Without taxes nothing changes, as the OpenAPI
 * says.
 */
static void to_tax_mode(json_t *v, const char *mode)
{
	const char *cur = json_string_value(json_object_get(v, "order_tax_mode"));
	int sign = strcmp(mode, "TAX_INCLUDED") == 0 ? 1 : -1;
	long long all_t = 0, all_st = 0;
	size_t i;
	json_t *l;

	if (!cur || strcmp(cur, mode) == 0)
		return;
	json_array_foreach(json_object_get(v, "order_lines"), i, l) {
		long long t = sign * tax_minor(json_object_get(l, "taxes"));
		long long st = sign * tax_minor(json_object_get(l, "shipping_taxes"));
		json_t *price = json_object_get(l, "price"), *pu = json_object_get(l, "price_unit");
		json_t *q = json_object_get(l, "quantity");

		if (num_p(pu) && t) {
			long long old = num_p(price) ? to_minor(price) : 0;
			long long unit = to_minor(pu), qty = json_is_integer(q) ? json_integer_value(q) : 1;

			add_minor(l, "price_unit", (old ? mul_div(unit, old + t, old) : unit + mul_div(t, 1, qty > 0 ? qty : 1))
				- unit);
		}
		add_minor(l, "price", t);
		add_minor(l, "shipping_price", st);
		add_minor(l, "total_price", t + st);
		money_entries(json_object_get(l, "cancelations"), sign);
		money_entries(json_object_get(l, "refunds"), sign);
		all_t += t;
		all_st += st;
	}
	add_minor(v, "price", all_t);
	add_minor(v, "shipping_price", all_st);
	add_minor(v, "total_price", all_t + all_st);
	json_object_set_new(v, "order_tax_mode", json_string(mode));
}

/* A query parameter, NULL when absent or empty. */
static const char *qarg(struct sim_request *req, const char *name)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);

	return v && *v ? v : NULL;
}

static int cmp_orders(const void *a, const void *b)
{
	const struct sim_order *x = *(struct sim_order *const *)a;
	const struct sim_order *y = *(struct sim_order *const *)b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool in_list(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], s) == 0)
			return true;
	}
	return false;
}

struct time_filter {
	const char *param;
	int64_t ms;
	bool set;
};

/* OR11: GET /api/orders */
static void or11(struct sim_request *req, struct sim_reply *r)
{
	struct time_filter tf[4] = {
		{.param = "start_update_date"}, {.param = "end_update_date"},
		{.param = "start_date"}, {.param = "end_date"},
	};
	char **ids = NULL, **states = NULL;
	size_t nids = 0, nstates = 0, nmatch = 0;
	long long max = SIM_OR11_DEFAULT_MAX, offset = 0;
	bool paginate = true, desc = false;
	struct sim_order **match = NULL;
	const char *v, *tax_mode;
	json_t *orders, *out;
	char *dump;

	v = qarg(req, "paginate");
	if (v && strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
		sim_reply_mirakl_error(r, 400, "paginate: expected true or false, got '%s'", v);
		return;
	}
	paginate = !v || strcmp(v, "true") == 0;
	v = qarg(req, "max");
	if (v && sim_parse_ll(v, 1, SIM_OR11_MAX, &max)) {
		sim_reply_mirakl_error(r, 400, "max: must be an integer between 1 and %d, got '%s'",
			SIM_OR11_MAX, v);
		return;
	}
	v = qarg(req, "offset");
	if (v && sim_parse_ll(v, 0, 1000000000, &offset)) {
		sim_reply_mirakl_error(r, 400, "offset: must be a non-negative integer, got '%s'", v);
		return;
	}
	v = qarg(req, "sort");
	if (v && strcmp(v, "dateCreated") != 0) {
		sim_reply_mirakl_error(r, 400, "sort: unsupported value '%s'", v);
		return;
	}
	v = qarg(req, "order");
	if (v && strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0) {
		sim_reply_mirakl_error(r, 400, "order: expected asc or desc, got '%s'", v);
		return;
	}
	desc = v && strcmp(v, "desc") == 0;
	tax_mode = qarg(req, "order_tax_mode");
	if (tax_mode && strcmp(tax_mode, "TAX_INCLUDED") != 0 && strcmp(tax_mode, "TAX_EXCLUDED") != 0) {
		sim_reply_mirakl_error(r, 400, "order_tax_mode: expected TAX_INCLUDED or TAX_EXCLUDED, got '%s'",
			tax_mode);
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		v = qarg(req, tf[i].param);
		if (!v)
			continue;
		if (sim_parse_time(v, &tf[i].ms)) {
			sim_reply_mirakl_error(r, 400, "%s: invalid date-time '%s'", tf[i].param, v);
			return;
		}
		tf[i].set = true;
	}
	/* Mirakl subtracts a safety delta from start_update_date: overlaps are expected. */
	tf[0].ms -= sim.mirakl_update_delta_s * 1000;

	ids = sim_split_csv(qarg(req, "order_ids"), &nids);
	if (nids > SIM_OR11_MAX_IDS) {
		sim_reply_mirakl_error(r, 400, "order_ids: at most %d ids", SIM_OR11_MAX_IDS);
		goto out_ids;
	}
	states = sim_split_csv(qarg(req, "order_state_codes"), &nstates);
	for (size_t i = 0; i < nstates; i++) {
		if (!valid_state(states[i])) {
			sim_reply_mirakl_error(r, 400, "order_state_codes: unknown order state '%s'",
				states[i]);
			goto out_states;
		}
	}

	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	match = sim_xmalloc(sizeof(*match) * (sim.norders + 1));
	for (size_t i = 0; i < sim.norders; i++) {
		struct sim_order *o = &sim.orders[i];
		const char *st = json_string_value(json_object_get(o->json, "order_state"));

		if (nids && !in_list(ids, nids, o->id))
			continue;
		if (nstates && !in_list(states, nstates, st ? st : ""))
			continue;
		if ((tf[0].set && o->updated_ms < tf[0].ms) || (tf[1].set && o->updated_ms > tf[1].ms) ||
		    (tf[2].set && o->created_ms < tf[2].ms) || (tf[3].set && o->created_ms > tf[3].ms))
			continue;
		match[nmatch++] = o;
	}
	qsort(match, nmatch, sizeof(*match), cmp_orders);
	orders = json_array();
	for (size_t k = 0; k < nmatch; k++) {
		size_t i = desc ? nmatch - 1 - k : k;

		if (paginate && (k < (size_t)offset || k >= (size_t)offset + (size_t)max))
			continue;
		json_t *view = order_view(match[i]);

		if (tax_mode && strcmp(tax_mode, stored_tax_mode(match[i])) != 0) {
			json_t *conv = json_deep_copy(view);

			json_decref(view);
			to_tax_mode(conv, tax_mode);
			view = conv;
		}
		json_array_append_new(orders, view);
		/* a read by id after a repeated OR24 explains it (it finds SHIPPED) */
		if (nids && match[i]->repeat_unread)
			match[i]->repeat_unread = !sim_mirakl_ship_done(match[i]);
		/* a read by id that found it SHIPPED: a later OR24 had been told */
		if (nids && sim_mirakl_ship_done(match[i]))
			match[i]->read_shipped = true;
	}
	out = json_pack("{s:o, s:I}", "orders", orders, "total_count", (json_int_t)nmatch);
	/* Dump while locked: OR21 mutates the same JSON objects. */
	dump = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(15));
	json_decref(out);
	pthread_mutex_unlock(&sim.lock);
	free(match);
	if (!dump)
		abort();
	sim_reply_clear(r);
	r->status = 200;
	r->body = dump;
	r->len = strlen(dump);
	r->content_type = "application/json";
out_states:
	sim_strv_free(states, nstates);
out_ids:
	sim_strv_free(ids, nids);
}

/* OR12: GET /api/orders/{order_id} */
static void or12(const char *id, struct sim_reply *r)
{
	struct sim_order *o;
	char *dump = NULL;

	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	o = find_order(id);
	if (o) {
		json_t *v = order_view(o);

		dump = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15));
		json_decref(v);
	}
	pthread_mutex_unlock(&sim.lock);
	if (!o) {
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
		return;
	}
	if (!dump)
		abort();
	sim_reply_clear(r);
	r->status = 200;
	r->body = dump;
	r->len = strlen(dump);
	r->content_type = "application/json";
}

/* Validate the OR21 body shape before looking at the order. */
static bool or21_shape(json_t *lines, struct sim_reply *r)
{
	size_t i;
	json_t *l;

	if (!json_is_array(lines)) {
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: order_lines: required array");
		return false;
	}
	json_array_foreach(lines, i, l) {
		const char *id;

		if (json_is_null(l)) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_NULL_ELEMENT: order_lines[%zu] is null", i);
			return false;
		}
		id = json_string_value(json_object_get(l, "id"));
		if (!json_is_object(l) || !id || !*id || !json_is_boolean(json_object_get(l, "accepted"))) {
			sim_reply_mirakl_error(r, 400,
				"VALIDATION_ERROR: order_lines[%zu]: 'id' (string) and 'accepted' (boolean) are required", i);
			return false;
		}
		for (size_t k = 0; k < i; k++) {
			if (strcmp(id, json_string_value(json_object_get(json_array_get(lines, k), "id"))) == 0) {
				sim_reply_mirakl_error(r, 400,
					"ORDER_LINE_DUPLICATE_ID: order line '%s' appears twice", id);
				return false;
			}
		}
	}
	return true;
}

static json_t *decision_for(json_t *lines, const char *line_id)
{
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l) {
		if (strcmp(json_string_value(json_object_get(l, "id")), line_id) == 0)
			return l;
	}
	return NULL;
}

/* OR21 under the lock: check the state rules, then apply the decisions. */
static void or21_apply(struct sim_order *o, json_t *lines, struct sim_reply *r)
{
	json_t *olines = json_object_get(o->json, "order_lines");
	const char *st;
	char now[32];
	bool any_accepted = false;
	size_t i;
	json_t *l;
	int64_t now_ms = sim_now_ms();

	st = json_string_value(json_object_get(o->json, "order_state"));
	if (!st || strcmp(st, "WAITING_ACCEPTANCE") != 0) {
		sim_reply_mirakl_error(r, 400,
			"ORDER_INVALID_STATE: order '%s' is in state %s, expected WAITING_ACCEPTANCE",
			o->id, st ? st : "(none)");
		return;
	}
	json_array_foreach(lines, i, l) {
		const char *id = json_string_value(json_object_get(l, "id"));
		json_t *ol = NULL;
		size_t k;
		json_t *c;

		json_array_foreach(olines, k, c) {
			const char *cid = json_string_value(json_object_get(c, "order_line_id"));

			if (cid && strcmp(cid, id) == 0)
				ol = c;
		}
		if (!ol) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_NOT_FOUND: order line '%s' is not part of order '%s'", id, o->id);
			return;
		}
		st = json_string_value(json_object_get(ol, "order_line_state"));
		if (!st || strcmp(st, "WAITING_ACCEPTANCE") != 0) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_INVALID_STATE: order line '%s' is in state %s, expected WAITING_ACCEPTANCE",
				id, st ? st : "(none)");
			return;
		}
	}
	json_array_foreach(olines, i, l) {
		const char *lst = json_string_value(json_object_get(l, "order_line_state"));
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));

		if (lst && strcmp(lst, "WAITING_ACCEPTANCE") == 0 && !decision_for(lines, lid ? lid : "")) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_LINE_ACCEPTANCE_DECISION_MISSING: no decision for order line '%s'",
				lid ? lid : "");
			return;
		}
	}
	if (!set.partial_acceptance) {
		bool yes = false, no = false;

		json_array_foreach(lines, i, l) {
			if (json_is_true(json_object_get(l, "accepted")))
				yes = true;
			else
				no = true;
		}
		if (yes && no) {
			sim_reply_mirakl_error(r, 400,
				"ORDER_PARTIAL_ACCEPTANCE_DISABLED: partial acceptance is disabled for this shop: "
				"accept or refuse every line of order '%s'", o->id);
			return;
		}
	}
	/* Every check passed: accepted lines start the debit, refused ones end. */
	sim_fmt_iso(now_ms, now);
	json_array_foreach(olines, i, l) {
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));
		json_t *d = decision_for(lines, lid ? lid : "");
		bool acc;

		if (!d)
			continue;
		acc = json_is_true(json_object_get(d, "accepted"));
		any_accepted = any_accepted || acc;
		if (!acc)
			offer_stock(l, +1);
		json_object_set_new(l, "order_line_state", json_string(acc ? "WAITING_DEBIT" : "REFUSED"));
		json_object_set_new(l, "last_updated_date", json_string(now));
	}
	json_object_set_new(o->json, "acceptance_decision_date", json_string(now));
	if (any_accepted) {
		o->debit_start_ms = now_ms;
		/* One draw per accepted order: the outcomes follow the order of OR21 calls. */
		o->debit_fail = sim_uniform(&set.rng) < set.debit_failure_rate;
	}
	commit(o, now_ms, "REFUSED");
	/* A debit delay of 0 runs the whole debit now. */
	advance_order(o, now_ms);
	sim_reply_empty(r, 204);
}

/* OR21: PUT /api/orders/{order_id}/accept */
static void or21(struct sim_request *req, const char *id, struct sim_reply *r)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
	json_error_t err;
	json_t *body = NULL, *lines;
	struct sim_order *o;

	pthread_mutex_lock(&sim.lock);
	o = find_order(id);
	pthread_mutex_unlock(&sim.lock);
	if (!o) {
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
		return;
	}
	if (!sim_media_type_is(ct, "application/json")) {
		sim_reply_mirakl_error(r, 415, "Content type '%s' not supported, use application/json",
			ct ? ct : "");
		return;
	}
	body = json_loadb(req->body ? req->body : "", req->body_len, 0, &err);
	if (!json_is_object(body)) {
		sim_reply_mirakl_error(r, 400, "VALIDATION_ERROR: body is not a JSON object");
		goto out;
	}
	lines = json_object_get(body, "order_lines");
	if (!or21_shape(lines, r))
		goto out;
	pthread_mutex_lock(&sim.lock);
	/* Look again: a reset may have run while the body was checked. */
	sim_mirakl_advance();
	o = find_order(id);
	if (o)
		or21_apply(o, lines, r);
	pthread_mutex_unlock(&sim.lock);
	if (!o)
		sim_reply_mirakl_error(r, 404, "ORDER_NOT_FOUND: order '%s' does not exist", id);
out:
	json_decref(body);
}

void sim_mirakl_handle(struct sim_request *req, const char *subpath, struct sim_reply *r)
{
	const char *m = req->method;
	const char *rest;
	const char *slash;
	char id[512];
	size_t n;

	if (strncmp(subpath, "/api/offers", 11) == 0 && (!subpath[11] || subpath[11] == '/')) {
		sim_mirakl_stock_handle(req, subpath, r);
		return;
	}
	advance_locked();
	if (sim_mirakl_ship_handle(req, subpath, NULL, NULL, r))
		return;
	if (strcmp(subpath, "/api/orders") == 0) {
		if (strcmp(m, "GET") != 0) {
			sim_reply_mirakl_error(r, 405, "Request method '%s' not supported", m);
			r->allow = "GET";
			return;
		}
		or11(req, r);
		return;
	}
	if (strncmp(subpath, "/api/orders/", 12) != 0 || !subpath[12])
		goto not_found;
	rest = subpath + 12;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(id))
		goto not_found;
	memcpy(id, rest, n);
	id[n] = '\0';
	if (!slash) {
		if (strcmp(m, "GET") != 0) {
			sim_reply_mirakl_error(r, 405, "Request method '%s' not supported", m);
			r->allow = "GET";
			return;
		}
		or12(id, r);
		return;
	}
	if (sim_mirakl_ship_handle(req, subpath, id, slash, r))
		return;
	if (strcmp(slash, "/accept") == 0) {
		if (strcmp(m, "PUT") != 0) {
			sim_reply_mirakl_error(r, 405, "Request method '%s' not supported", m);
			r->allow = "PUT";
			return;
		}
		or21(req, id, r);
		return;
	}
not_found:
	sim_reply_mirakl_error(r, 404, "Not Found: %s", subpath);
}

/* ---- control API ---- */

/* Set o[key] = v unless it holds a non-null value; steals v. */
static void set_default(json_t *o, const char *key, json_t *v)
{
	json_t *cur = json_object_get(o, key);

	if (cur && !json_is_null(cur)) {
		json_decref(v);
		return;
	}
	json_object_set_new(o, key, v);
}

static json_t *default_address(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		"firstname", "Jane", "lastname", "Doe", "street_1", "1 High Street",
		"street_2", "", "city", "London", "zip_code", "SW1A 1AA",
		"country", "United Kingdom", "country_iso_code", "GBR", "phone", "+44 20 7946 0000");
}

static bool is_num(json_t *v)
{
	return json_is_integer(v) || json_is_real(v);
}

static double cents(double v)
{
	return (double)(long long)(v * 100 + (v < 0 ? -0.5 : 0.5)) / 100;
}

/* taxes[] / shipping_taxes[]: {"code","amount"} each, tax_calculation_rule filled. */
static bool fill_taxes(json_t *l, const char *key)
{
	json_t *arr, *t;
	size_t i;

	set_default(l, key, json_array());
	arr = json_object_get(l, key);
	if (!json_is_array(arr))
		return false;
	json_array_foreach(arr, i, t) {
		if (!json_is_object(t) || !json_is_string(json_object_get(t, "code")) ||
		    !is_num(json_object_get(t, "amount")))
			return false;
		set_default(t, "tax_calculation_rule", json_string("PROPORTIONAL_TO_AMOUNT"));
	}
	return true;
}

/* Fill the line defaults; returns an error message or NULL. */
static const char *fill_line(json_t *l, size_t idx, const char *order_id, const char *state,
			     const char *created, const char *updated, char *buf, size_t bufsz)
{
	json_t *q, *pu;
	double price;

	if (!json_is_object(l))
		return "order_lines[]: each line must be an object";
	snprintf(buf, bufsz, "%s-%zu", order_id, idx + 1);
	set_default(l, "order_line_id", json_string(buf));
	if (!json_is_string(json_object_get(l, "order_line_id")))
		return "order_line_id: must be a string";
	set_default(l, "order_line_index", json_integer((json_int_t)idx + 1));
	set_default(l, "offer_sku", json_string("SKU-1"));
	if (!json_is_string(json_object_get(l, "offer_sku")))
		return "offer_sku: must be a string";
	set_default(l, "quantity", json_integer(1));
	q = json_object_get(l, "quantity");
	if (!json_is_integer(q) || json_integer_value(q) < 1)
		return "quantity: must be an integer >= 1";
	set_default(l, "price_unit", json_real(10.0));
	pu = json_object_get(l, "price_unit");
	if (!is_num(pu))
		return "price_unit: must be a number";
	price = json_number_value(pu) * (double)json_integer_value(q);
	set_default(l, "price", json_real(price));
	set_default(l, "shipping_price", json_real(0));
	if (!is_num(json_object_get(l, "price")) || !is_num(json_object_get(l, "shipping_price")))
		return "price, shipping_price: must be numbers";
	set_default(l, "total_price", json_real(json_number_value(json_object_get(l, "price")) +
		json_number_value(json_object_get(l, "shipping_price"))));
	if (!fill_taxes(l, "taxes"))
		return "taxes: must be an array of {\"code\": string, \"amount\": number}";
	if (!fill_taxes(l, "shipping_taxes"))
		return "shipping_taxes: must be an array of {\"code\": string, \"amount\": number}";
	/* A promotion: the line price is below unit price x quantity. */
	price = json_number_value(json_object_get(l, "price"));
	if (!json_object_get(l, "promotions")) {
		double off = cents(json_number_value(pu) * (double)json_integer_value(q) - price);

		snprintf(buf, bufsz, "SIM-PROMO-%zu", idx + 1);
		json_object_set_new(l, "promotions", off > 0 ? json_pack("[{s:s, s:b, s:f, s:{s:s, s:f, s:s}}]",
			"id", buf, "apportioned", 0, "deduced_amount", off, "configuration",
			"type", "AMOUNT_OFF", "amount_off", off, "internal_description", "kcgate-sim promotion") :
			json_array());
	}
	if (!json_is_array(json_object_get(l, "promotions")))
		return "promotions: must be an array";
	set_default(l, "order_line_state", json_string(state));
	if (!json_is_string(json_object_get(l, "order_line_state")) ||
	    !valid_state(json_string_value(json_object_get(l, "order_line_state"))))
		return "order_line_state: unknown state";
	set_default(l, "created_date", json_string(created));
	set_default(l, "last_updated_date", json_string(updated));
	set_default(l, "offer_id", json_integer((json_int_t)idx + 1000));
	set_default(l, "offer_state_code", json_string("11"));
	set_default(l, "product_sku", json_sprintf("MKP-%s", json_string_value(json_object_get(l, "offer_sku"))));
	set_default(l, "product_title", json_sprintf("Product %s", json_string_value(json_object_get(l, "offer_sku"))));
	set_default(l, "description", json_string(""));
	set_default(l, "category_code", json_string("CAT"));
	set_default(l, "category_label", json_string("Category"));
	set_default(l, "can_refund", json_false());
	set_default(l, "commission_fee", json_real(0));
	set_default(l, "commission_rate_vat", json_real(0));
	set_default(l, "commission_vat", json_real(0));
	set_default(l, "total_commission", json_real(0));
	set_default(l, "cancelations", json_array());
	set_default(l, "refunds", json_array());
	set_default(l, "product_medias", json_array());
	set_default(l, "order_line_additional_fields", json_array());
	return NULL;
}

/* Build a complete order from @p in (an OR11-shaped object); lock held. */
static const char *fill_order(json_t *o, int64_t now_ms, struct sim_order *out)
{
	char buf[600], created[64], updated[64], ship[32];
	const char *id, *state, *err;
	json_t *lines, *cust, *l;
	double price = 0, shipping = 0;
	size_t i;
	uint64_t seq = sim.order_seq + 1;

	snprintf(buf, sizeof(buf), "SIM%06llu-A", (unsigned long long)seq);
	set_default(o, "order_id", json_string(buf));
	id = json_string_value(json_object_get(o, "order_id"));
	if (!id || !*id || strlen(id) > 256 || strchr(id, '/') || strchr(id, ','))
		return "order_id: must be a non-empty string without '/' or ',' (at most 256 chars)";
	if (find_order(id))
		return "order_id: an order with this id exists";
	snprintf(buf, sizeof(buf), "SIM%06llu", (unsigned long long)seq);
	set_default(o, "commercial_id", json_string(buf));
	set_default(o, "order_state", json_string("WAITING_ACCEPTANCE"));
	state = json_string_value(json_object_get(o, "order_state"));
	if (!state || !valid_state(state))
		return "order_state: unknown state";
	sim_fmt_iso(now_ms, created);
	sim_fmt_iso(now_ms + SHIPPING_DAYS * DAY_MS, ship);
	set_default(o, "created_date", json_string(created));
	set_default(o, "last_updated_date", json_string(created));
	if (sim_parse_time(json_string_value(json_object_get(o, "created_date")), &out->created_ms))
		return "created_date: not an ISO-8601 date-time";
	if (sim_parse_time(json_string_value(json_object_get(o, "last_updated_date")), &out->updated_ms))
		return "last_updated_date: not an ISO-8601 date-time";
	snprintf(created, sizeof(created), "%s", json_string_value(json_object_get(o, "created_date")));
	snprintf(updated, sizeof(updated), "%s", json_string_value(json_object_get(o, "last_updated_date")));
	/* Null until the shop decides (OR21); an order created past acceptance was decided at creation. */
	if (!json_object_get(o, "acceptance_decision_date"))
		json_object_set_new(o, "acceptance_decision_date",
			life_rank(state) >= RANK_WAITING_DEBIT ? json_string(created) : json_null());
	if (!json_is_null(json_object_get(o, "acceptance_decision_date")) &&
	    !json_is_string(json_object_get(o, "acceptance_decision_date")))
		return "acceptance_decision_date: must be a string or null";
	set_default(o, "shipping_deadline", json_string(ship));
	set_default(o, "currency_iso_code", json_string("GBP"));
	set_default(o, "shipping_type_code", json_string("STD"));
	set_default(o, "shipping_type_label", json_string("Standard"));
	set_default(o, "shipping_zone_code", json_string("UK"));
	set_default(o, "shipping_zone_label", json_string("United Kingdom"));
	set_default(o, "can_cancel", json_false());
	set_default(o, "can_shop_ship", json_true());
	set_default(o, "fully_refunded", json_false());
	set_default(o, "has_customer_message", json_false());
	set_default(o, "has_incident", json_false());
	set_default(o, "has_invoice", json_false());
	set_default(o, "leadtime_to_ship", json_integer(2));
	set_default(o, "order_tax_mode", json_string("TAX_INCLUDED"));
	if (!json_is_string(json_object_get(o, "order_tax_mode")) ||
	    (strcmp(json_string_value(json_object_get(o, "order_tax_mode")), "TAX_INCLUDED") != 0 &&
	     strcmp(json_string_value(json_object_get(o, "order_tax_mode")), "TAX_EXCLUDED") != 0))
		return "order_tax_mode: TAX_INCLUDED or TAX_EXCLUDED";
	if (!json_is_string(json_object_get(o, "commercial_id")) ||
	    !json_is_string(json_object_get(o, "shipping_type_code")))
		return "commercial_id, shipping_type_code: must be strings";
	set_default(o, "paymentType", json_string("CREDIT_CARD"));
	set_default(o, "payment_type", json_string("CREDIT_CARD"));
	set_default(o, "payment_workflow", json_string("PAY_ON_ACCEPTANCE"));
	set_default(o, "total_commission", json_real(0));
	/* An order field (OR11_Response_200_Orders), not the customer's. */
	snprintf(buf, sizeof(buf), "sim-%06llu@notify.example", (unsigned long long)seq);
	set_default(o, "customer_notification_email", json_string(buf));
	if (!json_is_string(json_object_get(o, "customer_notification_email")))
		return "customer_notification_email: must be a string";
	set_default(o, "fulfillment", json_pack("{s:{s:s}}", "center", "code", "DEFAULT"));
	snprintf(buf, sizeof(buf), "CUST-%06llu", (unsigned long long)seq);
	set_default(o, "customer", json_pack("{s:s, s:s, s:s, s:s}", "customer_id", buf,
		"firstname", "Jane", "lastname", "Doe", "civility", ""));
	cust = json_object_get(o, "customer");
	if (!json_is_object(cust))
		return "customer: must be an object";
	set_default(cust, "customer_id", json_string(buf));
	set_default(cust, "firstname", json_string("Jane"));
	set_default(cust, "lastname", json_string("Doe"));
	/* A partial address gets the default's street, city, postcode and
	 * country (a test gives what it cares about; Khaos needs line 1, town
	 * and postcode); names stay the test's (kcgate falls back to the
	 * customer's). An empty one ({}) stays empty: an order with no usable
	 * address (address_missing). */
	for (int k = 0; k < 2; k++) {
		static const char *const place[] = { "street_1", "city", "zip_code", "country", "country_iso_code" };
		const char *which = k ? "shipping_address" : "billing_address";
		json_t *given = json_object_get(cust, which), *dflt = default_address();
		for (size_t f = 0; json_object_size(given) > 0 && f < sizeof(place) / sizeof(place[0]); f++)
			if (!json_object_get(given, place[f]))
				json_object_set(given, place[f], json_object_get(dflt, place[f]));
		set_default(cust, which, json_incref(dflt));
		json_decref(dflt);
	}
	set_default(o, "order_lines", json_pack("[{}]"));
	lines = json_object_get(o, "order_lines");
	if (!json_is_array(lines) || json_array_size(lines) == 0)
		return "order_lines: must be a non-empty array";
	json_array_foreach(lines, i, l) {
		const char *lid;

		err = fill_line(l, i, id, state, created, updated, buf, sizeof(buf));
		if (err)
			return err;
		lid = json_string_value(json_object_get(l, "order_line_id"));
		for (size_t k = 0; k < i; k++) {
			if (strcmp(lid, json_string_value(json_object_get(json_array_get(lines, k),
				"order_line_id"))) == 0)
				return "order_line_id: duplicate line id";
		}
		price += json_number_value(json_object_get(l, "price"));
		shipping += json_number_value(json_object_get(l, "shipping_price"));
	}
	set_default(o, "price", json_real(price));
	set_default(o, "shipping_price", json_real(shipping));
	set_default(o, "total_price", json_real(price + shipping));
	if (!json_object_get(o, "promotions")) {
		json_t *applied = json_array(), *p;
		double off = 0;
		size_t k;

		json_array_foreach(lines, i, l) {
			json_array_foreach(json_object_get(l, "promotions"), k, p) {
				json_array_append(applied, p);
				off += json_number_value(json_object_get(p, "deduced_amount"));
			}
		}
		json_object_set_new(o, "promotions", json_pack("{s:o, s:f}", "applied_promotions", applied,
			"total_deduced_amount", cents(off)));
	}
	out->json = o;
	out->id = id;
	out->seq = seq;
	out->born_ms = now_ms;
	mark_flags(out);
	if (has_line_in(out, "WAITING_DEBIT") || has_line_in(out, "WAITING_DEBIT_PAYMENT")) {
		/* Created mid-debit: the debit runs from now. */
		out->debit_start_ms = now_ms;
		out->debit_fail = sim_uniform(&set.rng) < set.debit_failure_rate;
	}
	return NULL;
}

/* Create one order from a control body element; lock held. */
static const char *create_one(json_t *in, const char **id_out)
{
	struct sim_order ord = {0};
	json_t *o;
	const char *err;

	if (!json_is_object(in))
		return "body: an order must be a JSON object";
	o = json_deep_copy(in);
	err = fill_order(o, sim_now_ms(), &ord);
	if (err) {
		json_decref(o);
		return err;
	}
	sim_grow((void **)&sim.orders, &sim.orders_cap, sim.norders + 1, sizeof(*sim.orders));
	sim.orders[sim.norders++] = ord;
	{ /* the offers' quantities go down as the order is created */
		size_t i;
		json_t *l;
		json_array_foreach(json_object_get(o, "order_lines"), i, l)
			if (!line_ended(line_state(l)) && strcmp(line_state(l), "CLOSED") != 0)
				offer_stock(l, -1);
	}
	sim.order_seq = ord.seq;
	*id_out = ord.id;
	webhook_enqueue(&sim.orders[sim.norders - 1], "ORDER_CREATED");
	if (due_of(&sim.orders[sim.norders - 1]) < next_due)
		next_due = due_of(&sim.orders[sim.norders - 1]);
	return NULL;
}

void sim_mirakl_ctl_orders(json_t *body, struct sim_reply *r)
{
	const char *err = NULL, *id = NULL;
	json_t *ids;
	size_t i;
	json_t *el;

	if (!json_is_array(body)) {
		pthread_mutex_lock(&sim.lock);
		err = create_one(body, &id);
		if (!err) {
			sim_reply_json(r, 201, json_pack("{s:s}", "order_id", id));
		}
		pthread_mutex_unlock(&sim.lock);
		if (err)
			sim_reply_ctl_error(r, strstr(err, "exists") ? 409 : 400, "invalid_order", "%s", err);
		return;
	}
	/* An array creates several orders; it stops at the first bad one. */
	ids = json_array();
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(body, i, el) {
		err = create_one(el, &id);
		if (err)
			break;
		json_array_append_new(ids, json_string(id));
	}
	pthread_mutex_unlock(&sim.lock);
	if (err) {
		sim_reply_ctl_error(r, strstr(err, "exists") ? 409 : 400, "invalid_order",
			"orders[%zu]: %s (%zu created before it)", i, err, json_array_size(ids));
		json_decref(ids);
		return;
	}
	sim_reply_json(r, 201, json_pack("{s:o}", "order_ids", ids));
}

json_t *sim_mirakl_state(const char *skus)
{
	json_t *orders = json_array();

	for (size_t i = 0; i < sim.norders; i++) {
		json_t *o = sim.orders[i].json, *lines = json_array(), *l, *cust;
		size_t k;

		json_array_foreach(json_object_get(o, "order_lines"), k, l) {
			json_array_append_new(lines, json_pack("{s:O, s:O, s:O, s:O}",
				"order_line_id", json_object_get(l, "order_line_id"),
				"offer_sku", json_object_get(l, "offer_sku"),
				"quantity", json_object_get(l, "quantity"),
				"order_line_state", json_object_get(l, "order_line_state")));
		}
		cust = customer_view(&sim.orders[i]);
		json_array_append_new(orders, json_pack("{s:s, s:O, s:O?, s:o, s:o, s:o}",
			"order_id", sim.orders[i].id,
			"order_state", json_object_get(o, "order_state"),
			"acceptance_decision_date", json_object_get(o, "acceptance_decision_date"),
			"customer", cust ? cust : json_null(),
			"order_lines", lines,
			"tracking", sim_mirakl_tracking_of(o)));
		json_object_update_new(json_array_get(orders, json_array_size(orders) - 1),
			json_pack("{s:I, s:b, s:I, s:I}", "ship_calls", (json_int_t)sim.orders[i].ship_calls,
				  "repeat_unread", sim.orders[i].repeat_unread, "ship_ok", (json_int_t)sim.orders[i].ship_ok,
				  "repeat_blind", (json_int_t)sim.orders[i].repeat_blind));
	}
	json_t *out = json_pack("{s:o}", "orders", orders);
	json_object_update_new(out, sim_mirakl_ship_counters());
	json_object_update_new(out, sim_mirakl_stock_state(skus));
	return out;
}

void sim_mirakl_reset(void)
{
	for (size_t i = 0; i < sim.norders; i++) {
		json_decref(sim.orders[i].json);
		json_decref(sim.orders[i].shipped_qty);
	}
	free(sim.orders);
	sim.orders = NULL;
	sim.norders = sim.orders_cap = 0;
	sim.order_seq = 0;
	settings_defaults();
	webhook_clear();
	sim_mirakl_ship_reset();
	sim_mirakl_stock_reset();
}

/* ---- control: settings, cancel, auto-refuse, debit ---- */

static json_t *settings_json(void)
{
	unsigned long queued, sent, failed;

	pthread_mutex_lock(&wh.mu);
	queued = wh.len;
	sent = wh.sent;
	failed = wh.failed;
	pthread_mutex_unlock(&wh.mu);
	json_t *out = json_pack("{s:s, s:I, s:f, s:I, s:b, s:s?, s:b, s:I, s:{s:b, s:I, s:I, s:I}}",
		"address_visibility", vis_names[set.vis],
		"debit_delay_ms", (json_int_t)set.debit_delay_ms,
		"debit_failure_rate", set.debit_failure_rate,
		"acceptance_window_s", (json_int_t)set.acceptance_window_s,
		"partial_acceptance", set.partial_acceptance,
		"webhook_url", set.webhook_url,
		"webhook_secret_set", set.keylen > 0,
		"seed", (json_int_t)set.seed,
		"webhooks", "enabled", set.webhook_url && set.keylen,
		"queued", (json_int_t)queued, "sent", (json_int_t)sent, "failed", (json_int_t)failed);
	json_object_update_new(out, sim_mirakl_stock_settings_json());
	return out;
}

static bool int_field(json_t *v, long long lo, long long hi, long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = json_integer_value(v);
	return true;
}

/* POST: validate everything, then apply (left-out fields keep their value). Lock held. */
static void settings_post(json_t *body, struct sim_reply *r)
{
	static const char *const keys[] = {"address_visibility", "debit_delay_ms", "debit_failure_rate",
		"acceptance_window_s", "partial_acceptance", "webhook_url", "webhook_secret", "seed", "import_delay_ms",
		"stock_import_min_interval_ms", "warehouses", "error_report_drop"};
	const char *key;
	json_t *v;
	int vis = set.vis;
	long long delay = set.debit_delay_ms, window = set.acceptance_window_s, seed = -1;
	double rate = set.debit_failure_rate;
	bool partial = set.partial_acceptance, url_given = false, secret_given = false;
	const char *url = NULL;
	unsigned char key_bytes[64];
	long keylen = 0;

	if (!json_is_object(body)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: JSON object expected");
		return;
	}
	json_object_foreach(body, key, v) {
		bool known = false;

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			known = known || strcmp(key, keys[i]) == 0;
		if (!known) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "%s: unknown field", key);
			return;
		}
	}
	if (!sim_mirakl_stock_settings_check(body, r))
		return;
	if ((v = json_object_get(body, "address_visibility"))) {
		vis = -1;
		for (int i = 0; i < 3; i++) {
			if (json_is_string(v) && strcmp(json_string_value(v), vis_names[i]) == 0)
				vis = i;
		}
		if (vis < 0) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"address_visibility: one of shipping, acceptance, always");
			return;
		}
	}
	if ((v = json_object_get(body, "debit_delay_ms")) && !int_field(v, 0, MAX_DEBIT_DELAY_MS, &delay)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "debit_delay_ms: integer 0..%lld",
			MAX_DEBIT_DELAY_MS);
		return;
	}
	if ((v = json_object_get(body, "acceptance_window_s")) && !int_field(v, 0, MAX_WINDOW_S, &window)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "acceptance_window_s: integer 0..%lld",
			MAX_WINDOW_S);
		return;
	}
	if ((v = json_object_get(body, "seed")) && !int_field(v, 0, 9007199254740991LL, &seed)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "seed: integer 0..2^53-1");
		return;
	}
	if ((v = json_object_get(body, "debit_failure_rate"))) {
		if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "debit_failure_rate: number 0..1");
			return;
		}
		rate = json_number_value(v);
	}
	if ((v = json_object_get(body, "partial_acceptance"))) {
		if (!json_is_boolean(v)) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "partial_acceptance: boolean");
			return;
		}
		partial = json_is_true(v);
	}
	if ((v = json_object_get(body, "webhook_url"))) {
		char host[256], port[16];
		const char *path;

		url_given = true;
		url = json_string_value(v);
		if (url && !*url)
			url = NULL;
		if ((!json_is_null(v) && !json_is_string(v)) ||
		    (url && !parse_url(url, host, sizeof(host), port, sizeof(port), &path))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"webhook_url: http://HOST[:PORT][/PATH], \"\" or null");
			return;
		}
	}
	if ((v = json_object_get(body, "webhook_secret"))) {
		const char *sec = json_string_value(v);

		secret_given = true;
		if (sec && *sec) {
			if (strncmp(sec, "whsec_", 6) == 0)
				keylen = sim_base64_decode(sec + 6, key_bytes, sizeof(key_bytes));
			else
				keylen = -1;
		}
		if ((!json_is_null(v) && !json_is_string(v)) || keylen < 0 || (sec && *sec && keylen == 0)) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"webhook_secret: whsec_<base64> of 1 to 64 bytes, \"\" or null");
			return;
		}
	}
	set.vis = (enum visibility)vis;
	set.debit_delay_ms = delay;
	set.acceptance_window_s = window;
	set.debit_failure_rate = rate;
	set.partial_acceptance = partial;
	if (seed >= 0)
		set.seed = set.rng = (uint64_t)seed;
	if (url_given) {
		free(set.webhook_url);
		set.webhook_url = url ? sim_strdup(url) : NULL;
	}
	if (secret_given) {
		memset(set.key, 0, sizeof(set.key));
		memcpy(set.key, key_bytes, (size_t)keylen);
		set.keylen = (size_t)keylen;
	}
	sim_mirakl_stock_settings_apply(body);
	next_due = 0;	/* the window or the delay may have moved a due time */
	sim_mirakl_advance();
	sim_reply_json(r, 200, settings_json());
}

static json_t *order_summary(struct sim_order *o)
{
	json_t *lines = json_array(), *l;
	size_t i;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		json_array_append_new(lines, json_pack("{s:O, s:O}",
			"order_line_id", json_object_get(l, "order_line_id"),
			"order_line_state", json_object_get(l, "order_line_state")));
	}
	return json_pack("{s:s, s:O, s:O?, s:o}", "order_id", o->id,
		"order_state", json_object_get(o->json, "order_state"),
		"acceptance_decision_date", json_object_get(o->json, "acceptance_decision_date"),
		"order_lines", lines);
}

static json_t *line_by_id(struct sim_order *o, const char *id)
{
	size_t i;
	json_t *l;

	json_array_foreach(json_object_get(o->json, "order_lines"), i, l) {
		const char *lid = json_string_value(json_object_get(l, "order_line_id"));

		if (lid && strcmp(lid, id) == 0)
			return l;
	}
	return NULL;
}

/* A cancellation's taxes: the line's (code, amount, rate), all of them
 * since the whole line is cancelled. */
static json_t *cancelled_taxes(json_t *l, const char *key)
{
	json_t *out = json_array(), *t;
	size_t i;

	json_array_foreach(json_object_get(l, key), i, t) {
		json_t *c = json_pack("{s:O, s:O}", "code", json_object_get(t, "code"),
			"amount", json_object_get(t, "amount"));

		if (json_object_get(t, "rate"))
			json_object_set(c, "rate", json_object_get(t, "rate"));
		json_array_append_new(out, c);
	}
	return out;
}

static void cancel_line(json_t *l, const char *now)
{
	json_t *c = json_object_get(l, "cancelations");
	char id[600];

	if (!json_is_array(c)) {
		json_object_set_new(l, "cancelations", json_array());
		c = json_object_get(l, "cancelations");
	}
	snprintf(id, sizeof(id), "%s-C%zu", json_string_value(json_object_get(l, "order_line_id")),
		json_array_size(c) + 1);
	if (!line_ended(line_state(l)))
		offer_stock(l, +1);
	json_array_append_new(c, json_pack("{s:s, s:s, s:O, s:O, s:O, s:f, s:[], s:f, s:s, s:o, s:o}",
		"id", id, "created_date", now,
		"amount", json_object_get(l, "price"),
		"shipping_amount", json_object_get(l, "shipping_price"),
		"quantity", json_object_get(l, "quantity"),
		"commission_amount", 0.0, "commission_taxes", "commission_total_amount", 0.0,
		"reason_code", "SIM_CANCEL", "taxes", cancelled_taxes(l, "taxes"),
		"shipping_taxes", cancelled_taxes(l, "shipping_taxes")));
	json_object_set_new(l, "order_line_state", json_string("CANCELED"));
	json_object_set_new(l, "last_updated_date", json_string(now));
}

/* Shipped (or further): Mirakl cancels a line only before its shipment. */
static bool is_shipped(const char *s)
{
	return strcmp(s, "SHIPPED") == 0 || strcmp(s, "TO_COLLECT") == 0 || strcmp(s, "RECEIVED") == 0;
}

/* POST /_sim/mirakl/orders/{id}/cancel [{"lines":[ids]}]; lock held. */
static void ctl_cancel(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	json_t *ids = body ? json_object_get(body, "lines") : NULL, *v;
	int64_t now_ms = sim_now_ms();
	char now[32];
	size_t i, n = 0;

	if (body && (!json_is_object(body) || json_object_size(body) != (ids ? 1u : 0u))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: {} or {\"lines\": [order line ids]}");
		return;
	}
	sim_fmt_iso(now_ms, now);
	if (ids) {
		if (!json_is_array(ids) || json_array_size(ids) == 0) {
			sim_reply_ctl_error(r, 400, "invalid_payload", "lines: a non-empty array of order line ids");
			return;
		}
		json_array_foreach(ids, i, v) {
			json_t *l = json_is_string(v) ? line_by_id(o, json_string_value(v)) : NULL;

			if (!l) {
				sim_reply_ctl_error(r, 400, "invalid_payload", "lines[%zu]: not a line of order %s",
					i, o->id);
				return;
			}
			if (is_final(line_state(l))) {
				sim_reply_ctl_error(r, 409, "invalid_state", "order line %s is %s: nothing to cancel",
					json_string_value(v), line_state(l));
				return;
			}
			if (is_shipped(line_state(l))) {
				sim_reply_ctl_error(r, 409, "invalid_state",
					"order line %s is %s: Mirakl cancels only before shipment (refund it instead)",
					json_string_value(v), line_state(l));
				return;
			}
		}
		json_array_foreach(ids, i, v) {
			json_t *l = line_by_id(o, json_string_value(v));

			if (!is_final(line_state(l))) {	/* a line named twice */
				cancel_line(l, now);
				n++;
			}
		}
	} else {
		json_array_foreach(json_object_get(o->json, "order_lines"), i, v) {
			if (is_shipped(line_state(v))) {
				sim_reply_ctl_error(r, 409, "invalid_state",
					"order %s: line %s is %s: Mirakl cancels only before shipment (name the lines "
					"still to ship)", o->id, json_string_value(json_object_get(v, "order_line_id")),
					line_state(v));
				return;
			}
		}
		json_array_foreach(json_object_get(o->json, "order_lines"), i, v) {
			if (!is_final(line_state(v))) {
				cancel_line(v, now);
				n++;
			}
		}
		if (!n) {
			sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s: nothing to cancel",
				o->id, order_state_of(o));
			return;
		}
	}
	commit(o, now_ms, "CANCELED");
	sim_reply_json(r, 200, order_summary(o));
}

/* POST /_sim/mirakl/orders/{id}/auto-refuse; lock held. */
static void ctl_auto_refuse(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	if (body && (!json_is_object(body) || json_object_size(body))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: none or {}");
		return;
	}
	if (strcmp(order_state_of(o), "WAITING_ACCEPTANCE") != 0) {
		sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s, not WAITING_ACCEPTANCE",
			o->id, order_state_of(o));
		return;
	}
	auto_refuse(o, sim_now_ms());
	sim_reply_json(r, 200, order_summary(o));
}

/* POST /_sim/mirakl/orders/{id}/debit [{"fail":bool}]: finish the debit now; lock held. */
static void ctl_debit(struct sim_order *o, json_t *body, struct sim_reply *r)
{
	json_t *fail = body ? json_object_get(body, "fail") : NULL;

	if (body && (!json_is_object(body) || json_object_size(body) != (fail ? 1u : 0u) ||
		     (fail && !json_is_boolean(fail)))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: none, {} or {\"fail\": boolean}");
		return;
	}
	if (!has_line_in(o, "WAITING_DEBIT") && !has_line_in(o, "WAITING_DEBIT_PAYMENT")) {
		sim_reply_ctl_error(r, 409, "invalid_state", "order %s is %s: no line waiting for its debit",
			o->id, order_state_of(o));
		return;
	}
	if (fail)
		o->debit_fail = json_is_true(fail);
	debit_steps(o, sim_now_ms(), true, true);
	sim_reply_json(r, 200, order_summary(o));
}

void sim_mirakl_ctl(const char *method, const char *sub, json_t *body, struct sim_reply *r)
{
	static const struct {
		const char *suffix;
		void (*fn)(struct sim_order *, json_t *, struct sim_reply *);
	} actions[] = {{"/cancel", ctl_cancel}, {"/auto-refuse", ctl_auto_refuse}, {"/debit", ctl_debit}};
	const char *rest, *slash;
	char id[512];
	size_t n;

	if (strcmp(sub, "/settings") == 0) {
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
			sim_reply_ctl_error(r, 405, "method_not_allowed", "use GET or POST");
			r->allow = "GET, POST";
			return;
		}
		pthread_mutex_lock(&sim.lock);
		if (strcmp(method, "POST") == 0)
			settings_post(body, r);
		else
			sim_reply_json(r, 200, settings_json());
		pthread_mutex_unlock(&sim.lock);
		return;
	}
	if (strcmp(sub, "/carriers") == 0) {
		if (strcmp(method, "POST") != 0 || !body) {
			sim_reply_ctl_error(r, strcmp(method, "POST") ? 405 : 400,
					    strcmp(method, "POST") ? "method_not_allowed" : "invalid_payload",
					    strcmp(method, "POST") ? "use POST" : "a JSON body {\"carriers\":[...]} is required");
			if (strcmp(method, "POST") != 0)
				r->allow = "POST";
			return;
		}
		sim_mirakl_ctl_carriers(body, r);
		return;
	}
	if (strncmp(sub, "/orders/", 8) != 0)
		goto not_found;
	rest = sub + 8;
	slash = strchr(rest, '/');
	n = slash ? (size_t)(slash - rest) : 0;
	if (!slash || n == 0 || n >= sizeof(id))
		goto not_found;
	memcpy(id, rest, n);
	id[n] = '\0';
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		struct sim_order *o;

		if (strcmp(slash, actions[i].suffix) != 0)
			continue;
		if (strcmp(method, "POST") != 0) {
			sim_reply_ctl_error(r, 405, "method_not_allowed", "use POST");
			r->allow = "POST";
			return;
		}
		pthread_mutex_lock(&sim.lock);
		sim_mirakl_advance();
		o = find_order(id);
		if (o)
			actions[i].fn(o, body, r);
		else
			sim_reply_ctl_error(r, 404, "not_found", "no Mirakl order %s", id);
		pthread_mutex_unlock(&sim.lock);
		return;
	}
not_found:
	sim_reply_ctl_error(r, 404, "not_found", "no control endpoint /_sim/mirakl%s", sub);
}

/* ---- background threads ---- */

static pthread_t ticker_thread, sender_thread;
static bool threads_started;

static void *ticker(void *arg)
{
	struct timespec dl;

	(void)arg;
	pthread_mutex_lock(&sim.lock);
	while (!sim.stopping) {
		sim_mirakl_advance();
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += TICK_MS * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sim.wake, &sim.lock, &dl);
	}
	pthread_mutex_unlock(&sim.lock);
	return NULL;
}

void sim_mirakl_start(void)
{
	wh.boot_ms = sim_now_ms();
	if (pthread_create(&ticker_thread, NULL, ticker, NULL) ||
	    pthread_create(&sender_thread, NULL, webhook_sender, NULL)) {
		fprintf(stderr, "kcgate-sim: cannot start the Mirakl threads\n");
		abort();
	}
	threads_started = true;
}

void sim_mirakl_stop(void)
{
	if (!threads_started)
		return;
	pthread_join(ticker_thread, NULL);
	/* The sender may be inside a send (at most WEBHOOK_TIMEOUT_MS): not waited for. */
	pthread_mutex_lock(&wh.mu);
	wh.stop = true;
	pthread_cond_broadcast(&wh.cv);
	pthread_mutex_unlock(&wh.mu);
	pthread_detach(sender_thread);
	threads_started = false;
}
