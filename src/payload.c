/*
 * payload.c: shape checks for webhook bodies (Mirakl, inriver listeners).
 *
 * Parsing: json_loadb() with
 *  - the EOF check on (the default): trailing garbage after the value is an
 *    error, so what we validate is the whole body;
 *  - JSON_REJECT_DUPLICATES: a body with a repeated key is refused
 *    (KCG_EPAYLOAD). The store keeps the raw bytes and later readers may
 *    pick either value; refusing removes the ambiguity instead of
 *    validating one reading and acting on another;
 *  - JSON_DECODE_ANY: a bare scalar is valid JSON, so it is a shape error
 *    ("expected a JSON object"), not a syntax error.
 * Everything else is jansson's default, which is also what later readers of
 * the stored body use: \u0000 in strings and integers beyond int64 are
 * refused as KCG_EJSON, nesting is capped at JSON_PARSER_MAX_DEPTH (2048).
 * No recursion here: the schemas are flat, and jansson's own depth cap
 * bounds its recursive free.
 *
 * Every message written to @p why is plain printable ASCII (anything else
 * becomes '?'), because the caller puts it in a JSON answer and a log line,
 * and jansson's "near '...'" quotes raw input.
 */
#include "kcgate/payload.h"
#include "kcgate/common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define MAX_ARRAY_EVENTS 10000 /* events in one Mirakl array; beyond is abuse, not batching */
#define PARSE_FLAGS (JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)

/* Writes a message (truncated to fit) and returns @p err, so callers can
 * `return fail(...)`. */
static int fail(char why[KCG_ERROR_MAX], int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char why[KCG_ERROR_MAX], int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(why, KCG_ERROR_MAX, fmt, ap) < 0)
		why[0] = '\0';
	va_end(ap);
	kcg_printable(why, KCG_ERROR_MAX, why, strlen(why), 0);
	return err;
}

static int parse(const char *body, size_t len, json_t **out, char why[KCG_ERROR_MAX])
{
	json_error_t err;

	/* Keep NULL away from jansson whatever len says. */
	if (!body) {
		body = "";
		len = 0;
	}
	*out = json_loadb(body, len, PARSE_FLAGS, &err);
	if (*out)
		return 0;
	if (json_error_code(&err) == json_error_out_of_memory)
		return fail(why, -ENOMEM, "out of memory while parsing");
	if (json_error_code(&err) == json_error_duplicate_key)
		return fail(why, KCG_EPAYLOAD, "at line %d, column %d: %s", err.line, err.column,
			    err.text);
	return fail(why, KCG_EJSON, "invalid JSON at line %d, column %d: %s", err.line, err.column,
		    err.text);
}

/* Mirakl ------------------------------------------------------------------ */

/* The kind is the first object's "type": printable ASCII only (it ends up
 * in admin listings, metrics labels and logs), at most KCG_KIND_MAX-1 bytes. */
static int mirakl_kind(json_t *obj, const char *where, char kind[KCG_KIND_MAX],
		       char why[KCG_ERROR_MAX])
{
	json_t *type = json_object_get(obj, "type");

	if (type && !json_is_string(type))
		return fail(why, KCG_EPAYLOAD, "%stype: expected a string", where);
	kind[0] = '\0';
	if (type)
		kcg_printable(kind, KCG_KIND_MAX, json_string_value(type), json_string_length(type),
			      KCG_PRINT_DROP);
	if (kind[0] == '\0')
		snprintf(kind, KCG_KIND_MAX, "webhook");
	return 0;
}

int kcg_payload_mirakl(const char *body, size_t len, char kind[KCG_KIND_MAX], char why[KCG_ERROR_MAX])
{
	json_t *root = NULL;
	size_t i, n;
	int r;

	why[0] = '\0';
	snprintf(kind, KCG_KIND_MAX, "webhook");
	r = parse(body, len, &root, why);
	if (r < 0)
		return r;

	if (json_is_object(root)) {
		r = mirakl_kind(root, "", kind, why);
		goto out_root;
	}
	if (!json_is_array(root)) {
		r = fail(why, KCG_EPAYLOAD, "expected a JSON object or an array of objects");
		goto out_root;
	}
	n = json_array_size(root);
	if (n == 0) {
		r = fail(why, KCG_EPAYLOAD, "expected at least one event in the array");
		goto out_root;
	}
	if (n > MAX_ARRAY_EVENTS) {
		r = fail(why, KCG_EPAYLOAD, "too many events in one array (limit %d)", MAX_ARRAY_EVENTS);
		goto out_root;
	}
	for (i = 0; i < n; i++) {
		if (!json_is_object(json_array_get(root, i))) {
			r = fail(why, KCG_EPAYLOAD, "[%zu]: expected an object", i);
			goto out_root;
		}
	}
	/* Only the first "type" is checked: it is the only one we read. */
	r = mirakl_kind(json_array_get(root, 0), "[0].", kind, why);

out_root:
	json_decref(root);
	if (r < 0)
		snprintf(kind, KCG_KIND_MAX, "webhook");
	return r;
}

/* inriver ----------------------------------------------------------------- */

enum ftype {
	F_STRING,         /* any string */
	F_ID,             /* non-empty string (an entity GUID; format not checked) */
	F_INTEGER,        /* JSON integer (42, not 42.0) */
	F_BOOLEAN,
	F_ID_OR_INTEGER,  /* link ids: non-empty string or integer */
	F_OPT_STRING,     /* optional; string or null when present */
	F_FIELDS,         /* array of objects with a string fieldTypeId */
};

struct field {
	const char *name;
	enum ftype type;
};

/* peers.md section 2. Unknown fields are ignored: vendors add fields. */
static const struct field entity_created[] = {
	{ "id", F_ID }, { "numericId", F_INTEGER }, { "timestamp", F_STRING }, { NULL, 0 },
};
static const struct field entity_updated[] = {
	{ "id", F_ID }, { "numericId", F_INTEGER }, { "timestamp", F_STRING },
	{ "fields", F_FIELDS }, { NULL, 0 },
};
static const struct field entity_deleted[] = {
	{ "id", F_ID }, { "numericId", F_INTEGER }, { "timestamp", F_STRING },
	{ "entityTypeId", F_STRING }, { "displayName", F_OPT_STRING }, { "fieldSetId", F_OPT_STRING },
	{ NULL, 0 },
};
static const struct field link_created[] = {
	{ "id", F_ID_OR_INTEGER }, { "timestamp", F_STRING }, { NULL, 0 },
};
static const struct field link_deleted[] = {
	{ "id", F_ID_OR_INTEGER }, { "timestamp", F_STRING }, { "linkTypeId", F_STRING },
	{ "sourceEntityNumericId", F_INTEGER }, { "sourceEntityTypeId", F_STRING },
	{ "targetEntityNumericId", F_INTEGER }, { "targetEntityTypeId", F_STRING },
	{ "index", F_INTEGER }, { "inactive", F_BOOLEAN }, { NULL, 0 },
};

static const struct {
	const char *name;
	const struct field *fields;
} events[] = {
	[KCG_INRIVER_ENTITY_CREATED] = { "EntityCreated", entity_created },
	[KCG_INRIVER_ENTITY_UPDATED] = { "EntityUpdated", entity_updated },
	[KCG_INRIVER_ENTITY_DELETED] = { "EntityDeleted", entity_deleted },
	[KCG_INRIVER_LINK_CREATED] = { "LinkCreated", link_created },
	[KCG_INRIVER_LINK_DELETED] = { "LinkDeleted", link_deleted },
};

#define N_EVENTS (sizeof(events) / sizeof(events[0]))

const char *kcg_inriver_event_name(enum kcg_inriver_event ev)
{
	if ((unsigned)ev >= N_EVENTS)
		return "unknown";
	return events[ev].name;
}

static int check_fields_array(json_t *arr, const char *pfx, char why[KCG_ERROR_MAX])
{
	size_t i;
	json_t *el;

	if (!json_is_array(arr))
		return fail(why, KCG_EPAYLOAD, "%sfields: expected an array", pfx);
	json_array_foreach(arr, i, el) {
		json_t *ft;

		if (!json_is_object(el))
			return fail(why, KCG_EPAYLOAD, "%sfields[%zu]: expected an object", pfx, i);
		ft = json_object_get(el, "fieldTypeId");
		if (!ft)
			return fail(why, KCG_EPAYLOAD, "%sfields[%zu].fieldTypeId: required", pfx, i);
		if (!json_is_string(ft))
			return fail(why, KCG_EPAYLOAD, "%sfields[%zu].fieldTypeId: expected a string",
				    pfx, i);
	}
	return 0;
}

static int check_field(json_t *obj, const struct field *f, const char *pfx, char why[KCG_ERROR_MAX])
{
	json_t *v = json_object_get(obj, f->name);
	const char *want = NULL;

	if (!v) {
		if (f->type == F_OPT_STRING)
			return 0;
		return fail(why, KCG_EPAYLOAD, "%s%s: required", pfx, f->name);
	}
	switch (f->type) {
	case F_STRING:
		if (!json_is_string(v))
			want = "expected a string";
		break;
	case F_ID:
		if (!json_is_string(v))
			want = "expected a string";
		else if (json_string_length(v) == 0)
			want = "must not be empty";
		break;
	case F_INTEGER:
		if (!json_is_integer(v))
			want = "expected an integer";
		break;
	case F_BOOLEAN:
		if (!json_is_boolean(v))
			want = "expected a boolean";
		break;
	case F_ID_OR_INTEGER:
		if (!json_is_string(v) && !json_is_integer(v))
			want = "expected a string or an integer";
		else if (json_is_string(v) && json_string_length(v) == 0)
			want = "must not be empty";
		break;
	case F_OPT_STRING:
		if (!json_is_string(v) && !json_is_null(v))
			want = "expected a string or null";
		break;
	case F_FIELDS:
		return check_fields_array(v, pfx, why);
	}
	if (want)
		return fail(why, KCG_EPAYLOAD, "%s%s: %s", pfx, f->name, want);
	return 0;
}

/* A CloudEvents envelope when the caller says so (Content-Type) or when the
 * body looks like one; the listener payload is then under "data". */
static int unwrap_cloudevent(json_t *root, bool cloudevent, json_t **payload, const char **pfx,
			     char why[KCG_ERROR_MAX])
{
	json_t *sv = json_object_get(root, "specversion");
	json_t *data = json_object_get(root, "data");

	*payload = root;
	*pfx = "";
	if (!cloudevent && !(json_is_string(sv) && data))
		return 0;
	if (!sv)
		return fail(why, KCG_EPAYLOAD, "specversion: required");
	if (!json_is_string(sv))
		return fail(why, KCG_EPAYLOAD, "specversion: expected a string");
	if (!data)
		return fail(why, KCG_EPAYLOAD, "data: required");
	if (!json_is_object(data))
		return fail(why, KCG_EPAYLOAD, "data: expected an object");
	*payload = data;
	*pfx = "data.";
	return 0;
}

int kcg_payload_inriver(enum kcg_inriver_event ev, bool cloudevent, const char *body, size_t len,
			char why[KCG_ERROR_MAX])
{
	json_t *root = NULL, *payload;
	const struct field *f;
	const char *pfx;
	int r;

	why[0] = '\0';
	if ((unsigned)ev >= N_EVENTS)
		return fail(why, -EINVAL, "unknown inriver event");
	r = parse(body, len, &root, why);
	if (r < 0)
		return r;
	if (!json_is_object(root)) {
		r = fail(why, KCG_EPAYLOAD, "expected a JSON object");
		goto out_root;
	}
	r = unwrap_cloudevent(root, cloudevent, &payload, &pfx, why);
	if (r < 0)
		goto out_root;
	for (f = events[ev].fields; f->name; f++) {
		r = check_field(payload, f, pfx, why);
		if (r < 0)
			goto out_root;
	}

out_root:
	json_decref(root);
	return r;
}
