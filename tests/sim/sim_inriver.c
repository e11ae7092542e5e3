/*
 * sim_inriver.c: inriver's REST API (docs/sim.md section 9) over an
 * in-memory entity store, under /inriver/api/v1.0.0/...: entity summary,
 * field values get/set, query (EntityTypeId, LastModified, one data
 * criterion), entities:mapuniquevalues (<= 999 values), getempty and
 * createnew. Field types are per entity type (a fixed table: a write to a
 * field the type does not have is a 400, as inriver answers). The API key
 * (X-inRiver-APIKey) is checked by sim.c when --inriver-key is given; the
 * faults are sim.c's. Every field write is kept for GET /_sim/state.
 *
 * Shapes peers.md does not confirm (mapuniquevalues' answer, the
 * getempty/createnew models) are assumptions, marked in docs/sim.md.
 */
#include "sim.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API "/api/v1.0.0"
#define MAP_MAX 999

enum ftype { FT_STRING, FT_INTEGER, FT_DOUBLE, FT_DATETIME };

static const struct ftdef {
	const char *entity_type;
	const char *field;
	enum ftype type;
	const char *dflt; /* a string field's default in the getempty model; NULL: null */
} field_types[] = {
	{ "Item", "ItemNumber", FT_STRING, NULL },       { "Item", "ItemName", FT_STRING, NULL },
	{ "Item", "ItemDescription", FT_STRING, "" },    { "Item", "KhaosStatus", FT_STRING, NULL },
	{ "Item", "KhaosAvailable", FT_INTEGER, NULL },  { "Item", "KhaosPrice", FT_DOUBLE, NULL },
	{ "Item", "KhaosLastSync", FT_DATETIME, NULL },  { "Product", "ProductName", FT_STRING, NULL },
	{ "Product", "ProductDescription", FT_STRING, NULL },
};
#define N_FIELD_TYPES (sizeof(field_types) / sizeof(field_types[0]))

struct entity {
	char *type;
	json_t *fields; /* field -> value */
	int64_t created_ms, modified_ms;
	bool deleted;
};

struct fwrite {
	long long entity_id;
	char *field;
	bool create; /* createnew rather than a PUT */
	bool dflt;   /* createnew: the value is the getempty model's default (the caller did not set it) */
};

/* Guarded by sim.lock. Entity id n is ents[n - 1]. */
static struct {
	struct entity *ents;
	size_t n, cap;
	struct fwrite *writes;
	size_t nw, wcap;
	unsigned long puts;
} ir;

static const struct ftdef *ftype_of(const char *type, const char *field)
{
	for (size_t i = 0; i < N_FIELD_TYPES; i++)
		if (strcmp(field_types[i].entity_type, type) == 0 && strcmp(field_types[i].field, field) == 0)
			return &field_types[i];
	return NULL;
}

static bool type_known(const char *type)
{
	for (size_t i = 0; i < N_FIELD_TYPES; i++)
		if (strcmp(field_types[i].entity_type, type) == 0)
			return true;
	return false;
}

/* NULL when @p v fits field @p field of @p type, else why. */
static const char *value_check(const char *type, const char *field, const json_t *v)
{
	const struct ftdef *d = ftype_of(type, field);
	if (!d)
		return "no such field type for this entity type";
	if (json_is_null(v))
		return NULL;
	switch (d->type) {
	case FT_INTEGER:
		return json_is_integer(v) ? NULL : "expected an integer";
	case FT_DOUBLE:
		return json_is_number(v) ? NULL : "expected a number";
	case FT_DATETIME: {
		int64_t ms;
		return json_is_string(v) && sim_parse_time(json_string_value(v), &ms) == 0 ? NULL
											   : "expected an ISO-8601 date-time";
	}
	default:
		return json_is_string(v) ? NULL : "expected a string";
	}
}

static struct entity *entity_get(long long id)
{
	if (id < 1 || (size_t)id > ir.n || ir.ents[id - 1].deleted)
		return NULL;
	return &ir.ents[id - 1];
}

static long long entity_add(const char *type, json_t *fields)
{
	sim_grow((void **)&ir.ents, &ir.cap, ir.n + 1, sizeof(*ir.ents));
	struct entity *e = &ir.ents[ir.n++];
	*e = (struct entity){ .type = sim_strdup(type), .fields = json_deep_copy(fields) };
	e->created_ms = e->modified_ms = sim_now_ms();
	return (long long)ir.n;
}

static void record_write(long long id, const char *field, bool create, bool dflt)
{
	sim_grow((void **)&ir.writes, &ir.wcap, ir.nw + 1, sizeof(*ir.writes));
	ir.writes[ir.nw++] = (struct fwrite){ id, sim_strdup(field), create, dflt };
}

/* The getempty model's value for field @p d (a new reference). */
static json_t *default_of(const struct ftdef *d)
{
	return d && d->dflt ? json_string(d->dflt) : json_null();
}

static json_t *summary(long long id, const struct entity *e)
{
	char c[32], m[32];
	sim_fmt_iso(e->created_ms, c);
	sim_fmt_iso(e->modified_ms, m);
	const char *name = json_string_value(json_object_get(e->fields, "ItemName"));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:n}", "id", (json_int_t)id, "displayName", name ? name : "",
			 "entityTypeId", e->type, "createdDate", c, "modifiedDate", m, "fieldSetId");
}

/* ---- calls ---- */

static void fieldvalues_get(struct sim_request *req, struct entity *e, struct sim_reply *r)
{
	const char *want = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "fieldTypeIds");
	json_t *out = json_array();
	if (want && *want) {
		size_t n;
		char **f = sim_split_csv(want, &n);
		for (size_t i = 0; i < n; i++) {
			if (!ftype_of(e->type, f[i])) {
				json_decref(out);
				sim_reply_mirakl_error(r, 400, "Field type %s does not exist", f[i]);
				sim_strv_free(f, n);
				return;
			}
			json_t *v = json_object_get(e->fields, f[i]);
			json_array_append_new(out, json_pack("{s:s, s:O}", "fieldTypeId", f[i], "value", v ? v : json_null()));
		}
		sim_strv_free(f, n);
	} else {
		for (size_t i = 0; i < N_FIELD_TYPES; i++) {
			if (strcmp(field_types[i].entity_type, e->type) != 0)
				continue;
			json_t *v = json_object_get(e->fields, field_types[i].field);
			json_array_append_new(out, json_pack("{s:s, s:O}", "fieldTypeId", field_types[i].field, "value",
							     v ? v : json_null()));
		}
	}
	sim_reply_json(r, 200, out);
}

static void fieldvalues_put(json_t *body, long long id, struct entity *e, struct sim_reply *r)
{
	size_t i;
	json_t *el;
	if (!json_is_array(body) || json_array_size(body) == 0) {
		sim_reply_mirakl_error(r, 400, "Expected a non-empty array of field values");
		return;
	}
	json_array_foreach(body, i, el) { /* all checked before any is written */
		const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
		json_t *v = json_object_get(el, "value");
		const char *why = f && v ? value_check(e->type, f, v) : "fieldTypeId and value are required";
		if (why) {
			sim_reply_mirakl_error(r, 400, "Invalid field value: %s", why);
			return;
		}
	}
	json_array_foreach(body, i, el) {
		const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
		json_object_set(e->fields, f, json_object_get(el, "value"));
		record_write(id, f, false, false);
	}
	ir.puts++;
	e->modified_ms = sim_now_ms();
	sim_reply_json(r, 200, json_incref(body));
}

static bool matches(const struct entity *e, const json_t *sys, const json_t *data)
{
	size_t i;
	json_t *c;
	json_array_foreach(sys, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *op = json_string_value(json_object_get(c, "operator"));
		const char *v = json_string_value(json_object_get(c, "value"));
		if (!t || !op || !v)
			return false;
		if (strcmp(t, "EntityTypeId") == 0 && strcmp(op, "Equal") == 0) {
			if (strcmp(e->type, v) != 0)
				return false;
		} else if (strcmp(t, "LastModified") == 0 && strcmp(op, "GreaterThan") == 0) {
			int64_t ms;
			if (sim_parse_time(v, &ms) != 0 || e->modified_ms <= ms)
				return false;
		} else {
			return false;
		}
	}
	json_array_foreach(data, i, c) {
		const char *f = json_string_value(json_object_get(c, "fieldTypeId"));
		const char *v = json_string_value(json_object_get(c, "value"));
		const char *have = f ? json_string_value(json_object_get(e->fields, f)) : NULL;
		if (!v || !have || strcmp(have, v) != 0)
			return false;
	}
	return true;
}

/* Checks a criteria array; NULL when fine. */
static const char *criteria_check(const json_t *sys, const json_t *data)
{
	size_t i;
	json_t *c;
	if ((sys && !json_is_array(sys)) || (data && !json_is_array(data)))
		return "systemCriteria and dataCriteria must be arrays";
	json_array_foreach(sys, i, c) {
		const char *t = json_string_value(json_object_get(c, "type"));
		const char *op = json_string_value(json_object_get(c, "operator"));
		if (!t || !op || !json_is_string(json_object_get(c, "value")))
			return "a system criterion needs type, operator and a string value";
		if (!(strcmp(t, "EntityTypeId") == 0 && strcmp(op, "Equal") == 0) &&
		    !(strcmp(t, "LastModified") == 0 && strcmp(op, "GreaterThan") == 0))
			return "unsupported system criterion (the sim knows EntityTypeId Equal, LastModified GreaterThan)";
	}
	json_array_foreach(data, i, c) {
		const char *op = json_string_value(json_object_get(c, "operator"));
		if (!json_is_string(json_object_get(c, "fieldTypeId")) || !op || strcmp(op, "Equal") != 0)
			return "a data criterion needs fieldTypeId, a value and operator Equal";
	}
	return NULL;
}

static void query(json_t *body, struct sim_reply *r)
{
	json_t *sys = json_object_get(body, "systemCriteria"), *data = json_object_get(body, "dataCriteria");
	const char *why = json_is_object(body) ? criteria_check(sys, data) : "expected a JSON object";
	if (why) {
		sim_reply_mirakl_error(r, 400, "%s", why);
		return;
	}
	json_t *ids = json_array();
	for (size_t i = 0; i < ir.n; i++)
		if (!ir.ents[i].deleted && matches(&ir.ents[i], sys, data))
			json_array_append_new(ids, json_integer((json_int_t)(i + 1)));
	sim_reply_json(r, 200, json_pack("{s:I, s:o}", "count", (json_int_t)json_array_size(ids), "entityIds", ids));
}

/* value -> id, or -> [ids] when several entities hold it (the field is not unique after all). */
static void mapunique(json_t *body, struct sim_reply *r)
{
	const char *field = json_string_value(json_object_get(body, "fieldTypeId"));
	json_t *vals = json_object_get(body, "uniqueValues"), *v;
	size_t i;
	if (!field || !json_is_array(vals)) {
		sim_reply_mirakl_error(r, 400, "fieldTypeId and uniqueValues are required");
		return;
	}
	if (json_array_size(vals) > MAP_MAX) {
		sim_reply_mirakl_error(r, 400, "At most 999 unique values per call");
		return;
	}
	json_t *want = json_object();
	json_array_foreach(vals, i, v) {
		if (!json_is_string(v)) {
			json_decref(want);
			sim_reply_mirakl_error(r, 400, "uniqueValues must be strings");
			return;
		}
		json_object_set_new(want, json_string_value(v), json_array());
	}
	for (size_t k = 0; k < ir.n; k++) {
		if (ir.ents[k].deleted)
			continue;
		const char *have = json_string_value(json_object_get(ir.ents[k].fields, field));
		json_t *slot = have ? json_object_get(want, have) : NULL;
		if (slot)
			json_array_append_new(slot, json_integer((json_int_t)(k + 1)));
	}
	json_t *out = json_object();
	const char *key;
	json_object_foreach(want, key, v) {
		if (json_array_size(v) == 1)
			json_object_set(out, key, json_array_get(v, 0));
		else if (json_array_size(v) > 1)
			json_object_set(out, key, v);
	}
	json_decref(want);
	sim_reply_json(r, 200, out);
}

static void getempty(struct sim_request *req, struct sim_reply *r)
{
	const char *type = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "entityTypeId");
	if (!type || !type_known(type)) {
		sim_reply_mirakl_error(r, 400, "Unknown entity type %s", type ? type : "(none)");
		return;
	}
	json_t *fv = json_array();
	for (size_t i = 0; i < N_FIELD_TYPES; i++)
		if (strcmp(field_types[i].entity_type, type) == 0)
			json_array_append_new(fv, json_pack("{s:s, s:o}", "fieldTypeId", field_types[i].field, "value",
							    default_of(&field_types[i])));
	sim_reply_json(r, 200, json_pack("{s:s, s:n, s:o}", "entityTypeId", type, "fieldSetId", "fieldValues", fv));
}

static void createnew(json_t *body, struct sim_reply *r)
{
	const char *type = json_string_value(json_object_get(body, "entityTypeId"));
	json_t *fv = json_object_get(body, "fieldValues"), *el;
	size_t i;
	if (!type || !type_known(type) || !json_is_array(fv)) {
		sim_reply_mirakl_error(r, 400, "entityTypeId (a known type) and fieldValues are required");
		return;
	}
	json_t *fields = json_object();
	json_array_foreach(fv, i, el) {
		const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
		json_t *v = json_object_get(el, "value");
		const char *why = f && v ? value_check(type, f, v) : "fieldTypeId and value are required";
		if (why) {
			json_decref(fields);
			sim_reply_mirakl_error(r, 400, "Invalid field value: %s", why);
			return;
		}
		if (!json_is_null(v))
			json_object_set(fields, f, v);
	}
	long long id = entity_add(type, fields);
	json_decref(fields);
	/* a write per field given a value, or cleared from a default: marked when it is the model's default */
	json_array_foreach(fv, i, el) {
		const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
		json_t *v = json_object_get(el, "value");
		json_t *d = default_of(ftype_of(type, f));
		if (!json_is_null(v) || !json_is_null(d))
			record_write(id, f, true, json_equal(v, d));
		json_decref(d);
	}
	sim_reply_json(r, 200, json_pack("{s:I, s:o}", "entityId", (json_int_t)id, "summary",
					 summary(id, entity_get(id))));
}

static json_t *body_of(struct sim_request *req, struct sim_reply *r)
{
	json_error_t err;
	json_t *j = json_loadb(req->body ? req->body : "", req->body_len, 0, &err);
	if (!j)
		sim_reply_mirakl_error(r, 400, "Invalid JSON: %s", err.text);
	return j;
}

void sim_inriver_handle(struct sim_request *req, const char *sub, struct sim_reply *r)
{
	const char *m = req->method, *p;
	json_t *body = NULL;
	bool post = strcmp(m, "POST") == 0, put = strcmp(m, "PUT") == 0, get = strcmp(m, "GET") == 0;
	if (strncmp(sub, API, strlen(API)) != 0) {
		sim_reply_mirakl_error(r, 404, "Not Found");
		return;
	}
	p = sub + strlen(API);
	if ((post || put) && !(body = body_of(req, r)))
		return;
	pthread_mutex_lock(&sim.lock);
	if (strcmp(p, "/query") == 0 && post) {
		query(body, r);
	} else if (strcmp(p, "/entities:mapuniquevalues") == 0 && post) {
		mapunique(body, r);
	} else if (strcmp(p, "/entities:getempty") == 0 && get) {
		getempty(req, r);
	} else if (strcmp(p, "/entities:createnew") == 0 && post) {
		createnew(body, r);
	} else if (strncmp(p, "/entities/", 10) == 0) {
		char *end;
		long long id = strtoll(p + 10, &end, 10);
		struct entity *e = end != p + 10 ? entity_get(id) : NULL;
		if (!e)
			sim_reply_mirakl_error(r, 404, "Entity %s not found", p + 10);
		else if (strcmp(end, "/summary") == 0 && get)
			sim_reply_json(r, 200, summary(id, e));
		else if (strcmp(end, "/fieldvalues") == 0 && get)
			fieldvalues_get(req, e, r);
		else if (strcmp(end, "/fieldvalues") == 0 && put)
			fieldvalues_put(body, id, e, r);
		else
			sim_reply_mirakl_error(r, 404, "Not Found");
	} else {
		sim_reply_mirakl_error(r, 404, "Not Found");
	}
	pthread_mutex_unlock(&sim.lock);
	json_decref(body);
}

/* ---- control ---- */

void sim_inriver_ctl_entities(json_t *body, struct sim_reply *r)
{
	json_t *list = json_object_get(body, "entities"), *el, *v;
	size_t i;
	const char *f;
	if (!json_is_array(list)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "entities: expected an array");
		return;
	}
	json_array_foreach(list, i, el) {
		const char *type = json_string_value(json_object_get(el, "entity_type"));
		json_t *fields = json_object_get(el, "fields");
		if (!type || !type_known(type) || (fields && !json_is_object(fields))) {
			sim_reply_ctl_error(r, 400, "invalid_payload",
					    "entities[%zu]: entity_type (Item or Product) and fields (an object)", i);
			return;
		}
		json_object_foreach(fields, f, v) {
			const char *why = value_check(type, f, v);
			if (why) {
				sim_reply_ctl_error(r, 400, "invalid_payload", "entities[%zu].fields.%s: %s", i, f, why);
				return;
			}
		}
	}
	json_t *ids = json_array();
	pthread_mutex_lock(&sim.lock);
	json_array_foreach(list, i, el) {
		json_t *fields = json_object_get(el, "fields");
		json_t *empty = fields ? NULL : json_object();
		long long id = entity_add(json_string_value(json_object_get(el, "entity_type")), fields ? fields : empty);
		json_decref(empty);
		json_array_append_new(ids, json_integer((json_int_t)id));
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 201, json_pack("{s:o}", "ids", ids));
}

/* POST /_sim/inriver/entities/{id}/fields: a person edits the entity in
 * inriver's own UI. Not a field write (those are API calls); modifiedDate moves. */
static void ctl_fields(long long id, const json_t *body, struct sim_reply *r)
{
	json_t *fields = json_object_get(body, "fields"), *v;
	const char *f;
	if (!json_is_object(fields) || json_object_size(fields) == 0) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "fields: expected a non-empty object");
		return;
	}
	pthread_mutex_lock(&sim.lock);
	struct entity *e = entity_get(id);
	const char *why = NULL;
	if (e) {
		json_object_foreach(fields, f, v)
			if (!why && (why = value_check(e->type, f, v)) != NULL)
				sim_reply_ctl_error(r, 400, "invalid_payload", "fields.%s: %s", f, why);
	}
	if (e && !why) {
		json_object_foreach(fields, f, v) {
			if (json_is_null(v))
				json_object_del(e->fields, f); /* cleared */
			else
				json_object_set(e->fields, f, v);
		}
		e->modified_ms = sim_now_ms();
		sim_reply_json(r, 200, json_pack("{s:I, s:O}", "id", id, "fields", e->fields));
	}
	pthread_mutex_unlock(&sim.lock);
	if (!e)
		sim_reply_ctl_error(r, 404, "not_found", "no entity %lld", id);
}

void sim_inriver_ctl(const char *method, const char *sub, const json_t *body, struct sim_reply *r)
{
	/* sub: "/entities/{id}/delete" or "/entities/{id}/fields" */
	char *end = NULL;
	long long id = strncmp(sub, "/entities/", 10) == 0 ? strtoll(sub + 10, &end, 10) : 0;
	bool del = id > 0 && strcmp(end, "/delete") == 0, set = id > 0 && strcmp(end, "/fields") == 0;
	if (!del && !set) {
		sim_reply_ctl_error(r, 404, "not_found", "no control endpoint /_sim/inriver%s", sub);
		return;
	}
	if (strcmp(method, "POST") != 0) {
		sim_reply_ctl_error(r, 405, "method_not_allowed", "use POST");
		r->allow = "POST";
		return;
	}
	if (set) {
		ctl_fields(id, body, r);
		return;
	}
	pthread_mutex_lock(&sim.lock);
	struct entity *e = entity_get(id);
	if (e)
		e->deleted = true; /* nothing is sent: kcgate hears of it by its listener route or its poll */
	pthread_mutex_unlock(&sim.lock);
	if (e)
		sim_reply_empty(r, 204);
	else
		sim_reply_ctl_error(r, 404, "not_found", "no entity %lld", id);
}

json_t *sim_inriver_state(void)
{
	json_t *ents = json_array(), *writes = json_array();
	size_t live = 0;
	for (size_t i = 0; i < ir.n; i++) {
		if (ir.ents[i].deleted)
			continue;
		if (++live <= SIM_STATE_LIST_MAX)
			json_array_append_new(ents, json_pack("{s:I, s:s, s:O}", "id", (json_int_t)(i + 1), "entity_type",
							      ir.ents[i].type, "fields", ir.ents[i].fields));
	}
	/* the last SIM_STATE_LIST_MAX writes when there are more */
	size_t from = ir.nw > SIM_STATE_LIST_MAX * 10 ? ir.nw - SIM_STATE_LIST_MAX * 10 : 0;
	for (size_t i = from; i < ir.nw; i++)
		json_array_append_new(writes, json_pack("{s:I, s:s, s:s, s:b}", "entity_id",
							(json_int_t)ir.writes[i].entity_id, "field_type_id",
							ir.writes[i].field, "via", ir.writes[i].create ? "createnew" : "put",
							"default", ir.writes[i].dflt));
	return json_pack("{s:o, s:I, s:o, s:I, s:I}", "entities", ents, "entities_count", (json_int_t)live,
			 "field_writes", writes, "field_writes_count", (json_int_t)ir.nw, "puts", (json_int_t)ir.puts);
}

void sim_inriver_reset(void)
{
	for (size_t i = 0; i < ir.n; i++) {
		free(ir.ents[i].type);
		json_decref(ir.ents[i].fields);
	}
	for (size_t i = 0; i < ir.nw; i++)
		free(ir.writes[i].field);
	free(ir.ents);
	free(ir.writes);
	memset(&ir, 0, sizeof(ir));
}
