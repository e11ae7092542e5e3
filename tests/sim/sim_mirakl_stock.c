/*
 * kcgate-sim, Mirakl seller API, offers and stock (docs/sim.md §4b):
 * OF21 (offers, paged), STO01 (a stock import: multipart `file`, a
 * strictly checked CSV), STO02 (WAITING -> RUNNING -> COMPLETE after
 * import_delay_ms), STO03 (the error report), and the control side
 * (POST /_sim/mirakl/offers, settings import_delay_ms and
 * stock_import_min_interval_ms, the state). Vendor facts: shared/docs/
 * peers.md and the MMP OpenAPI subset: STO01 "maximum usage: once per
 * minute" (a second call within the interval answers 429 with
 * Retry-After), STO02 at most every 15 s (not enforced: kcgate's own
 * floor is tested), the CSV header
 * "offer-sku";"quantity";"warehouse-code";"update-delete".
 */
#include "sim.h"

#include <microhttpd.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HEADER "\"offer-sku\";\"quantity\";\"warehouse-code\";\"update-delete\""
#define DEFAULT_IMPORT_DELAY_MS 2000
#define DEFAULT_MIN_INTERVAL_MS 60000
#define MAX_IMPORTS 1000
#define PAGE_MAX 100

struct offer {
	char *sku;
	long long quantity;     /* the global one, or the sum of the warehouses' */
	long long wh[SIM_SITES_MAX]; /* per warehouse (settings "warehouses"), -1 = none */
	bool inactive;          /* OF21 "active": false (control: "active") */
};

struct error_line {
	size_t line;
	char *sku, *reason, *raw;
};

struct import {
	char id[24];
	int64_t created_ms;
	size_t lines;
	char **skus;            /* the lines' offers and quantities, applied at COMPLETE */
	long long *qty;
	int *wh;                /* the line's warehouse (index), -1 = global */
	struct error_line *errors;
	size_t nerrors;
	bool applied;
};

static struct {
	struct offer *v;
	size_t n, cap;
	struct sim_index index; /* by shop_sku */
	struct import *imports;
	size_t nimports, imports_cap;
	unsigned long seq;
	int64_t last_sto01_ms;
	long long delay_ms, min_interval_ms;
	long long report_drop;  /* fault: STO03 leaves out its first N error lines (settings "error_report_drop") */
	char *warehouses[SIM_SITES_MAX]; /* the platform's warehouse-codes (settings) */
	size_t n_warehouses;
} st = { .delay_ms = DEFAULT_IMPORT_DELAY_MS, .min_interval_ms = DEFAULT_MIN_INTERVAL_MS };

static int warehouse_index(const char *code)
{
	for (size_t i = 0; i < st.n_warehouses; i++)
		if (strcmp(st.warehouses[i], code) == 0)
			return (int)i;
	return -1;
}

/* ---- offers ---- */

static const char *offer_sku(size_t i, void *arg)
{
	(void)arg;
	return st.v[i].sku;
}

static struct offer *find(const char *sku)
{
	long i = sim_index_find(&st.index, sku, offer_sku, NULL);
	return i < 0 ? NULL : &st.v[i];
}

/* Sets an offer's quantity (@p wh -1: the global one; else warehouse
 * @p wh's, the offer showing their sum), adding it when new; lock held. */
static void set_offer_at(const char *sku, long long q, int wh)
{
	struct offer *o = find(sku);
	if (!o) {
		sim_grow((void **)&st.v, &st.cap, st.n + 1, sizeof(*st.v));
		o = &st.v[st.n++];
		*o = (struct offer){ sim_strdup(sku), 0, { 0 }, false };
		for (int i = 0; i < SIM_SITES_MAX; i++)
			o->wh[i] = -1;
		sim_index_add(&st.index, st.n - 1, st.n, offer_sku, NULL);
	}
	if (wh < 0) {
		o->quantity = q;
		for (int i = 0; i < SIM_SITES_MAX; i++)
			o->wh[i] = -1;
		return;
	}
	o->wh[wh] = q;
	o->quantity = 0;
	for (int i = 0; i < SIM_SITES_MAX; i++)
		if (o->wh[i] >= 0)
			o->quantity += o->wh[i];
}

static void set_offer(const char *sku, long long q)
{
	set_offer_at(sku, q, -1);
}

static void import_free(struct import *im)
{
	for (size_t i = 0; i < im->lines; i++)
		free(im->skus[i]);
	free(im->skus);
	free(im->qty);
	free(im->wh);
	for (size_t i = 0; i < im->nerrors; i++) {
		free(im->errors[i].sku);
		free(im->errors[i].reason);
		free(im->errors[i].raw);
	}
	free(im->errors);
}

void sim_mirakl_stock_reset(void)
{
	for (size_t i = 0; i < st.n; i++)
		free(st.v[i].sku);
	free(st.v);
	sim_index_free(&st.index);
	for (size_t i = 0; i < st.nimports; i++)
		import_free(&st.imports[i]);
	free(st.imports);
	for (size_t i = 0; i < st.n_warehouses; i++)
		free(st.warehouses[i]);
	memset(&st, 0, sizeof(st));
	st.delay_ms = DEFAULT_IMPORT_DELAY_MS;
	st.min_interval_ms = DEFAULT_MIN_INTERVAL_MS;
}

/* ---- imports: the status follows the clock ---- */

/* Every import whose time has come takes effect, oldest first (as time
 * passes on the platform, whichever import anyone asks about): the good
 * lines in file order; lock held. */
static void imports_tick(int64_t now)
{
	for (size_t k = 0; k < st.nimports; k++) {
		struct import *im = &st.imports[k];
		if (im->applied || now - im->created_ms < st.delay_ms)
			continue;
		for (size_t i = 0; i < im->lines; i++)
			if (im->skus[i])
				set_offer_at(im->skus[i], im->qty[i], im->wh[i]);
		im->applied = true;
	}
}

static const char *import_status(struct import *im, int64_t now)
{
	imports_tick(now);
	int64_t age = now - im->created_ms;
	if (age >= st.delay_ms)
		return "COMPLETE";
	return age >= st.delay_ms / 2 ? "RUNNING" : "WAITING";
}

void sim_mirakl_stock_order(const char *sku, long long delta)
{
	imports_tick(sim_now_ms());
	struct offer *o = find(sku);
	if (!o || delta == 0)
		return;
	if (delta > 0) { /* given back: to the first warehouse, or the global quantity */
		for (int i = 0; i < SIM_SITES_MAX; i++)
			if (o->wh[i] >= 0) {
				set_offer_at(sku, o->wh[i] + delta, i);
				return;
			}
		o->quantity += delta;
		return;
	}
	long long take = -delta; /* taken: warehouse by warehouse, never below 0 */
	bool split = false;
	for (int i = 0; i < SIM_SITES_MAX && take > 0; i++)
		if (o->wh[i] >= 0) {
			split = true;
			long long t = o->wh[i] < take ? o->wh[i] : take;
			set_offer_at(sku, o->wh[i] - t, i);
			take -= t;
		}
	if (!split)
		o->quantity = o->quantity > take ? o->quantity - take : 0;
}

static struct import *find_import(const char *id)
{
	for (size_t i = 0; i < st.nimports; i++)
		if (strcmp(st.imports[i].id, id) == 0)
			return &st.imports[i];
	return NULL;
}

static void add_error(struct import *im, size_t line, const char *sku, const char *raw, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void add_error(struct import *im, size_t line, const char *sku, const char *raw, const char *fmt, ...)
{
	char reason[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	im->errors = sim_xrealloc(im->errors, (im->nerrors + 1) * sizeof(*im->errors));
	im->errors[im->nerrors++] = (struct error_line){ line, sim_strdup(sku), sim_strdup(reason), sim_strdup(raw) };
}

/* One strictly quoted field at *p ("..." with "" for a quote); NULL when
 * it is not one. Advances *p past it. */
static char *quoted_field(const char **p, const char *end)
{
	const char *s = *p;
	if (s >= end || *s != '"')
		return NULL;
	s++;
	size_t cap = 64, n = 0;
	char *out = sim_xmalloc(cap);
	for (;;) {
		if (s >= end) {
			free(out);
			return NULL;
		}
		if (*s == '"') {
			if (s + 1 < end && s[1] == '"') {
				s++;
			} else {
				s++;
				break;
			}
		}
		if (n + 2 > cap)
			out = sim_xrealloc(out, cap *= 2);
		out[n++] = *s++;
	}
	out[n] = '\0';
	*p = s;
	return out;
}

/* One data line: 4 quoted fields separated by ';'. The import takes it,
 * or records an error line. Lock held. */
static void check_line(struct import *im, size_t lineno, const char *line, size_t len)
{
	const char *p = line, *end = line + len;
	char *f[4] = { 0 };
	size_t nf = 0;
	/* the line as sent, whole: cut, a quoted field would be left open */
	char *raw = sim_xmalloc(len + 1);
	memcpy(raw, line, len);
	raw[len] = '\0';
	while (nf < 4) {
		f[nf] = quoted_field(&p, end);
		if (!f[nf])
			break;
		nf++;
		if (p < end && *p == ';' && nf < 4)
			p++;
		else
			break;
	}
	long long q;
	size_t slot = im->lines++;
	im->skus = sim_xrealloc(im->skus, im->lines * sizeof(*im->skus));
	im->qty = sim_xrealloc(im->qty, im->lines * sizeof(*im->qty));
	im->wh = sim_xrealloc(im->wh, im->lines * sizeof(*im->wh));
	im->skus[slot] = NULL;
	im->qty[slot] = 0;
	im->wh[slot] = -1;
	if (nf != 4 || p != end)
		add_error(im, lineno, nf ? f[0] : "", raw,
			  "Line is not 4 quoted fields separated by ';' (offer-sku;quantity;warehouse-code;update-delete)");
	else if (!*f[0])
		add_error(im, lineno, "", raw, "The offer-sku is required");
	else if (sim_parse_ll(f[1], 0, 2000000000, &q) != 0)
		add_error(im, lineno, f[0], raw, "The quantity '%.40s' is not a whole number >= 0", f[1]);
	else if (*f[2] && warehouse_index(f[2]) < 0)
		add_error(im, lineno, f[0], raw, "Unknown warehouse-code '%.40s'", f[2]);
	else if (*f[3] && strcmp(f[3], "update") != 0 && strcmp(f[3], "delete") != 0)
		add_error(im, lineno, f[0], raw, "update-delete must be empty, update or delete");
	else if (!find(f[0]))
		add_error(im, lineno, f[0], raw, "The offer with sku '%.100s' does not exist", f[0]);
	else {
		im->skus[slot] = sim_strdup(f[0]);
		im->qty[slot] = q;
		im->wh[slot] = *f[2] ? warehouse_index(f[2]) : -1;
	}
	for (size_t i = 0; i < nf; i++)
		free(f[i]);
	free(raw);
}

/* The part named "file" of a multipart/form-data body; NULL when absent. */
static const char *file_part(struct sim_request *req, size_t *len, const char **why)
{
	const char *ct = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "Content-Type");
	const char *b = ct ? strstr(ct, "boundary=") : NULL;
	char delim[220];
	if (!ct || !sim_media_type_is(ct, "multipart/form-data") || !b) {
		*why = "Content-Type must be multipart/form-data with a boundary";
		return NULL;
	}
	b += 9;
	size_t bl = strcspn(b, "; ");
	if (*b == '"') {
		b++;
		bl = strcspn(b, "\"");
	}
	if (bl == 0 || bl > 200) {
		*why = "bad multipart boundary";
		return NULL;
	}
	snprintf(delim, sizeof(delim), "--%.*s", (int)bl, b);
	const char *body = req->body, *end = req->body + req->body_len;
	for (const char *p = memmem(body, req->body_len, delim, strlen(delim)); p;) {
		const char *h = p + strlen(delim);
		if (h + 2 <= end && h[0] == '-' && h[1] == '-')
			break;
		const char *hend = memmem(h, (size_t)(end - h), "\r\n\r\n", 4);
		if (!hend)
			break;
		const char *data = hend + 4;
		const char *next = memmem(data, (size_t)(end - data), delim, strlen(delim));
		if (!next || next - data < 2)
			break;
		char *hdr = strndup(h, (size_t)(hend - h));
		bool is_file = hdr && strstr(hdr, "name=\"file\"");
		free(hdr);
		if (is_file) {
			*len = (size_t)(next - data - 2); /* the CRLF before the delimiter */
			return data;
		}
		p = next;
	}
	*why = "no multipart part named 'file'";
	return NULL;
}

static void sto01(struct sim_request *req, struct sim_reply *r)
{
	size_t len = 0;
	const char *why = NULL;
	const char *csv = file_part(req, &len, &why);
	if (!csv) {
		sim_reply_mirakl_error(r, 400, "%s", why);
		return;
	}
	size_t hl = strcspn(csv, "\n");
	if (hl > len)
		hl = len;
	size_t hlen = hl > 0 && csv[hl - 1] == '\r' ? hl - 1 : hl;
	if (hlen != strlen(HEADER) || memcmp(csv, HEADER, hlen) != 0) {
		sim_reply_mirakl_error(r, 400, "The file's header must be %s (';' separators, quoted)", HEADER);
		return;
	}
	int64_t now = sim_now_ms();
	pthread_mutex_lock(&sim.lock);
	if (st.last_sto01_ms && now - st.last_sto01_ms < st.min_interval_ms) {
		long wait = (long)((st.min_interval_ms - (now - st.last_sto01_ms) + 999) / 1000);
		pthread_mutex_unlock(&sim.lock);
		sim_reply_mirakl_error(r, 429, "Too Many Requests: one stock import per %lld ms", st.min_interval_ms);
		r->retry_after_s = wait > 0 ? wait : 1;
		return;
	}
	if (st.nimports == MAX_IMPORTS) {
		import_free(&st.imports[0]);
		memmove(st.imports, st.imports + 1, (st.nimports - 1) * sizeof(*st.imports));
		st.nimports--;
	}
	st.last_sto01_ms = now;
	sim_grow((void **)&st.imports, &st.imports_cap, st.nimports + 1, sizeof(*st.imports));
	struct import *im = &st.imports[st.nimports++];
	*im = (struct import){ .created_ms = now };
	snprintf(im->id, sizeof(im->id), "%lu", ++st.seq + 1000);
	size_t lineno = 1;
	for (const char *p = csv + hl + (hl < len), *end = csv + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		size_t ll = l > 0 && p[l - 1] == '\r' ? l - 1 : l;
		lineno++;
		if (ll > 0)
			check_line(im, lineno, p, ll);
		p += l + (nl != NULL);
	}
	json_t *j = json_pack("{s:s}", "import_id", im->id);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 201, j);
}

static void sto02(struct import *im, struct sim_reply *r)
{
	char created[32];
	const char *status = import_status(im, sim_now_ms());
	bool done = strcmp(status, "COMPLETE") == 0;
	sim_fmt_iso(im->created_ms, created);
	sim_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:I}", "import_id", im->id, "status", status,
		"date_created", created, "lines_in_success", (json_int_t)(done ? im->lines - im->nerrors : 0),
		"lines_in_error", (json_int_t)(done ? im->nerrors : 0), "has_error_report", done && im->nerrors > 0,
		"shop_id", (json_int_t)1));
}

/* The error report: the line number, the reason, then the line as sent
 * (ready to be reimported once fixed) [MMP STO03]. */
static void sto03(struct import *im, struct sim_reply *r)
{
	if (strcmp(import_status(im, sim_now_ms()), "COMPLETE") != 0 || im->nerrors == 0) {
		sim_reply_mirakl_error(r, 404, "No error report for import %s", im->id);
		return;
	}
	size_t cap = 256, n = 0;
	for (size_t i = 0; i < im->nerrors; i++) /* a reason's quotes are doubled: at most twice its length */
		cap += 40 + 2 * strlen(im->errors[i].reason) + strlen(im->errors[i].raw);
	char *out = sim_xmalloc(cap);
	n += (size_t)snprintf(out, cap, "\"line-number\";\"error-message\";" HEADER "\r\n");
	for (size_t i = st.report_drop > 0 ? (size_t)st.report_drop : 0; i < im->nerrors; i++) {
		struct error_line *e = &im->errors[i];
		n += (size_t)snprintf(out + n, cap - n, "\"%zu\";\"", e->line);
		for (const char *c = e->reason; *c; c++) { /* CSV: a quote inside a field is doubled */
			if (*c == '"')
				out[n++] = '"';
			out[n++] = *c;
		}
		n += (size_t)snprintf(out + n, cap - n, "\";%s\r\n", e->raw);
	}
	sim_reply_clear(r);
	r->status = 200;
	r->body = out;
	r->len = n;
	r->content_type = "text/csv";
}

static int cmp_offer(const void *a, const void *b)
{
	return strcmp(((const struct offer *)a)->sku, ((const struct offer *)b)->sku);
}

static void of21(struct sim_request *req, struct sim_reply *r)
{
	const char *max_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "max");
	const char *off_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "offset");
	long long max = 10, off = 0;
	if ((max_s && sim_parse_ll(max_s, 1, PAGE_MAX, &max) != 0) || (off_s && sim_parse_ll(off_s, 0, 1LL << 40, &off) != 0)) {
		sim_reply_mirakl_error(r, 400, "max must be 1..%d and offset >= 0", PAGE_MAX);
		return;
	}
	pthread_mutex_lock(&sim.lock);
	for (size_t i = 0; i < st.nimports; i++)
		import_status(&st.imports[i], sim_now_ms());
	struct offer *sorted = sim_xmalloc((st.n ? st.n : 1) * sizeof(*sorted));
	if (st.n) { /* no offer yet: st.v is NULL, which memcpy and qsort may not be given */
		memcpy(sorted, st.v, st.n * sizeof(*sorted));
		qsort(sorted, st.n, sizeof(*sorted), cmp_offer);
	}
	json_t *offers = json_array();
	for (size_t i = (size_t)off; i < st.n && i < (size_t)(off + max); i++)
		json_array_append_new(offers, json_pack("{s:s, s:I, s:s, s:b}", "shop_sku", sorted[i].sku, "quantity",
			(json_int_t)sorted[i].quantity, "offer_id", sorted[i].sku, "active", !sorted[i].inactive));
	size_t total = st.n;
	free(sorted);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:o, s:I}", "offers", offers, "total_count", (json_int_t)total));
}

void sim_mirakl_stock_handle(struct sim_request *req, const char *sub, struct sim_reply *r)
{
	const char *m = req->method;
	const char *pre = "/api/offers/stock/imports";
	if (strcmp(sub, "/api/offers") == 0) {
		if (!sim_mirakl_method_is(m, "GET", r))
			return;
		of21(req, r);
		return;
	}
	if (strcmp(sub, pre) == 0) {
		if (!sim_mirakl_method_is(m, "POST", r))
			return;
		sto01(req, r);
		return;
	}
	if (strncmp(sub, pre, strlen(pre)) != 0 || sub[strlen(pre)] != '/') {
		sim_reply_mirakl_error(r, 404, "Not Found: %s", sub);
		return;
	}
	const char *id = sub + strlen(pre) + 1, *slash = strchr(id, '/');
	char idbuf[24];
	if (!slash || (size_t)(slash - id) >= sizeof(idbuf) || strcmp(m, "GET") != 0) {
		sim_reply_mirakl_error(r, slash && strcmp(m, "GET") != 0 ? 405 : 404, "Not Found: %s", sub);
		return;
	}
	snprintf(idbuf, sizeof(idbuf), "%.*s", (int)(slash - id), id);
	pthread_mutex_lock(&sim.lock);
	struct import *im = find_import(idbuf);
	if (!im)
		sim_reply_mirakl_error(r, 404, "Import %s not found", idbuf);
	else if (strcmp(slash, "/status") == 0)
		sto02(im, r);
	else if (strcmp(slash, "/error_report") == 0)
		sto03(im, r);
	else
		sim_reply_mirakl_error(r, 404, "Not Found: %s", sub);
	pthread_mutex_unlock(&sim.lock);
}

/* ---- control ---- */

void sim_mirakl_ctl_offers(json_t *body, struct sim_reply *r)
{
	json_t *offers = json_object_get(body, "offers"), *g = json_object_get(body, "generate"), *o;
	size_t i;
	if (g) {
		json_t *count = json_object_get(g, "count"), *prefix = json_object_get(g, "prefix");
		json_t *q = json_object_get(g, "quantity"), *start = json_object_get(g, "start");
		if (!json_is_integer(count) || json_integer_value(count) < 1 || json_integer_value(count) > 1000000 ||
		    (prefix && (!json_is_string(prefix) || json_string_length(prefix) > 100)) ||
		    (q && (!json_is_integer(q) || json_integer_value(q) < 0)) ||
		    (start && (!json_is_integer(start) || json_integer_value(start) < 0))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"generate: count 1..1000000, prefix a string (<= 100), quantity >= 0, start >= 0");
			return;
		}
		char sku[160];
		long long n = json_integer_value(count), s0 = start ? json_integer_value(start) : 1;
		pthread_mutex_lock(&sim.lock);
		for (long long k = 0; k < n; k++) {
			snprintf(sku, sizeof(sku), "%s%07lld", prefix ? json_string_value(prefix) : "SKU-", s0 + k);
			set_offer(sku, q ? json_integer_value(q) : 0);
		}
		pthread_mutex_unlock(&sim.lock);
		sim_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)n));
		return;
	}
	if (!json_is_array(offers)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "offers: required array (or generate)");
		return;
	}
	json_array_foreach(offers, i, o) {
		const char *sku = json_string_value(json_object_get(o, "shop_sku"));
		json_t *q = json_object_get(o, "quantity"), *act = json_object_get(o, "active");
		if (!sku || !*sku || strlen(sku) > 255 || !json_is_integer(q) || json_integer_value(q) < 0 ||
		    (act && !json_is_boolean(act))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
				"offers[%zu]: shop_sku (1..255 bytes) and quantity (>= 0) required, active a boolean", i);
			return;
		}
	}
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(offers, i, o) {
		const char *sku = json_string_value(json_object_get(o, "shop_sku"));
		json_t *act = json_object_get(o, "active");
		set_offer(sku, json_integer_value(json_object_get(o, "quantity")));
		if (act)
			find(sku)->inactive = !json_is_true(act);
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:I}", "updated", (json_int_t)json_array_size(offers)));
}

bool sim_mirakl_stock_settings_check(json_t *body, struct sim_reply *r)
{
	json_t *d = json_object_get(body, "import_delay_ms"), *m = json_object_get(body, "stock_import_min_interval_ms");
	json_t *w = json_object_get(body, "warehouses"), *x, *drop = json_object_get(body, "error_report_drop");
	size_t i;
	bool ok = !w || (json_is_array(w) && json_array_size(w) <= SIM_SITES_MAX);
	if (drop && (!json_is_integer(drop) || json_integer_value(drop) < 0 || json_integer_value(drop) > 1000000)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "error_report_drop: an integer 0..1000000");
		return false;
	}
	json_array_foreach(ok ? w : NULL, i, x)
		ok = ok && json_is_string(x) && json_string_length(x) > 0 && json_string_length(x) < 64;
	if (!ok) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "warehouses: at most %d warehouse-codes (1..63 bytes)",
				    SIM_SITES_MAX);
		return false;
	}
	if ((d && (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > 3600000)) ||
	    (m && (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 3600000))) {
		sim_reply_ctl_error(r, 400, "invalid_payload",
			"import_delay_ms and stock_import_min_interval_ms: integers 0..3600000");
		return false;
	}
	return true;
}

void sim_mirakl_stock_settings_apply(json_t *body)
{
	json_t *d = json_object_get(body, "import_delay_ms"), *m = json_object_get(body, "stock_import_min_interval_ms");
	if (d)
		st.delay_ms = json_integer_value(d);
	if (m)
		st.min_interval_ms = json_integer_value(m);
	if (json_object_get(body, "error_report_drop"))
		st.report_drop = json_integer_value(json_object_get(body, "error_report_drop"));
	json_t *w = json_object_get(body, "warehouses"), *x;
	size_t i;
	if (w) {
		for (i = 0; i < st.n_warehouses; i++)
			free(st.warehouses[i]);
		st.n_warehouses = 0;
		json_array_foreach(w, i, x)
			st.warehouses[st.n_warehouses++] = sim_strdup(json_string_value(x));
	}
}

json_t *sim_mirakl_stock_settings_json(void)
{
	json_t *w = json_array();
	for (size_t i = 0; i < st.n_warehouses; i++)
		json_array_append_new(w, json_string(st.warehouses[i]));
	return json_pack("{s:I, s:I, s:o, s:I}", "import_delay_ms", (json_int_t)st.delay_ms,
			 "stock_import_min_interval_ms", (json_int_t)st.min_interval_ms, "warehouses", w, "error_report_drop",
			 (json_int_t)st.report_drop);
}

/* An offer as the state shows it: with its warehouses' quantities when it has some. */
static json_t *offer_state(const struct offer *o)
{
	json_t *j = json_pack("{s:s, s:I}", "shop_sku", o->sku, "quantity", (json_int_t)o->quantity), *w = NULL;
	for (size_t i = 0; i < st.n_warehouses; i++) {
		if (o->wh[i] < 0)
			continue;
		if (!w)
			w = json_object();
		json_object_set_new(w, st.warehouses[i], json_integer(o->wh[i]));
	}
	if (w)
		json_object_set_new(j, "warehouses", w);
	return j;
}

/* "offers" (a list while short or filtered by @p skus, a comma list),
 * "offers_count" and "stock_imports"; lock held. */
json_t *sim_mirakl_stock_state(const char *skus)
{
	json_t *offers = json_array(), *imports = json_array();
	int64_t now = sim_now_ms();
	for (size_t i = 0; i < st.nimports; i++)
		import_status(&st.imports[i], now);
	if (skus && *skus) {
		size_t n;
		char **v = sim_split_csv(skus, &n);
		for (size_t i = 0; i < n; i++) {
			struct offer *o = find(v[i]);
			if (o)
				json_array_append_new(offers, offer_state(o));
		}
		sim_strv_free(v, n);
	} else if (st.n <= SIM_STATE_LIST_MAX) {
		for (size_t i = 0; i < st.n; i++)
			json_array_append_new(offers, offer_state(&st.v[i]));
	}
	for (size_t i = 0; i < st.nimports; i++) {
		struct import *im = &st.imports[i];
		json_array_append_new(imports, json_pack("{s:s, s:I, s:s, s:I}", "import_id", im->id, "lines",
			(json_int_t)im->lines, "status", import_status(im, now), "lines_in_error", (json_int_t)im->nerrors));
	}
	return json_pack("{s:o, s:I, s:o}", "offers", offers, "offers_count", (json_int_t)st.n, "stock_imports", imports);
}
