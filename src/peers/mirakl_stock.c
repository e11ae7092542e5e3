/*
 * mirakl_stock.c: the Mirakl seller API's stock calls (STO01, STO02,
 * STO03) and OF21 (kcgate/peers/mirakl_stock.h). Pure.
 */
#include "kcgate/peers/mirakl_stock.h"
#include "kcgate/peers/mirakl.h"
#include "mirakl_private.h"

#include "kcgate/common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_FIELD_MAX 1024
#define REASON_MAX 300

bool kcg_mirakl_stock_sku_ok(const char *sku)
{
	size_t n = sku ? strlen(sku) : 0;
	if (n == 0 || n >= KCG_MIRAKL_SKU_MAX)
		return false;
	for (const unsigned char *p = (const unsigned char *)sku; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void quoted(struct kcg_dynbuf *b, const char *s)
{
	kcg_dynbuf_addstr(b, "\"");
	for (const char *p = s; *p; p++) {
		size_t n = strcspn(p, "\"");
		kcg_dynbuf_add(b, p, n);
		p += n;
		if (!*p)
			break;
		kcg_dynbuf_addstr(b, "\"\"");
	}
	kcg_dynbuf_addstr(b, "\"");
}

int kcg_mirakl_stock_csv_line(struct kcg_dynbuf *b, const struct kcg_stock_line *line)
{
	bool wh = line->warehouse && *line->warehouse;
	if (!kcg_mirakl_stock_sku_ok(line->sku) || line->quantity < 0 || (wh && !kcg_mirakl_stock_sku_ok(line->warehouse)))
		return -EINVAL;
	quoted(b, line->sku);
	kcg_dynbuf_printf(b, ";\"%lld\";", (long long)line->quantity);
	quoted(b, wh ? line->warehouse : "");
	kcg_dynbuf_addstr(b, ";\"\"\r\n"); /* update-delete empty: an update */
	return kcg_dynbuf_error(b);
}

int kcg_mirakl_sto01(const struct kcg_mirakl_config *cfg, const char *csv, size_t len, struct kcg_call *out)
{
	struct kcg_dynbuf url, body;
	char hex[65], boundary[48];

	*out = (struct kcg_call){ 0 };
	/* A boundary that the file does not contain: derived from the file
	 * (deterministic, so a test can rebuild it), changed until absent. */
	kcg_sha256_hex(csv, len, hex);
	for (unsigned i = 0;; i++) {
		snprintf(boundary, sizeof(boundary), "kcgate-%.24s%u", hex, i);
		if (!memmem(csv, len, boundary, strlen(boundary)))
			break;
	}
	mirakl_buf_base(&url, cfg, "/api/offers/stock/imports");
	mirakl_shop_query(&url, cfg, '?');
	int rc = mirakl_init_call(cfg, out, "STO01", "POST", &url);
	if (rc != 0)
		return rc;
	kcg_dynbuf_init(&body, (size_t)1 << 31);
	kcg_dynbuf_printf(&body,
			  "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stock.csv\"\r\n"
			  "Content-Type: text/csv; charset=utf-8\r\n\r\n",
			  boundary);
	kcg_dynbuf_add(&body, csv, len);
	kcg_dynbuf_printf(&body, "\r\n--%s--\r\n", boundary);
	out->body = kcg_dynbuf_take(&body, &out->body_len);
	if (!out->body || kcg_call_header(out, "Content-Type: multipart/form-data; boundary=%s", boundary) != 0) {
		kcg_call_finish(out);
		return -ENOMEM;
	}
	return 0;
}

int kcg_mirakl_sto01_parse(const struct kcg_reply *r, char id[KCG_MIRAKL_IMPORT_ID_MAX], char why[KCG_ERROR_MAX])
{
	id[0] = '\0';
	int rc = mirakl_triage(r, "STO01", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "STO01", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *v = json_object_get(j, "import_id");
	char num[32];
	const char *s = json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	}
	if (!s || !*s || strlen(s) >= KCG_MIRAKL_IMPORT_ID_MAX || strspn(s, "0123456789abcdefABCDEF-_") != strlen(s)) {
		kcg_why(why, "STO01: HTTP %ld without a usable import_id (1-%d letters, digits, '-' or '_')", r->status,
			KCG_MIRAKL_IMPORT_ID_MAX - 1);
		json_decref(j);
		return KCG_EPAYLOAD;
	}
	memcpy(id, s, strlen(s) + 1);
	json_decref(j);
	return 0;
}

static int import_call(const struct kcg_mirakl_config *cfg, const char *what, const char *id, const char *suffix,
		       struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (!id || !*id || strlen(id) >= KCG_MIRAKL_IMPORT_ID_MAX)
		return -EINVAL;
	mirakl_buf_base(&url, cfg, "/api/offers/stock/imports/");
	mirakl_buf_escaped(&url, id);
	kcg_dynbuf_addstr(&url, suffix);
	mirakl_shop_query(&url, cfg, '?');
	return mirakl_init_call(cfg, out, what, "GET", &url);
}

int kcg_mirakl_sto02(const struct kcg_mirakl_config *cfg, const char *id, struct kcg_call *out)
{
	return import_call(cfg, "STO02", id, "/status", out);
}

int kcg_mirakl_sto03(const struct kcg_mirakl_config *cfg, const char *id, struct kcg_call *out)
{
	int rc = import_call(cfg, "STO03", id, "/error_report", out);
	if (rc == 0)
		out->max_reply_bytes = KCG_STOCK_REPORT_MAX;
	return rc;
}

static bool count_of(const json_t *v, uint64_t *out)
{
	*out = 0;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

int kcg_mirakl_sto02_parse(const struct kcg_reply *r, struct kcg_sto02 *out, char why[KCG_ERROR_MAX])
{
	static const char *const names[] = { "WAITING", "RUNNING", "COMPLETE", "FAILED" };
	*out = (struct kcg_sto02){ 0 };
	int rc = mirakl_triage(r, "STO02", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "STO02", why);
	if (!j)
		return KCG_EPAYLOAD;
	const char *st = json_string_value(json_object_get(j, "status"));
	int found = -1;
	for (int i = 0; st && i < 4; i++)
		if (strcmp(st, names[i]) == 0)
			found = i;
	json_t *rep = json_object_get(j, "has_error_report");
	rc = 0;
	if (found < 0) {
		kcg_why(why, "STO02: status '%.40s' is not WAITING, RUNNING, COMPLETE or FAILED", st ? st : "(none)");
		rc = KCG_EPAYLOAD;
	} else if (!count_of(json_object_get(j, "lines_in_success"), &out->lines_in_success) ||
		   !count_of(json_object_get(j, "lines_in_error"), &out->lines_in_error) ||
		   (rep && !json_is_boolean(rep) && !json_is_null(rep))) {
		kcg_why(why, "STO02: lines_in_success, lines_in_error must be counts and has_error_report a boolean");
		rc = KCG_EPAYLOAD;
	} else {
		out->status = (enum kcg_sto_status)found;
		out->has_error_report = json_is_true(rep);
	}
	json_decref(j);
	return rc;
}

int kcg_csv_each(const char *buf, size_t len, size_t max_fields,
		 int (*fn)(size_t line, char **fields, size_t n_fields, void *arg), void *arg)
{
	char **fields = calloc(max_fields ? max_fields : 1, sizeof(*fields));
	char *store = malloc((max_fields ? max_fields : 1) * CSV_FIELD_MAX);
	size_t i = 0, line = 0;
	int rc = 0;
	if (!fields || !store) {
		free(fields);
		free(store);
		return -ENOMEM;
	}
	for (size_t f = 0; f < max_fields; f++)
		fields[f] = store + f * CSV_FIELD_MAX;
	while (rc == 0 && i < len) {
		size_t nf = 0, fl = 0;
		bool end = false;
		line++;
		while (!end) {
			char *cur = nf < max_fields ? fields[nf] : NULL;
			fl = 0;
			if (i < len && buf[i] == '"') {
				i++;
				for (;;) {
					if (i >= len) {
						rc = KCG_EPAYLOAD; /* unterminated quote */
						goto out;
					}
					if (buf[i] == '"' && i + 1 < len && buf[i + 1] == '"') {
						i++;
					} else if (buf[i] == '"') {
						i++;
						break;
					}
					if (cur && fl + 1 < CSV_FIELD_MAX)
						cur[fl++] = buf[i];
					i++;
				}
			}
			while (i < len && buf[i] != ';' && buf[i] != '\n' && buf[i] != '\r') {
				if (cur && fl + 1 < CSV_FIELD_MAX)
					cur[fl++] = buf[i];
				i++;
			}
			if (cur)
				cur[fl] = '\0';
			nf++;
			if (i < len && buf[i] == ';') {
				i++;
				continue;
			}
			if (i < len && buf[i] == '\r')
				i++;
			if (i < len && buf[i] == '\n')
				i++;
			end = true;
		}
		if (nf == 1 && fields[0][0] == '\0' && max_fields)
			continue; /* a blank line */
		rc = fn(line, fields, nf < max_fields ? nf : max_fields, arg);
	}
out:
	free(fields);
	free(store);
	return rc;
}

struct report {
	int (*fn)(uint64_t line, const char *sku, const char *reason, void *arg);
	void *arg;
	size_t max, n;
	int sku_col, reason_col, line_col;
	char *why;
};

#define REPORT_COLS 16

static int report_record(size_t line, char **f, size_t nf, void *arg)
{
	struct report *rp = arg;
	uint64_t first;
	/* a header only when the first line's first field is a name, not a
	 * line number (the vendor text shows no header: "the first column
	 * contains the line number in error, the second the error reason") */
	if (line == 1 && !(nf > 0 && kcg_parse_u64(f[0], 1, UINT32_MAX, &first) == 0)) {
		/* the header: find the columns by name */
		for (size_t i = 0; i < nf; i++) {
			if (strcmp(f[i], "offer-sku") == 0)
				rp->sku_col = (int)i;
			else if (strcmp(f[i], "error-message") == 0 || strcmp(f[i], "error-reason") == 0)
				rp->reason_col = (int)i;
			else if (strcmp(f[i], "error-line") == 0 || strcmp(f[i], "line-number") == 0)
				rp->line_col = (int)i;
		}
		return 0;
	}
	if (++rp->n > rp->max) {
		kcg_why(rp->why, "STO03: more than %zu error lines (the import had fewer lines)", rp->max);
		return KCG_EPAYLOAD;
	}
	uint64_t no = 0;
	char sku[KCG_MIRAKL_SKU_MAX] = "", reason[REASON_MAX] = "(no reason given)";
	if ((size_t)rp->line_col < nf && kcg_parse_u64(f[rp->line_col], 1, UINT32_MAX, &no) != 0)
		no = 0;
	if (rp->sku_col >= 0 && (size_t)rp->sku_col < nf && strlen(f[rp->sku_col]) < sizeof(sku))
		memcpy(sku, f[rp->sku_col], strlen(f[rp->sku_col]) + 1);
	if ((size_t)rp->reason_col < nf && *f[rp->reason_col])
		kcg_printable(reason, sizeof(reason), f[rp->reason_col], strlen(f[rp->reason_col]), 0);
	if (no == 0 && !*sku) {
		kcg_why(rp->why, "STO03: error line %zu names neither a line number nor an offer-sku", line);
		return KCG_EPAYLOAD;
	}
	return rp->fn(no, sku, reason, rp->arg);
}

int kcg_mirakl_sto03_parse(const struct kcg_reply *r, size_t max_lines,
			   int (*fn)(uint64_t line, const char *sku, const char *reason, void *arg), void *arg,
			   char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, "STO03", why);
	if (rc != 1)
		return rc;
	struct report rp = { .fn = fn, .arg = arg, .max = max_lines, .why = why, .sku_col = -1, .reason_col = 1,
			     .line_col = 0 };
	rc = kcg_csv_each(r->body ? r->body : "", r->body ? r->len : 0, REPORT_COLS, report_record, &rp);
	if (rc == KCG_EPAYLOAD && !why[0])
		kcg_why(why, "STO03: the error report is not CSV kcgate reads (an unterminated quote)");
	else if (rc == -ENOMEM)
		kcg_why(why, "STO03: out of memory");
	return rc;
}

int kcg_mirakl_of21(const struct kcg_mirakl_config *cfg, uint64_t offset, unsigned max, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (max == 0 || max > KCG_MIRAKL_PAGE_MAX)
		max = KCG_MIRAKL_PAGE_MAX;
	mirakl_buf_base(&url, cfg, "/api/offers");
	kcg_dynbuf_printf(&url, "?max=%u&offset=%llu", max, (unsigned long long)offset);
	mirakl_shop_query(&url, cfg, '&');
	return mirakl_init_call(cfg, out, "OF21", "GET", &url);
}

int kcg_mirakl_of21_parse(const struct kcg_reply *r, int (*fn)(const char *sku, int64_t quantity, void *arg), void *arg,
			  uint64_t *total, size_t *n, char why[KCG_ERROR_MAX])
{
	*total = 0;
	*n = 0;
	int rc = mirakl_triage(r, "OF21", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "OF21", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *offers = json_object_get(j, "offers"), *o;
	size_t i;
	rc = 0;
	if (!json_is_array(offers) || json_array_size(offers) > KCG_MIRAKL_PAGE_MAX ||
	    !count_of(json_object_get(j, "total_count"), total)) {
		kcg_why(why, "OF21: expected \"offers\" (an array of at most %d) and a total_count", KCG_MIRAKL_PAGE_MAX);
		rc = KCG_EPAYLOAD;
	}
	json_array_foreach(rc == 0 ? offers : NULL, i, o) {
		const char *sku = json_string_value(json_object_get(o, "shop_sku"));
		json_t *q = json_object_get(o, "quantity");
		if (json_is_false(json_object_get(o, "active"))) {
			(*n)++; /* inactive: sells nothing; counted for the paging only */
			continue;
		}
		if (!kcg_mirakl_stock_sku_ok(sku) || !json_is_integer(q) || json_integer_value(q) < 0) {
			kcg_why(why, "OF21: offer %zu: shop_sku (1-%d printable bytes) and quantity (a count) are required", i,
				KCG_MIRAKL_SKU_MAX - 1);
			rc = KCG_EPAYLOAD;
			break;
		}
		rc = fn(sku, (int64_t)json_integer_value(q), arg);
		if (rc != 0)
			break;
		(*n)++;
	}
	json_decref(j);
	return rc;
}
