/*
 * sim_hostile.c: kcgate-sim's hostile-peer mode (docs/sim.md section 8).
 * POST /_sim/hostile turns the peers into the worst answers they could
 * give, to prove kcgate holds: an OR11 that never ends (every page full of
 * large orders, any total_count), and Khaos answers in the shapes that
 * made parsing quadratic (thousands of href items, one element with
 * 100,000 attributes) or that made libxml2 print on stderr (bad bytes for
 * the declared encoding). The answers are built as raw text on purpose:
 * they are meant to be what a careful writer would never produce.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "sim.h"

#define SOAP_ENV "http://schemas.xmlsoap.org/soap/envelope/"

static struct {
	bool or11;
	long long or11_total;
	long long or11_order_bytes;
	char shape[32];     /* "" = Khaos answers as usual */
	long long khaos_count;
} h;

void sim_hostile_reset(void)
{
	memset(&h, 0, sizeof(h));
}

/* A growable text buffer; aborts when out of memory (a test device). */
struct text {
	char *p;
	size_t len, cap;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 4096;
		while (t->len + n + 1 > cap)
			cap *= 2;
		t->p = realloc(t->p, cap);
		if (!t->p)
			abort();
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void puts_(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void putf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct text *t, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(t, tmp, (size_t)n);
}

static long long qnum(struct sim_request *req, const char *name, long long dflt)
{
	const char *v = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
	long long out;
	return v && sim_parse_ll(v, 0, 1000000000000000LL, &out) == 0 ? out : dflt;
}

bool sim_hostile_mirakl(struct sim_request *req, const char *sub, struct sim_reply *r)
{
	pthread_mutex_lock(&sim.lock);
	bool on = h.or11;
	long long total = h.or11_total, pad = h.or11_order_bytes;
	pthread_mutex_unlock(&sim.lock);
	if (!on || strcmp(req->method, "GET") != 0 || strcmp(sub, "/api/orders") != 0 ||
	    MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "order_ids"))
		return false;
	long long max = qnum(req, "max", SIM_OR11_DEFAULT_MAX), offset = qnum(req, "offset", 0);
	if (max < 1 || max > SIM_OR11_MAX)
		max = SIM_OR11_DEFAULT_MAX;
	long long n = offset >= total ? 0 : (total - offset < max ? total - offset : max);
	char *padding = malloc((size_t)pad + 1);
	if (!padding)
		abort();
	memset(padding, 'x', (size_t)pad);
	padding[pad] = '\0';
	struct text t = { 0 };
	puts_(&t, "{\"orders\":[");
	for (long long i = 0; i < n; i++) {
		/* STAGING: kcgate records it and does nothing more (no booking) */
		putf(&t, "{\"order_id\":\"HOSTILE-%lld\",\"order_state\":\"STAGING\",\"order_lines\":[],\"padding\":\"",
		     offset + i);
		puts_(&t, padding);
		puts_(&t, "\"}");
		if (i + 1 < n)
			puts_(&t, ",");
	}
	putf(&t, "],\"total_count\":%lld}", total);
	free(padding);
	sim_reply_clear(r);
	r->status = 200;
	r->body = t.p;
	r->len = t.len;
	r->content_type = "application/json";
	return true;
}

bool sim_hostile_khaos(const char *method, struct sim_reply *r)
{
	pthread_mutex_lock(&sim.lock);
	char shape[sizeof(h.shape)];
	memcpy(shape, h.shape, sizeof(shape));
	long long n = h.khaos_count;
	pthread_mutex_unlock(&sim.lock);
	if (!shape[0])
		return false;
	struct text t = { 0 };
	puts_(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SOAP_ENV
		  "\"><SOAP-ENV:Body><NS1:");
	puts_(&t, method);
	puts_(&t, "Response xmlns:NS1=\"");
	puts_(&t, sim.khaos_ns);
	puts_(&t, "\"><return");
	if (strcmp(shape, "href_items") == 0) {
		/* a TOrderImportResult with n imported references, their targets
		 * after the response, none about the order asked */
		putf(&t, " href=\"#0\"/></NS1:");
		puts_(&t, method);
		putf(&t, "Response><r id=\"0\"><ImportedCount>%lld</ImportedCount><OrderImport>", n);
		for (long long i = 1; i <= n; i++)
			putf(&t, "<item href=\"#%lld\"/>", i);
		puts_(&t, "</OrderImport><OrderSkipped/></r>");
		for (long long i = 1; i <= n; i++)
			putf(&t, "<r id=\"%lld\"><SalesOrderCode>SO%lld</SalesOrderCode><AssociatedRef>HOSTILE-%lld"
				 "</AssociatedRef></r>", i, i, i);
	} else if (strcmp(shape, "attributes") == 0) {
		for (long long i = 0; i < n; i++)
			putf(&t, " a%lld=\"%lld\"", i, i);
		puts_(&t, "/></NS1:");
		puts_(&t, method);
		puts_(&t, "Response>");
	} else { /* bad_encoding: bytes that are not UTF-8, as if declared so */
		puts_(&t, ">\xff\xfe\xfd\xc3(</return></NS1:");
		puts_(&t, method);
		puts_(&t, "Response>");
	}
	puts_(&t, "</SOAP-ENV:Body></SOAP-ENV:Envelope>");
	sim_reply_clear(r);
	r->status = 200;
	r->body = t.p;
	r->len = t.len;
	r->content_type = "text/xml; charset=utf-8";
	return true;
}

static bool get_ll(json_t *body, const char *key, long long lo, long long hi, long long *out, struct sim_reply *r)
{
	json_t *v = json_object_get(body, key);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "%s: an integer in %lld..%lld", key, lo, hi);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

void sim_hostile_ctl(json_t *body, struct sim_reply *r)
{
	static const char *const keys[] = { "clear", "or11_total_count", "or11_order_bytes", "khaos_shape", "khaos_count" };
	const char *key = sim_unknown_key(body, keys, sizeof(keys) / sizeof(keys[0]));
	if (key) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "unknown field %s", key);
		return;
	}
	long long total = -1, bytes = 1000, count = 1000;
	if (!get_ll(body, "or11_total_count", 0, 1000000000000000LL, &total, r) ||
	    !get_ll(body, "or11_order_bytes", 0, 1000000, &bytes, r) || !get_ll(body, "khaos_count", 1, 1000000, &count, r))
		return;
	const char *shape = json_string_value(json_object_get(body, "khaos_shape"));
	if (json_object_get(body, "khaos_shape") &&
	    (!shape || (strcmp(shape, "href_items") && strcmp(shape, "attributes") && strcmp(shape, "bad_encoding")))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "khaos_shape: href_items, attributes or bad_encoding");
		return;
	}
	pthread_mutex_lock(&sim.lock);
	if (json_is_true(json_object_get(body, "clear")))
		sim_hostile_reset();
	if (total >= 0) {
		h.or11 = true;
		h.or11_total = total;
		h.or11_order_bytes = bytes;
	}
	if (shape) {
		snprintf(h.shape, sizeof(h.shape), "%s", shape);
		h.khaos_count = count;
	}
	json_t *out = json_pack("{s:o, s:o}", "mirakl",
				h.or11 ? json_pack("{s:I, s:I}", "or11_total_count", (json_int_t)h.or11_total,
						   "or11_order_bytes", (json_int_t)h.or11_order_bytes)
				       : json_null(),
				"khaos",
				h.shape[0] ? json_pack("{s:s, s:I}", "khaos_shape", h.shape, "khaos_count",
						       (json_int_t)h.khaos_count)
					   : json_null());
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, out);
}
