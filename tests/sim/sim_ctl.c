/*
 * kcgate-sim: the control API under /_sim/ (docs/sim.md section 5): reset,
 * state, requests, faults, hostile and alerts here; the peers' own routes
 * (/_sim/mirakl/..., /_sim/khaos/..., /_sim/inriver/...) are passed on to
 * them with their JSON body parsed.
 */
#include "sim.h"

#include <microhttpd.h>

#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RETRY_AFTER_S 1
#define DEFAULT_REQUESTS_LIMIT 100

static json_t *faults_json(const struct sim_faults *f)
{
	if (!f->active)
		return json_null();
	return json_pack("{s:f, s:i, s:f, s:I, s:I, s:f, s:I, s:I}",
		"error_rate", f->error_rate, "status", (int)f->status,
		"timeout_rate", f->timeout_rate, "timeout_ms", (json_int_t)f->timeout_ms,
		"latency_ms", (json_int_t)f->latency_ms, "rate_limit_rate", f->rate_limit_rate,
		"retry_after_s", (json_int_t)f->retry_after_s, "seed", (json_int_t)f->seed);
}

/* Read a number field in [min, max]; false with an error reply if invalid. */
static bool num_field(json_t *body, const char *key, double min, double max, bool integer,
		      double *out, struct sim_reply *r)
{
	json_t *v = json_object_get(body, key);

	if (!v)
		return true;
	if ((integer && !json_is_integer(v)) || (!integer && !json_is_number(v)) ||
	    json_number_value(v) < min || json_number_value(v) > max) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "%s: must be %s between %g and %g", key,
			integer ? "an integer" : "a number", min, max);
		return false;
	}
	*out = json_number_value(v);
	return true;
}

static void ctl_faults_post(json_t *body, struct sim_reply *r)
{
	static const char *const keys[] = {"system", "clear", "error_rate", "status", "timeout_rate",
		"timeout_ms", "latency_ms", "rate_limit_rate", "retry_after_s", "seed"};
	const char *key;
	json_t *v;
	int sys;
	struct sim_faults f = {.active = true, .status = 500, .timeout_ms = DEFAULT_TIMEOUT_MS,
		.retry_after_s = DEFAULT_RETRY_AFTER_S};
	double status = 500, timeout_ms = DEFAULT_TIMEOUT_MS, latency = 0,
		retry = DEFAULT_RETRY_AFTER_S, seed = -1;
	uint64_t seed_u;

	if (!json_is_object(body)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "body: JSON object expected");
		return;
	}
	if ((key = sim_unknown_key(body, keys, sizeof(keys) / sizeof(keys[0])))) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "%s: unknown field", key);
		return;
	}
	sys = sim_system_by_name(json_string_value(json_object_get(body, "system")));
	if (sys < 0) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "system: one of mirakl, khaos, inriver, alerts, smtp");
		return;
	}
	v = json_object_get(body, "clear");
	if (v && !json_is_boolean(v)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "clear: boolean expected");
		return;
	}
	if (json_is_true(v)) {
		pthread_mutex_lock(&sim.lock);
		sim.faults[sys] = (struct sim_faults){0};
		pthread_mutex_unlock(&sim.lock);
		sim_reply_json(r, 200, json_pack("{s:s, s:n}", "system", sim_system_names[sys], "faults"));
		return;
	}
	if (!num_field(body, "error_rate", 0, 1, false, &f.error_rate, r) ||
	    !num_field(body, "timeout_rate", 0, 1, false, &f.timeout_rate, r) ||
	    !num_field(body, "rate_limit_rate", 0, 1, false, &f.rate_limit_rate, r) ||
	    !num_field(body, "status", 100, 599, true, &status, r) ||
	    !num_field(body, "timeout_ms", 0, SIM_MAX_HOLD_MS, true, &timeout_ms, r) ||
	    !num_field(body, "latency_ms", 0, SIM_MAX_HOLD_MS, true, &latency, r) ||
	    !num_field(body, "retry_after_s", -1, 86400, true, &retry, r) ||
	    !num_field(body, "seed", 0, 9007199254740991.0, true, &seed, r))
		return;
	if (f.error_rate + f.timeout_rate + f.rate_limit_rate > 1.0 + 1e-9) {
		sim_reply_ctl_error(r, 400, "invalid_payload",
			"error_rate + timeout_rate + rate_limit_rate must not exceed 1");
		return;
	}
	f.status = (unsigned)status;
	f.timeout_ms = (long)timeout_ms;
	f.latency_ms = (long)latency;
	f.retry_after_s = (long)retry;
	seed_u = seed >= 0 ? (uint64_t)seed : (uint64_t)sim_now_ms() ^ ((uint64_t)getpid() << 32);
	f.seed = seed_u;
	f.rng = seed_u;
	pthread_mutex_lock(&sim.lock);
	sim.faults[sys] = f;
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:s, s:o}", "system", sim_system_names[sys], "faults",
		faults_json(&f)));
}

static void ctl_faults_get(struct sim_reply *r)
{
	json_t *out = json_object();

	pthread_mutex_lock(&sim.lock);
	for (int s = 0; s < SIM_NSYSTEMS; s++)
		json_object_set_new(out, sim_system_names[s], faults_json(&sim.faults[s]));
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, out);
}

static void ctl_reset(struct sim_reply *r)
{
	pthread_mutex_lock(&sim.lock);
	sim_forget_all();
	memset(sim.calls, 0, sizeof(sim.calls));
	memset(sim.faults, 0, sizeof(sim.faults));
	/* Release every held request (latency, timeouts). */
	sim.generation++;
	pthread_cond_broadcast(&sim.wake);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_empty(r, 204);
}

static void ctl_state(struct sim_request *req, struct sim_reply *r)
{
	const char *skus = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "sku");
	json_t *out;
	char *dump;

	pthread_mutex_lock(&sim.lock);
	sim_mirakl_advance();
	out = json_pack("{s:o, s:o, s:o, s:{s:I, s:I, s:I}}", "mirakl", sim_mirakl_state(skus),
		"khaos", sim_khaos_state(), "inriver", sim_inriver_state(), "calls",
		"mirakl", (json_int_t)sim.calls[SIM_MIRAKL], "khaos", (json_int_t)sim.calls[SIM_KHAOS],
		"inriver", (json_int_t)sim.calls[SIM_INRIVER]);
	/* Dumped under the lock: the order JSON is shared with the live state. */
	dump = sim_json_dump(out);
	pthread_mutex_unlock(&sim.lock);
	sim_reply_dumped(r, 200, dump);
}

static void ctl_requests(struct sim_request *req, struct sim_reply *r)
{
	const char *sys_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "system");
	const char *lim_s = MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, "limit");
	long long limit = DEFAULT_REQUESTS_LIMIT;
	int sys = sim_system_by_name(sys_s);
	json_t *arr;
	struct sim_log *l;
	size_t n;

	if (sys < 0) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "system: one of mirakl, khaos, inriver, alerts, smtp");
		return;
	}
	if (lim_s && sim_parse_ll(lim_s, 1, SIM_LOG_CAP, &limit)) {
		sim_reply_ctl_error(r, 400, "invalid_payload", "limit: integer between 1 and %d", SIM_LOG_CAP);
		return;
	}
	arr = json_array();
	pthread_mutex_lock(&sim.lock);
	l = &sim.log[sys];
	n = l->count < (size_t)limit ? l->count : (size_t)limit;
	for (size_t k = 0; k < n; k++) {
		/* Oldest first among the last n. */
		struct sim_log_entry *e = &l->e[(l->next + SIM_LOG_CAP - n + k) % SIM_LOG_CAP];

		json_array_append_new(arr, json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o}",
			"seq", (json_int_t)e->seq, "method", sim_json_string_lossy(e->method, strlen(e->method)),
			"path", sim_json_string_lossy(e->path, strlen(e->path)),
			"query", sim_json_string_lossy(e->query, strlen(e->query)),
			"content_type", sim_json_string_lossy(e->content_type, strlen(e->content_type)),
			"body", sim_json_string_lossy(e->body, e->body_len),
			"reply_status", (json_int_t)e->reply_status,
			"reply_body", sim_json_string_lossy(e->reply_body ? e->reply_body : "", e->reply_len)));
	}
	pthread_mutex_unlock(&sim.lock);
	sim_reply_json(r, 200, json_pack("{s:o}", "requests", arr));
}

static json_t *body_json(struct sim_request *req, struct sim_reply *r)
{
	json_error_t err;
	json_t *j;

	if (req->too_large) {
		sim_reply_ctl_error(r, 413, "payload_too_large", "body exceeds %u bytes", SIM_MAX_BODY);
		return NULL;
	}
	j = json_loadb(req->body ? req->body : "", req->body_len, 0, &err);
	if (!j)
		sim_reply_ctl_error(r, 400, "invalid_json", "line %d: %s", err.line, err.text);
	return j;
}

/* An optional body: *@p body its JSON, NULL when there is none; false
 * when the answer (413, 400) is sent already. */
static bool optional_body(struct sim_request *req, struct sim_reply *r, json_t **body)
{
	*body = NULL;
	if (!req->body_len && !req->too_large)
		return true;
	*body = body_json(req, r);
	return *body != NULL;
}

static bool method_is(struct sim_request *req, const char *m, struct sim_reply *r)
{
	if (strcmp(req->method, m) == 0)
		return true;
	sim_reply_ctl_error(r, 405, "method_not_allowed", "use %s", m);
	r->allow = m;
	return false;
}

void sim_control(struct sim_request *req, const char *p, struct sim_reply *r)
{
	json_t *body;

	if (strcmp(p, "/_sim/reset") == 0) {
		if (method_is(req, "POST", r))
			ctl_reset(r);
	} else if (strcmp(p, "/_sim/state") == 0) {
		if (method_is(req, "GET", r))
			ctl_state(req, r);
	} else if (strcmp(p, "/_sim/alerts") == 0) {
		if (method_is(req, "GET", r)) {
			pthread_mutex_lock(&sim.lock);
			json_t *st = sim_alerts_state();
			pthread_mutex_unlock(&sim.lock);
			sim_reply_json(r, 200, st);
		}
	} else if (strcmp(p, "/_sim/requests") == 0) {
		if (method_is(req, "GET", r))
			ctl_requests(req, r);
	} else if (strcmp(p, "/_sim/faults") == 0) {
		if (strcmp(req->method, "GET") == 0) {
			ctl_faults_get(r);
		} else if (method_is(req, "POST", r)) {
			body = body_json(req, r);
			if (body)
				ctl_faults_post(body, r);
			json_decref(body);
		}
		if (r->status == 405)
			r->allow = "GET, POST";
	} else if (strcmp(p, "/_sim/hostile") == 0) {
		if (!method_is(req, "POST", r))
			return;
		body = body_json(req, r);
		if (body)
			sim_hostile_ctl(body, r);
		json_decref(body);
	} else if (strncmp(p, "/_sim/mirakl/", 13) == 0 && strcmp(p, "/_sim/mirakl/orders") != 0 &&
		   strcmp(p, "/_sim/mirakl/offers") != 0) {
		/* settings, orders/{id}/cancel|auto-refuse|debit: the body is optional */
		if (!optional_body(req, r, &body))
			return;
		sim_mirakl_ctl(req->method, p + 12, body, r);
		json_decref(body);
	} else if (strcmp(p, "/_sim/mirakl/orders") == 0 || strcmp(p, "/_sim/mirakl/offers") == 0 ||
		   strcmp(p, "/_sim/khaos/stock") == 0 ||
		   strcmp(p, "/_sim/khaos/settings") == 0 || strcmp(p, "/_sim/khaos/couriers") == 0 ||
		   strcmp(p, "/_sim/khaos/despatch") == 0) {
		if (!method_is(req, "POST", r))
			return;
		body = body_json(req, r);
		if (!body)
			return;
		if (strcmp(p, "/_sim/mirakl/orders") == 0)
			sim_mirakl_ctl_orders(body, r);
		else if (strcmp(p, "/_sim/mirakl/offers") == 0)
			sim_mirakl_ctl_offers(body, r);
		else if (strcmp(p, "/_sim/khaos/stock") == 0)
			sim_khaos_ctl_stock(body, r);
		else if (strcmp(p, "/_sim/khaos/settings") == 0)
			sim_khaos_ctl_settings(body, r);
		else if (strcmp(p, "/_sim/khaos/despatch") == 0)
			sim_khaos_ctl_despatch(body, r);
		else
			sim_khaos_ctl_couriers(body, r);
		json_decref(body);
	} else if (strcmp(p, "/_sim/inriver/entities") == 0) {
		if (!method_is(req, "POST", r))
			return;
		body = body_json(req, r);
		if (body)
			sim_inriver_ctl_entities(body, r);
		json_decref(body);
	} else if (strncmp(p, "/_sim/inriver/", 14) == 0) {
		/* entities/{id}/delete (no body), entities/{id}/fields */
		if (!optional_body(req, r, &body))
			return;
		sim_inriver_ctl(req->method, p + 13, body, r);
		json_decref(body);
	} else if (strncmp(p, "/_sim/khaos/orders/", 19) == 0 && strlen(p) > 26 &&
		   strcmp(p + strlen(p) - 7, "/cancel") == 0) {
		if (!method_is(req, "POST", r))
			return;
		char *ref = sim_strdup(p + 19);
		ref[strlen(ref) - 7] = '\0';
		sim_khaos_ctl_cancel(ref, r);
		free(ref);
	} else {
		sim_reply_ctl_error(r, 404, "not_found", "no control endpoint %s", p);
	}
}
