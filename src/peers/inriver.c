/*
 * inriver.c: the inriver PIM REST client, pure (see peers/inriver.h).
 *
 * Facts behind the choices (../shared/docs/peers.md §2): the key travels in
 * X-inRiver-APIKey (marked secret, never logged), bodies are JSON, field
 * ids come from configuration. The answers are untrusted: each parser
 * checks the members it relies on, bounds what it keeps, and names the
 * member that was wrong; unknown members are ignored (vendors add fields).
 * Every @p why is printable ASCII.
 */
#include "kcgate/peers/inriver.h"
#include "kcgate/common.h"
#include "kcgate/dynbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PARSE_FLAGS JSON_REJECT_DUPLICATES
#define URL_MAX (64 * 1024)
#define BODY_MAX (8u * 1024u * 1024u) /* a 999-value map call is far below this */
#define API "/api/v1.0.0"

static void buf_base(struct kcg_dynbuf *b, const struct kcg_inriver_config *cfg, const char *path)
{
	const char *base = cfg->base_url ? cfg->base_url : "";
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	kcg_dynbuf_init(b, URL_MAX);
	kcg_dynbuf_add(b, base, n);
	kcg_dynbuf_addstr(b, API);
	kcg_dynbuf_addstr(b, path);
}

/* Fills what every call shares; takes @p url and @p body (a new reference, may be NULL). */
static int init_call(const struct kcg_inriver_config *cfg, struct kcg_call *out, const char *what,
		     const char *method, struct kcg_dynbuf *url, json_t *body)
{
	*out = (struct kcg_call){ .what = what, .method = method, .secret_headers = true };
	out->url = kcg_dynbuf_take(url, NULL);
	if (!out->url) {
		json_decref(body);
		return kcg_dynbuf_error(url);
	}
	out->timeout_s = (unsigned)cfg->timeout_s;
	if (body) {
		/* 15 digits: a price of 19.99 goes as 19.99, not 19.989999999999998 */
		out->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
		json_decref(body);
		if (!out->body)
			goto fail;
		out->body_len = strlen(out->body);
		if (out->body_len > BODY_MAX) {
			kcg_call_finish(out);
			return -E2BIG;
		}
		if (kcg_call_header(out, "Content-Type: application/json"))
			goto fail;
	}
	if (kcg_call_header(out, "X-inRiver-APIKey: %s", cfg->api_key ? cfg->api_key : "") ||
	    kcg_call_header(out, "Accept: application/json"))
		goto fail;
	return 0;
fail:
	kcg_call_finish(out);
	return -ENOMEM;
}

/* 1 for a 2xx answer; else -EAGAIN, KCG_ENOTFOUND or KCG_EPAYLOAD with why. */
static int triage(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX])
{
	char ex[KCG_ERROR_MAX];
	why[0] = '\0';
	if (r->status >= 200 && r->status < 300 && r->transport_error == 0)
		return 1;
	kcg_reply_excerpt(r, ex);
	kcg_why(why, "inriver %s: %s", what, ex);
	if (kcg_reply_transient(r))
		return -EAGAIN;
	return r->status == 404 ? KCG_ENOTFOUND : KCG_EPAYLOAD;
}

static json_t *load(const struct kcg_reply *r, const char *what, char why[KCG_ERROR_MAX])
{
	json_error_t err;
	json_t *j = json_loadb(r->body ? r->body : "", r->body ? r->len : 0, PARSE_FLAGS, &err);
	if (!j)
		kcg_why(why, "inriver %s: HTTP %ld with a body that is not JSON (%s)", what, r->status, err.text);
	return j;
}

/* 0 with *@p j the 2xx answer's JSON (the caller decrefs it); else
 * -EAGAIN, KCG_ENOTFOUND or KCG_EPAYLOAD with why. */
static int answer(const struct kcg_reply *r, const char *what, json_t **j, char why[KCG_ERROR_MAX])
{
	*j = NULL;
	int rc = triage(r, what, why);
	if (rc != 1)
		return rc;
	*j = load(r, what, why);
	return *j ? 0 : KCG_EPAYLOAD;
}

/* A positive entity id from a JSON integer (or a string of digits). */
static int id_of(const json_t *v, uint64_t *id)
{
	if (json_is_integer(v) && json_integer_value(v) > 0) {
		*id = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v) && kcg_parse_u64(json_string_value(v), 1, INT64_MAX, id) == 0)
		return 0;
	return -EINVAL;
}

int kcg_inriver_summary(const struct kcg_inriver_config *cfg, uint64_t id, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (id == 0)
		return -EINVAL;
	buf_base(&url, cfg, "/entities/");
	kcg_dynbuf_printf(&url, "%llu/summary", (unsigned long long)id);
	return init_call(cfg, out, "entity summary", "GET", &url, NULL);
}

int kcg_inriver_summary_parse(const struct kcg_reply *r, char type[KCG_INRIVER_FIELD_MAX], char why[KCG_ERROR_MAX])
{
	json_t *j;
	int rc = answer(r, "entity summary", &j, why);
	if (rc != 0)
		return rc;
	rc = KCG_EPAYLOAD;
	json_t *t = json_object_get(j, "entityTypeId");
	if (!json_is_object(j))
		kcg_why(why, "inriver entity summary: expected a JSON object");
	else if (!json_is_string(t) || json_string_length(t) == 0)
		kcg_why(why, "inriver entity summary: entityTypeId: expected a non-empty string");
	else if (json_string_length(t) >= KCG_INRIVER_FIELD_MAX)
		kcg_why(why, "inriver entity summary: entityTypeId: longer than %d bytes", KCG_INRIVER_FIELD_MAX - 1);
	else {
		memcpy(type, json_string_value(t), json_string_length(t) + 1);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

int kcg_inriver_fields_get(const struct kcg_inriver_config *cfg, uint64_t id, const char *const *fields, size_t n,
			   struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (id == 0 || n == 0)
		return -EINVAL;
	buf_base(&url, cfg, "/entities/");
	kcg_dynbuf_printf(&url, "%llu/fieldvalues?fieldTypeIds=", (unsigned long long)id);
	for (size_t i = 0; i < n; i++) {
		char *e = kcg_url_escape(fields[i]);
		if (!e) {
			kcg_dynbuf_finish(&url);
			return -ENOMEM;
		}
		kcg_dynbuf_printf(&url, "%s%s", i ? "," : "", e);
		free(e);
	}
	return init_call(cfg, out, "field values", "GET", &url, NULL);
}

/* A value kcgate keeps: a scalar, or any JSON no longer than VALUE_MAX. */
static bool value_fits(const json_t *v)
{
	if (!json_is_object(v) && !json_is_array(v))
		return !json_is_string(v) || json_string_length(v) <= KCG_INRIVER_VALUE_MAX;
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	bool ok = s && strlen(s) <= KCG_INRIVER_VALUE_MAX;
	free(s);
	return ok;
}

int kcg_inriver_fields_get_parse(const struct kcg_reply *r, json_t **values, char why[KCG_ERROR_MAX])
{
	*values = NULL;
	json_t *j;
	int rc = answer(r, "field values", &j, why);
	if (rc != 0)
		return rc;
	json_t *out = json_object();
	size_t i;
	json_t *el;
	rc = KCG_EPAYLOAD;
	if (!out) {
		rc = -ENOMEM;
		goto done;
	}
	if (!json_is_array(j)) {
		kcg_why(why, "inriver field values: expected a JSON array");
		goto done;
	}
	if (json_array_size(j) > 1000) {
		kcg_why(why, "inriver field values: %zu values, more than the 1000 kcgate reads", json_array_size(j));
		goto done;
	}
	json_array_foreach(j, i, el) {
		json_t *ft = json_object_get(el, "fieldTypeId");
		json_t *v = json_object_get(el, "value");
		if (!json_is_object(el)) {
			kcg_why(why, "inriver field values: [%zu]: expected an object", i);
			goto done;
		}
		if (!json_is_string(ft) || json_string_length(ft) == 0 ||
		    json_string_length(ft) >= KCG_INRIVER_FIELD_MAX) {
			kcg_why(why, "inriver field values: [%zu].fieldTypeId: expected a string of 1 to %d bytes", i,
				KCG_INRIVER_FIELD_MAX - 1);
			goto done;
		}
		if (v && !value_fits(v)) {
			kcg_why(why, "inriver field values: [%zu].value (%s): longer than %d bytes", i,
				json_string_value(ft), KCG_INRIVER_VALUE_MAX);
			goto done;
		}
		json_object_set(out, json_string_value(ft), v ? v : json_null());
	}
	*values = out;
	out = NULL;
	rc = 0;
done:
	json_decref(out);
	json_decref(j);
	return rc;
}

int kcg_inriver_fields_put(const struct kcg_inriver_config *cfg, uint64_t id, const json_t *values,
			   struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (id == 0 || !json_is_object(values) || json_object_size(values) == 0)
		return -EINVAL;
	json_t *arr = json_array();
	if (!arr)
		return -ENOMEM;
	/* key order, so one set of values is always the same body */
	const char **keys = calloc(json_object_size(values), sizeof(*keys));
	size_t n = 0;
	const char *k;
	json_t *v;
	if (!keys) {
		json_decref(arr);
		return -ENOMEM;
	}
	json_object_foreach((json_t *)values, k, v) {
		if (!json_is_string(v) && !json_is_number(v) && !json_is_null(v)) {
			free(keys);
			json_decref(arr);
			return -EINVAL;
		}
		keys[n++] = k;
	}
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:O}", "fieldTypeId", keys[i], "value",
						     json_object_get(values, keys[i])));
	free(keys);
	buf_base(&url, cfg, "/entities/");
	kcg_dynbuf_printf(&url, "%llu/fieldvalues", (unsigned long long)id);
	return init_call(cfg, out, "set field values", "PUT", &url, arr);
}

int kcg_inriver_fields_put_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX])
{
	int rc = triage(r, "set field values", why);
	return rc == 1 ? 0 : rc;
}

static json_t *type_criterion(const struct kcg_inriver_config *cfg)
{
	return json_pack("{s:s, s:s, s:s}", "type", "EntityTypeId", "value", cfg->entity_type ? cfg->entity_type : "Item",
			 "operator", "Equal");
}

int kcg_inriver_query_sku(const struct kcg_inriver_config *cfg, const char *sku, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (!sku || !*sku)
		return -EINVAL;
	json_t *q = json_pack("{s:[o], s:[{s:s, s:s, s:s}]}", "systemCriteria", type_criterion(cfg), "dataCriteria",
			      "fieldTypeId", cfg->sku_field ? cfg->sku_field : "ItemNumber", "value", sku, "operator",
			      "Equal");
	if (!q)
		return -ENOMEM;
	buf_base(&url, cfg, "/query");
	return init_call(cfg, out, "query", "POST", &url, q);
}

int kcg_inriver_query_modified(const struct kcg_inriver_config *cfg, uint64_t since_ms, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	char t[32];
	*out = (struct kcg_call){ 0 };
	json_t *crit = json_array();
	if (!crit || json_array_append_new(crit, type_criterion(cfg)) != 0) {
		json_decref(crit);
		return -ENOMEM;
	}
	if (since_ms) {
		kcg_format_time(since_ms, t, sizeof(t)); /* inriver's form: 2024-12-31T19:00:00.000Z */
		json_array_append_new(crit, json_pack("{s:s, s:s, s:s}", "type", "LastModified", "operator",
						      "GreaterThan", "value", t));
	}
	json_t *q = json_pack("{s:o}", "systemCriteria", crit);
	if (!q)
		return -ENOMEM;
	buf_base(&url, cfg, "/query");
	return init_call(cfg, out, since_ms ? "query LastModified" : "query all", "POST", &url, q);
}

int kcg_inriver_query_parse(const struct kcg_reply *r, size_t max, json_t **ids, char why[KCG_ERROR_MAX])
{
	*ids = NULL;
	json_t *j;
	int rc = answer(r, "query", &j, why);
	if (rc != 0)
		return rc;
	json_t *arr = json_object_get(j, "entityIds"), *out = json_array(), *el;
	size_t i;
	rc = KCG_EPAYLOAD;
	if (!out) {
		rc = -ENOMEM;
		goto done;
	}
	if (!json_is_object(j)) {
		kcg_why(why, "inriver query: expected a JSON object");
		goto done;
	}
	if (!json_is_array(arr)) {
		kcg_why(why, "inriver query: entityIds: expected an array");
		goto done;
	}
	if (json_array_size(arr) > max) {
		kcg_why(why, "inriver query: %zu entity ids, more than the %zu kcgate takes ([inriver] max_items)",
			json_array_size(arr), max);
		goto done;
	}
	json_array_foreach(arr, i, el) {
		uint64_t id;
		if (id_of(el, &id) != 0) {
			kcg_why(why, "inriver query: entityIds[%zu]: expected a positive integer", i);
			goto done;
		}
		json_array_append_new(out, json_integer((json_int_t)id));
	}
	*ids = out;
	out = NULL;
	rc = 0;
done:
	json_decref(out);
	json_decref(j);
	return rc;
}

int kcg_inriver_map(const struct kcg_inriver_config *cfg, const char *const *values, size_t n, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	if (n == 0 || n > KCG_INRIVER_MAP_BATCH)
		return -EINVAL;
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		if (json_array_append_new(arr, json_string(values[i])) != 0) {
			json_decref(arr);
			return -EINVAL; /* not UTF-8 */
		}
	json_t *q = json_pack("{s:s, s:o}", "fieldTypeId", cfg->sku_field ? cfg->sku_field : "ItemNumber",
			      "uniqueValues", arr);
	if (!q)
		return -ENOMEM;
	buf_base(&url, cfg, "/entities:mapuniquevalues");
	return init_call(cfg, out, "mapuniquevalues", "POST", &url, q);
}

int kcg_inriver_map_parse(const struct kcg_reply *r, json_t **map, char why[KCG_ERROR_MAX])
{
	*map = NULL;
	json_t *j;
	int rc = answer(r, "mapuniquevalues", &j, why);
	if (rc != 0)
		return rc;
	json_t *out = json_object(), *v;
	const char *k;
	rc = KCG_EPAYLOAD;
	if (!out) {
		rc = -ENOMEM;
		goto done;
	}
	if (!json_is_object(j)) {
		kcg_why(why, "inriver mapuniquevalues: expected a JSON object");
		goto done;
	}
	if (json_object_size(j) > KCG_INRIVER_MAP_BATCH) {
		kcg_why(why, "inriver mapuniquevalues: %zu values, more than the %d asked", json_object_size(j),
			KCG_INRIVER_MAP_BATCH);
		goto done;
	}
	json_object_foreach(j, k, v) {
		json_t *ids = json_array(), *el;
		uint64_t id;
		size_t i;
		if (!ids) {
			rc = -ENOMEM;
			goto done;
		}
		json_object_set_new(out, k, ids);
		if (json_is_null(v))
			continue; /* not held by inriver */
		if (id_of(v, &id) == 0) {
			json_array_append_new(ids, json_integer((json_int_t)id));
			continue;
		}
		if (!json_is_array(v) || json_array_size(v) > 1000) {
			kcg_why(why, "inriver mapuniquevalues: \"%.60s\": expected an entity id or an array of ids", k);
			goto done;
		}
		json_array_foreach(v, i, el) {
			if (id_of(el, &id) != 0) {
				kcg_why(why, "inriver mapuniquevalues: \"%.60s\"[%zu]: expected a positive integer", k, i);
				goto done;
			}
			json_array_append_new(ids, json_integer((json_int_t)id));
		}
	}
	/* drop the values mapped to nothing, so "absent" means one thing */
	const char *key;
	void *tmp;
	json_object_foreach_safe(out, tmp, key, v) {
		if (json_array_size(v) == 0)
			json_object_del(out, key);
	}
	*map = out;
	out = NULL;
	rc = 0;
done:
	json_decref(out);
	json_decref(j);
	return rc;
}

int kcg_inriver_getempty(const struct kcg_inriver_config *cfg, struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	char *e = kcg_url_escape(cfg->entity_type ? cfg->entity_type : "Item");
	if (!e)
		return -ENOMEM;
	buf_base(&url, cfg, "/entities:getempty?entityTypeId=");
	kcg_dynbuf_addstr(&url, e);
	free(e);
	return init_call(cfg, out, "getempty", "GET", &url, NULL);
}

int kcg_inriver_getempty_parse(const struct kcg_reply *r, json_t **model, char why[KCG_ERROR_MAX])
{
	*model = NULL;
	json_t *j;
	int rc = answer(r, "getempty", &j, why);
	if (rc != 0)
		return rc;
	json_t *fv = json_object_get(j, "fieldValues"), *el;
	size_t i;
	if (!json_is_object(j)) {
		kcg_why(why, "inriver getempty: expected a JSON object");
		goto fail;
	}
	if (!json_is_array(fv) || json_array_size(fv) > 10000) {
		kcg_why(why, "inriver getempty: fieldValues: expected an array (at most 10000)");
		goto fail;
	}
	json_array_foreach(fv, i, el) {
		if (!json_is_string(json_object_get(el, "fieldTypeId"))) {
			kcg_why(why, "inriver getempty: fieldValues[%zu].fieldTypeId: expected a string", i);
			goto fail;
		}
	}
	*model = j;
	return 0;
fail:
	json_decref(j);
	return KCG_EPAYLOAD;
}

int kcg_inriver_createnew(const struct kcg_inriver_config *cfg, const json_t *model, const json_t *values,
			  struct kcg_call *out)
{
	struct kcg_dynbuf url;
	*out = (struct kcg_call){ 0 };
	json_t *m = json_deep_copy(model);
	json_t *fv = json_object_get(m, "fieldValues"), *el;
	if (!m || !json_is_array(fv) || !json_is_object(values)) {
		json_decref(m);
		return m ? -EINVAL : -ENOMEM;
	}
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)values, k, v) {
		size_t i;
		bool set = false;
		json_array_foreach(fv, i, el) {
			const char *ft = json_string_value(json_object_get(el, "fieldTypeId"));
			if (ft && strcmp(ft, k) == 0) {
				json_object_set(el, "value", v);
				set = true;
			}
		}
		if (!set)
			json_array_append_new(fv, json_pack("{s:s, s:O}", "fieldTypeId", k, "value", v));
	}
	buf_base(&url, cfg, "/entities:createnew");
	return init_call(cfg, out, "createnew", "POST", &url, m);
}

int kcg_inriver_createnew_parse(const struct kcg_reply *r, uint64_t *id, char why[KCG_ERROR_MAX])
{
	json_t *j;
	int rc = answer(r, "createnew", &j, why);
	if (rc != 0)
		return rc;
	rc = KCG_EPAYLOAD;
	if (!json_is_object(j))
		kcg_why(why, "inriver createnew: expected a JSON object");
	else if (id_of(json_object_get(j, "entityId"), id) == 0 || id_of(json_object_get(j, "id"), id) == 0 ||
		 id_of(json_object_get(json_object_get(j, "summary"), "id"), id) == 0)
		rc = 0;
	else
		kcg_why(why, "inriver createnew: no entity id (entityId, id or summary.id)");
	json_decref(j);
	return rc;
}
