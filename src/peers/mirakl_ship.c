/*
 * mirakl_ship.c: the Mirakl client's shipping calls (mirakl.h): SH21
 * (carriers), OR23 (tracking), OR24 (ship), ST01 (shipments). Shapes from
 * the seller OpenAPI extract (shared/ref/mirakl-mmp-seller-openapi.subset.json)
 * and ../shared/docs/peers.md §1:
 *  - SH21 `GET /api/shipping/carriers` -> {"carriers":[{"code","label",
 *    "standard_code","tracking_url"}]}, code and label required; at most
 *    once a day;
 *  - OR23 `PUT /api/orders/{id}/tracking` {carrier_code | carrier_name
 *    (+ carrier_url), tracking_number} -> 204;
 *  - OR24 `PUT /api/orders/{id}/ship`, no body, only in SHIPPING -> 204,
 *    400 when the state is wrong;
 *  - ST01 `POST /api/shipments` {"shipments":[...]} (1..1000) -> 201 with
 *    shipment_errors / shipment_success per order;
 *  - ST11 `GET /api/shipments?order_id=` -> {"data":[{"order_id",
 *    "tracking":{"tracking_number",...},...}],"next_page_token"} (seek
 *    pagination): how a retry of ST01 learns whether it went through.
 * Answers are untrusted: sizes and lengths are bounded.
 */
#include "mirakl_private.h"

#include "kcgate/common.h"
#include "kcgate/json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A body of @p j (stolen) as the call's JSON body. */
static int json_body(struct kcg_call *out, json_t *j)
{
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!text || kcg_call_header(out, "Content-Type: application/json")) {
		free(text);
		kcg_call_finish(out);
		return -ENOMEM;
	}
	out->body = text;
	out->body_len = strlen(text);
	return 0;
}

static bool text_ok(const char *s, size_t max)
{
	return s && *s && strlen(s) <= max;
}

int kcg_mirakl_sh21(const struct kcg_mirakl_config *cfg, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	mirakl_buf_base(&url, cfg, "/api/shipping/carriers");
	mirakl_shop_query(&url, cfg, '?');
	return mirakl_init_call(cfg, out, "SH21", "GET", &url);
}

int kcg_mirakl_sh21_parse(const struct kcg_reply *r, json_t **carriers, char why[KCG_ERROR_MAX])
{
	*carriers = NULL;
	int rc = mirakl_triage(r, "SH21", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "SH21", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *arr = json_object_get(j, "carriers"), *c, *out = json_array();
	size_t i;
	rc = 0;
	if (!json_is_array(arr)) {
		kcg_why(why, "SH21: \"carriers\" is not an array");
		rc = KCG_EPAYLOAD;
	} else if (json_array_size(arr) > KCG_MIRAKL_CARRIERS_MAX) {
		kcg_why(why, "SH21: %zu carriers, more than the %d kcgate keeps", json_array_size(arr),
			KCG_MIRAKL_CARRIERS_MAX);
		rc = KCG_EPAYLOAD;
	}
	json_array_foreach(rc == 0 ? arr : NULL, i, c) {
		const char *code = json_string_value(json_object_get(c, "code"));
		const char *label = json_string_value(json_object_get(c, "label"));
		const char *url = json_string_value(json_object_get(c, "tracking_url"));
		if (!text_ok(code, KCG_MIRAKL_CARRIER_MAX) || !label || strlen(label) > KCG_MIRAKL_CARRIER_MAX ||
		    (url && strlen(url) > KCG_MIRAKL_URL_MAX)) {
			kcg_why(why, "SH21: carriers[%zu] lacks a code and a label (or one is longer than %d bytes)", i,
				KCG_MIRAKL_CARRIER_MAX);
			rc = KCG_EPAYLOAD;
			break;
		}
		if (json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "code", code, "label", label, "tracking_url",
							 url ? url : ""))) {
			rc = -ENOMEM;
			break;
		}
	}
	json_decref(j);
	if (rc == 0 && out)
		*carriers = out;
	else
		json_decref(out);
	return rc == 0 && !out ? -ENOMEM : rc;
}

int kcg_mirakl_or23(const struct kcg_mirakl_config *cfg, const char *order_id, const struct kcg_mirakl_tracking *t,
		    struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	bool code = t->carrier_code && *t->carrier_code, name = t->carrier_name && *t->carrier_name;
	if (!order_id || !*order_id || code == name)
		return -EINVAL; /* a registered carrier by code, or an unregistered one by name */
	json_t *j = json_object();
	if (!j)
		return -ENOMEM;
	if (code)
		json_object_set_new(j, "carrier_code", json_string(t->carrier_code));
	else
		json_object_set_new(j, "carrier_name", json_string(t->carrier_name));
	/* carrier_url is "unused for registered carriers" */
	if (name && t->carrier_url && *t->carrier_url)
		json_object_set_new(j, "carrier_url", json_string(t->carrier_url));
	if (t->tracking_number && *t->tracking_number)
		json_object_set_new(j, "tracking_number", json_string(t->tracking_number));
	struct kcg_dynbuf url;
	mirakl_order_url(&url, cfg, order_id, "/tracking");
	int rc = mirakl_init_call(cfg, out, "OR23", "PUT", &url);
	if (rc != 0) {
		json_decref(j);
		return rc;
	}
	return json_body(out, j);
}

int kcg_mirakl_or24(const struct kcg_mirakl_config *cfg, const char *order_id, struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	if (!order_id || !*order_id)
		return -EINVAL;
	struct kcg_dynbuf url;
	mirakl_order_url(&url, cfg, order_id, "/ship");
	int rc = mirakl_init_call(cfg, out, "OR24", "PUT", &url);
	/* no body: Content-Length 0, and no Content-Type (libcurl would add a form's) */
	if (rc == 0 && kcg_call_header(out, "Content-Type:")) {
		kcg_call_finish(out);
		rc = -ENOMEM;
	}
	return rc;
}

int kcg_mirakl_ship_parse(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, what, why);
	return rc == 1 ? 0 : rc;
}

int kcg_mirakl_st01(const struct kcg_mirakl_config *cfg, const json_t *shipments, struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	size_t n = json_array_size(shipments);
	if (n == 0 || n > KCG_MIRAKL_SHIPMENTS_MAX)
		return -EINVAL;
	struct kcg_dynbuf url;
	mirakl_buf_base(&url, cfg, "/api/shipments");
	mirakl_shop_query(&url, cfg, '?');
	int rc = mirakl_init_call(cfg, out, "ST01", "POST", &url);
	if (rc != 0)
		return rc;
	return json_body(out, json_pack("{s:O}", "shipments", (json_t *)shipments));
}

int kcg_mirakl_st01_parse(const struct kcg_reply *r, const char *order_id, char why[KCG_ERROR_MAX])
{
	int rc = mirakl_triage(r, "ST01", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "ST01", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *errs = json_object_get(j, "shipment_errors"), *ok = json_object_get(j, "shipment_success"), *e;
	size_t i;
	bool refused = false;
	rc = KCG_EPAYLOAD;
	kcg_why(why, "ST01: the answer names order %s neither in shipment_success nor in shipment_errors", order_id);
	json_array_foreach(errs, i, e) {
		const char *id = json_string_value(json_object_get(e, "order_id"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		if (id && strcmp(id, order_id) == 0) {
			char m[201];
			kcg_printable(m, sizeof(m), msg ? msg : "", msg ? strlen(msg) : 0, 0);
			kcg_why(why, "ST01: Mirakl refused the shipment of order %s: %s", order_id, m);
			refused = true;
			break;
		}
	}
	json_array_foreach(refused ? NULL : ok, i, e) {
		const char *id = json_string_value(json_object_get(e, "order_id"));
		if (id && strcmp(id, order_id) == 0) {
			why[0] = '\0';
			rc = 0;
			break;
		}
	}
	json_decref(j);
	return rc;
}

int kcg_mirakl_st11(const struct kcg_mirakl_config *cfg, const char *order_id, const char *page_token,
		    struct kcg_call *out)
{
	*out = (struct kcg_call){ 0 };
	if (!order_id || !*order_id)
		return -EINVAL;
	struct kcg_dynbuf url;
	mirakl_buf_base(&url, cfg, "/api/shipments?order_id=");
	mirakl_buf_escaped(&url, order_id);
	if (page_token && *page_token) {
		kcg_dynbuf_addstr(&url, "&page_token=");
		mirakl_buf_escaped(&url, page_token);
	}
	mirakl_shop_query(&url, cfg, '&');
	return mirakl_init_call(cfg, out, "ST11", "GET", &url);
}

/* Whether ST11 shipment lines @p got are exactly @p want's (order_line_id, quantity). */
static bool same_lines(const json_t *got, const json_t *want)
{
	size_t i, j;
	const json_t *w, *g;
	if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
		return false;
	json_array_foreach(want, i, w) {
		bool hit = false;
		json_array_foreach(got, j, g) {
			const char *gid = json_string_value(json_object_get(g, "order_line_id"));
			if (gid && strcmp(gid, kcg_json_str(w, "order_line_id")) == 0 &&
			    json_integer_value(json_object_get(g, "quantity")) == json_integer_value(json_object_get(w, "quantity")))
				hit = true;
		}
		if (!hit)
			return false;
	}
	return true;
}

int kcg_mirakl_st11_find(const struct kcg_reply *r, const char *order_id, const char *tracking_number,
			 const json_t *lines, size_t *matches, char next[KCG_MIRAKL_TOKEN_MAX + 1], char why[KCG_ERROR_MAX])
{
	next[0] = '\0';
	int rc = mirakl_triage(r, "ST11", why);
	if (rc != 1)
		return rc;
	json_t *j = mirakl_load_object(r, "ST11", why);
	if (!j)
		return KCG_EPAYLOAD;
	json_t *data = json_object_get(j, "data"), *sh;
	json_t *tok = json_object_get(j, "next_page_token");
	size_t i;
	rc = 0;
	if (!json_is_array(data) || json_array_size(data) > KCG_MIRAKL_SHIPMENTS_MAX) {
		kcg_why(why, "ST11: \"data\" is not an array of at most %d shipments", KCG_MIRAKL_SHIPMENTS_MAX);
		rc = KCG_EPAYLOAD;
	} else if (tok && !json_is_null(tok) &&
		   (!json_is_string(tok) || strlen(json_string_value(tok)) > KCG_MIRAKL_TOKEN_MAX)) {
		kcg_why(why, "ST11: \"next_page_token\" is not a token of at most %d bytes", KCG_MIRAKL_TOKEN_MAX);
		rc = KCG_EPAYLOAD;
	}
	json_array_foreach(rc == 0 ? data : NULL, i, sh) {
		const char *id = json_string_value(json_object_get(sh, "order_id"));
		const char *num = json_string_value(json_object_get(json_object_get(sh, "tracking"), "tracking_number"));
		if (id && num && strcmp(id, order_id) == 0 && strcmp(num, tracking_number) == 0 &&
		    (!lines || same_lines(json_object_get(sh, "shipment_lines"), lines)))
			(*matches)++;
	}
	if (rc == 0 && json_is_string(tok))
		memcpy(next, json_string_value(tok), strlen(json_string_value(tok)) + 1);
	json_decref(j);
	return rc;
}

bool kcg_mirakl_state_shipped(const char *state)
{
	static const char *const after[] = { "SHIPPED", "TO_COLLECT", "RECEIVED", "CLOSED" };
	for (size_t i = 0; state && i < sizeof(after) / sizeof(after[0]); i++)
		if (strcmp(state, after[i]) == 0)
			return true;
	return false;
}
