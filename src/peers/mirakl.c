/*
 * mirakl.c: the Mirakl seller API client (OR11, OR12, OR21), pure.
 *
 * Builders write a struct kcg_call, parsers read a struct kcg_reply; the
 * job engine sends the one and fills the other. Facts behind the choices
 * (../shared/docs/peers.md §1 and the seller OpenAPI extract):
 *  - auth is the raw shop key in Authorization, marked secret;
 *  - dates go out as "YYYY-MM-DDTHH:MM:SSZ" (a 'Z' needs no %2B), cut down
 *    to the second, which only widens a "since" window;
 *  - list values (order_ids, order_state_codes) keep their commas and each
 *    item is percent-encoded;
 *  - errors carry {"message": ...}: that text goes into @p why;
 *  - unknown fields and enum values are ignored, never refused.
 * Every @p why is printable ASCII, so callers can put it in JSON and logs.
 */
#include "mirakl_private.h"
#include "kcgate/common.h"
#include "kcgate/dynbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_FLAGS JSON_REJECT_DUPLICATES
#define URL_MAX (64 * 1024) /* far beyond what a server takes; a longer one is a bug */

/* Appends @p s percent-encoded; a failure sticks to @p b. */
void mirakl_buf_escaped(struct kcg_dynbuf *b, const char *s)
{
	char *e = kcg_url_escape(s);
	if (!e) {
		kcg_dynbuf_fail(b, -ENOMEM);
		return;
	}
	kcg_dynbuf_addstr(b, e);
	free(e);
}

/* Starts @p b: base_url without a trailing slash, then @p path. */
void mirakl_buf_base(struct kcg_dynbuf *b, const struct kcg_mirakl_config *cfg, const char *path)
{
	const char *base = cfg->base_url ? cfg->base_url : "";
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	kcg_dynbuf_init(b, URL_MAX);
	kcg_dynbuf_add(b, base, n);
	kcg_dynbuf_addstr(b, path);
}

/* "&name=" then each comma-separated item of @p list escaped, commas kept. */
static void buf_list(struct kcg_dynbuf *b, const char *name, const char *list)
{
	kcg_dynbuf_printf(b, "&%s=", name);
	const char *p = list;
	for (;;) {
		size_t n = strcspn(p, ",");
		char *item = strndup(p, n);
		if (!item) {
			kcg_dynbuf_fail(b, -ENOMEM);
			return;
		}
		mirakl_buf_escaped(b, item);
		free(item);
		if (!p[n])
			break;
		kcg_dynbuf_addstr(b, ",");
		p += n + 1;
	}
}

/* "<sep>shop_id=<escaped>" when [mirakl] shop_id is set. */
void mirakl_shop_query(struct kcg_dynbuf *url, const struct kcg_mirakl_config *cfg, char sep)
{
	if (cfg->shop_id && *cfg->shop_id) {
		kcg_dynbuf_printf(url, "%cshop_id=", sep);
		mirakl_buf_escaped(url, cfg->shop_id);
	}
}

/* Fills what every Mirakl call shares; takes @p url. */
int mirakl_init_call(const struct kcg_mirakl_config *cfg, struct kcg_call *out, const char *what, const char *method,
		     struct kcg_dynbuf *url)
{
	*out = (struct kcg_call){ .what = what, .method = method, .secret_headers = true };
	out->url = kcg_dynbuf_take(url, NULL);
	if (!out->url)
		return kcg_dynbuf_error(url); /* -ENOMEM, or -E2BIG past URL_MAX */
	out->timeout_s = (unsigned)cfg->timeout_s;
	const char *key = cfg->api_key; /* once: a reload may swap it (config.h) */
	if (kcg_call_header(out, "Authorization: %s", key ? key : "") ||
	    kcg_call_header(out, "Accept: application/json")) {
		kcg_call_finish(out);
		return -ENOMEM;
	}
	return 0;
}

/* "&name=" and @p ms as "2024-01-01T10:00:00Z", cut down to the second:
 * a start rounded down, an end rounded up (@p up), so the window only widens. */
static void buf_date(struct kcg_dynbuf *b, const char *name, uint64_t ms, bool up)
{
	char t[40];
	if (up && ms % 1000u)
		ms += 1000u - ms % 1000u;
	kcg_format_time(ms, t, sizeof(t));
	/* "2024-01-01T10:00:00.123Z" -> "2024-01-01T10:00:00Z" */
	char *dot = strchr(t, '.');
	if (dot)
		memcpy(dot, "Z", 2);
	kcg_dynbuf_printf(b, "&%s=", name);
	mirakl_buf_escaped(b, t);
}

int kcg_mirakl_or11(const struct kcg_mirakl_config *cfg, const struct kcg_or11_query *q, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	unsigned max = q->max;

	/* Out-of-range page sizes are clamped rather than sent to be refused. */
	if (max == 0 || max > KCG_MIRAKL_PAGE_MAX)
		max = KCG_MIRAKL_PAGE_MAX;
	mirakl_buf_base(&url, cfg, "/api/orders?paginate=true");
	kcg_dynbuf_printf(&url, "&max=%u&offset=%u", max, q->offset);
	if (q->order_ids && *q->order_ids)
		buf_list(&url, "order_ids", q->order_ids);
	if (q->state_codes && *q->state_codes)
		buf_list(&url, "order_state_codes", q->state_codes);
	if (q->start_update_ms)
		buf_date(&url, "start_update_date", q->start_update_ms, false);
	if (q->end_update_ms)
		buf_date(&url, "end_update_date", q->end_update_ms, true);
	if (cfg->order_tax_mode == KCG_TAX_INCLUDED || cfg->order_tax_mode == KCG_TAX_EXCLUDED)
		kcg_dynbuf_addstr(&url, cfg->order_tax_mode == KCG_TAX_INCLUDED ? "&order_tax_mode=TAX_INCLUDED"
										 : "&order_tax_mode=TAX_EXCLUDED");
	mirakl_shop_query(&url, cfg, '&');
	return mirakl_init_call(cfg, out, "OR11", "GET", &url);
}

int kcg_mirakl_or11_one(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out)
{
	struct kcg_or11_query q = { .order_ids = order_id, .max = 1 };
	if (!order_id || !*order_id || strchr(order_id, ',')) {
		*out = (struct kcg_call){ 0 };
		return -EINVAL; /* a comma would ask for other orders */
	}
	return kcg_mirakl_or11(cfg, &q, out);
}

/* "/api/orders/{escaped id}{suffix}" and the shop_id query when set. */
void mirakl_order_url(struct kcg_dynbuf *url, const struct kcg_mirakl_config *cfg, const char *order_id, const char *suffix)
{
	mirakl_buf_base(url, cfg, "/api/orders/");
	mirakl_buf_escaped(url, order_id);
	kcg_dynbuf_addstr(url, suffix);
	mirakl_shop_query(url, cfg, '?');
}

int kcg_mirakl_or12(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	mirakl_order_url(&url, cfg, order_id, "");
	return mirakl_init_call(cfg, out, "OR12", "GET", &url);
}

static bool line_waiting(const json_t *line)
{
	const char *st = json_string_value(json_object_get(line, "order_line_state"));
	return st && strcmp(st, "WAITING_ACCEPTANCE") == 0;
}

/* Is @p id one of the strings in @p list? */
static bool listed(const json_t *list, const char *id)
{
	size_t i;
	const json_t *v;
	json_array_foreach(list, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), id) == 0)
			return true;
	}
	return false;
}

int kcg_mirakl_or21(const struct kcg_mirakl_config *cfg, const json_t *order, struct kcg_call *out)
{
	return kcg_mirakl_or21_decide(cfg, order, NULL, out);
}

int kcg_mirakl_or21_decide(const struct kcg_mirakl_config *cfg, const json_t *order, const json_t *refuse,
			   struct kcg_call *out)
{
	const char *id = kcg_mirakl_order_id(order);
	const json_t *lines = json_object_get(order, "order_lines");
	size_t i;
	const json_t *line;
	int rc = -ENOMEM;

	*out = (struct kcg_call){ 0 };
	if (!id || !*id)
		return KCG_EPAYLOAD;
	json_t *decisions = json_array();
	json_t *body = json_pack("{s:o}", "order_lines", decisions);
	if (!decisions || !body) {
		json_decref(body);
		return -ENOMEM;
	}
	json_array_foreach(lines, i, line) {
		const char *lid = json_string_value(json_object_get(line, "order_line_id"));
		if (!line_waiting(line) || !lid || !*lid)
			continue;
		if (json_array_append_new(decisions, json_pack("{s:b, s:s}", "accepted", !listed(refuse, lid), "id", lid)))
			goto fail_body;
	}
	if (json_array_size(decisions) == 0) {
		rc = KCG_EPAYLOAD;
		goto fail_body;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	if (!text)
		goto fail_body;
	struct kcg_dynbuf url;
	mirakl_order_url(&url, cfg, id, "/accept");
	rc = mirakl_init_call(cfg, out, "OR21", "PUT", &url);
	if (rc != 0) {
		free(text);
		goto fail_body;
	}
	out->body = text;
	out->body_len = strlen(text);
	if (kcg_call_header(out, "Content-Type: application/json")) {
		kcg_call_finish(out);
		rc = -ENOMEM;
		goto fail_body;
	}
	json_decref(body);
	return 0;
fail_body:
	json_decref(body);
	return rc;
}

/*
 * What every Mirakl answer shares. Returns 1 when the caller should read a
 * success body (status in 200..299), otherwise the final return code with
 * @p why filled: -EAGAIN (transient), KCG_ENOTFOUND (404), KCG_EPAYLOAD.
 */
int mirakl_triage(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX])
{
	char ex[KCG_ERROR_MAX];

	why[0] = '\0';
	if (r->status >= 200 && r->status < 300 && r->transport_error == 0)
		return 1;
	if (kcg_reply_transient(r)) {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", what, ex);
		return -EAGAIN;
	}
	/* Mirakl's error body is {"message": "...", "status": N}. */
	json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	if (msg)
		kcg_why(why, "%s: HTTP %ld: %s", what, r->status, msg);
	else {
		kcg_reply_excerpt(r, ex);
		kcg_why(why, "%s: %s", what, ex);
	}
	json_decref(j);
	return r->status == 404 ? KCG_ENOTFOUND : KCG_EPAYLOAD;
}

/* The success body as a JSON object, or NULL with why filled. */
json_t *mirakl_load_object(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX])
{
	json_error_t err;
	json_t *j = json_loadb(r->body ? r->body : "", r->body ? r->len : 0, PARSE_FLAGS, &err);
	if (!j) {
		kcg_why(why, "%s: HTTP %ld with a body that is not JSON (%s)", what, r->status, err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		kcg_why(why, "%s: HTTP %ld: expected a JSON object", what, r->status);
		json_decref(j);
		return NULL;
	}
	return j;
}

int kcg_mirakl_or11_parse(const struct kcg_reply *r, json_t **orders, uint64_t *total, char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, "OR11", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "OR11", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *arr = json_object_get(j, "orders");
	json_t *tc = json_object_get(j, "total_count");
	size_t i;
	json_t *o;
	if (!json_is_array(arr)) {
		kcg_why(why, "OR11: \"orders\" is not an array");
		goto fail;
	}
	if (json_array_size(arr) > KCG_MIRAKL_PAGE_MAX) {
		/* kcgate never asks for more: a longer page is not an answer to it */
		kcg_why(why, "OR11: %zu orders on one page, more than the %d a page may hold", json_array_size(arr),
			KCG_MIRAKL_PAGE_MAX);
		goto fail;
	}
	json_array_foreach(arr, i, o) {
		if (!json_is_object(o)) {
			kcg_why(why, "OR11: orders[%zu] is not an object", i);
			goto fail;
		}
	}
	if (!json_is_integer(tc) || json_integer_value(tc) < 0) {
		kcg_why(why, "OR11: \"total_count\" is not a count");
		goto fail;
	}
	*orders = json_incref(arr);
	*total = (uint64_t)json_integer_value(tc);
	json_decref(j);
	return 0;
fail:
	json_decref(j);
	return KCG_EPAYLOAD;
}

int kcg_mirakl_or11_one_parse(const struct kcg_reply *r, const char *order_id, json_t **order, char why[KCG_ERROR_MAX])
{
	json_t *orders, *o;
	uint64_t total;
	size_t i;
	int rc = kcg_mirakl_or11_parse(r, &orders, &total, why);
	if (rc != 0)
		return rc;
	*order = NULL;
	json_array_foreach(orders, i, o) {
		const char *id = kcg_mirakl_order_id(o);
		if (id && strcmp(id, order_id) == 0) {
			*order = json_incref(o);
			break;
		}
	}
	json_decref(orders);
	if (!*order) {
		kcg_why(why, "OR11: Mirakl does not know order %s", order_id);
		return KCG_ENOTFOUND;
	}
	return 0;
}

int kcg_mirakl_or12_parse(const struct kcg_reply *r, json_t **order, char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, "OR12", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "OR12", why);
	if (!j)
		return KCG_EPAYLOAD;
	*order = j;
	return 0;
}

int kcg_mirakl_or21_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, "OR21", why);
	return rc == 1 ? 0 : rc;
}

bool kcg_mirakl_or21_partial_disabled(const struct kcg_reply *r)
{
	static const char code[] = "ORDER_PARTIAL_ACCEPTANCE_DISABLED";
	return r->status == 400 && r->transport_error == 0 && r->body && r->len >= sizeof(code) - 1 &&
	       memmem(r->body, r->len, code, sizeof(code) - 1) != NULL;
}

const char *kcg_mirakl_order_id(const json_t *order)
{
	return json_string_value(json_object_get(order, "order_id"));
}

const char *kcg_mirakl_order_state(const json_t *order)
{
	return json_string_value(json_object_get(order, "order_state"));
}

bool kcg_mirakl_order_waiting(const json_t *order)
{
	size_t i;
	const json_t *line;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (line_waiting(line))
			return true;
	}
	return false;
}

/* A line state that says the line was accepted. Anything not known to be
 * before or instead of acceptance counts, so a state Mirakl adds later
 * (enums grow) does not make kcgate accept twice. */
static bool line_accepted(const json_t *line)
{
	static const char *const not_accepted[] = { "STAGING", "WAITING_ACCEPTANCE", "REFUSED", "CANCELED" };
	const char *st = json_string_value(json_object_get(line, "order_line_state"));
	if (!st)
		return false;
	for (size_t i = 0; i < sizeof(not_accepted) / sizeof(not_accepted[0]); i++)
		if (strcmp(st, not_accepted[i]) == 0)
			return false;
	return true;
}

bool kcg_mirakl_order_accepted(const json_t *order)
{
	size_t i;
	const json_t *line;
	bool any = false;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (line_waiting(line))
			return false;
		any = any || line_accepted(line);
	}
	return any;
}

/* Reads exactly @p n digits. */
static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int kcg_mirakl_parse_time(const char *s, uint64_t *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, frac = 0, zone = 0;

	if (!s)
		return -EINVAL;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
		return -EINVAL;
	if (*p != 'T' && *p != 't')
		return -EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (digits(&p, 2, &sec))
			return -EINVAL;
		if (*p == '.') {
			int scale = 100, n = 0;
			for (p++; *p >= '0' && *p <= '9'; p++, n++) {
				frac += (*p - '0') * scale;
				scale /= 10;
			}
			if (n == 0)
				return -EINVAL;
		}
	}
	/* No zone: read as UTC (Mirakl always sends one; this is leniency). */
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, zh, zm;
		if (digits(&p, 2, &zh))
			return -EINVAL;
		if (*p == ':')
			p++;
		if (digits(&p, 2, &zm) || zh > 23 || zm > 59)
			return -EINVAL;
		zone = sign * (zh * 60 + zm);
	}
	if (*p)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
		return -EINVAL;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)zone * 60;
	if (secs < 0)
		return -EINVAL;
	*ms = (uint64_t)secs * 1000u + (uint64_t)frac;
	return 0;
}
