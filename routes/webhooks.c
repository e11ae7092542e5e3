/*
 * webhooks.c: ingest. Authenticate over the raw bytes, validate, derive the
 * dedupe key, hand the event to the store's writer and answer only once it
 * is committed and synced ("a 2xx means durable"). The connection is
 * suspended meanwhile, so server threads keep serving others.
 */
#include "routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kcgate/auth.h"
#include "kcgate/engine.h"
#include "kcgate/metrics.h"

#define WEBHOOK_ID_MAX 256 /* longest webhook-id header kept as a dedupe key */

static const char *header_of(void *ctx, const char *name)
{
	return kcg_http_header(ctx, name);
}

/* Writer thread: the commit is synced (or the request failed). */
static void ingest_done(struct kcg_ingest *ing, void *arg)
{
	kcg_http_resume(arg);
}

/* Server thread, after resume: answer with what the store said. */
static void ingest_answer(struct kcg_request *req)
{
	bool mirakl = strcmp(req->source, "mirakl") == 0;
	int rc = req->ingest.result;

	switch (rc) {
	case 0:
	case KCG_EDUPLICATE:
		memcpy(req->event_id, req->ingest.event_id, sizeof(req->event_id));
		kcg_metrics_webhook(req->source, rc == 0 ? KCG_RES_ACCEPTED : KCG_RES_DUPLICATE);
		if (rc == 0)
			kcg_engine_kick(req->app->engine); /* the event may have brought jobs */
		if (!mirakl) {
			kcg_http_respond_empty(req, 204); /* inriver's listener contract */
			return;
		}
		kcg_http_respond_json(req, rc == 0 ? 202 : 200,
				      json_pack("{s:s, s:b}", "event_id", req->event_id, "duplicate", rc != 0));
		return;
	case KCG_ESTOREFULL:
		kcg_metrics_webhook(req->source, KCG_RES_UNAVAILABLE);
		kcg_http_respond_error(req, 503, "store_full",
				       "the event store is full (store.map_size_mb); nothing was stored, retry later");
		return;
	case KCG_ESHUTDOWN:
		kcg_metrics_webhook(req->source, KCG_RES_UNAVAILABLE);
		kcg_http_respond_error(req, 503, "shutting_down", "kcgate is shutting down; nothing was stored, retry");
		return;
	case -EAGAIN:
		kcg_metrics_webhook(req->source, KCG_RES_UNAVAILABLE);
		kcg_http_respond_error(req, 503, "busy",
				       "too many events waiting to be stored (store.queue_limit); nothing was stored, retry");
		return;
	default:
		kcg_metrics_webhook(req->source, KCG_RES_ERROR);
		kcg_http_respond_error(req, 500, "internal_error", "the event could not be stored: %s", kcg_strerror(rc));
		return;
	}
}

/* Everything after validation is the same for every source. */
static void ingest(struct kcg_request *req, const char *kind)
{
	const char *id = kcg_http_header(req, "webhook-id");
	if (id) {
		if (strlen(id) == 0 || strlen(id) > WEBHOOK_ID_MAX) {
			kcg_metrics_webhook(req->source, KCG_RES_INVALID);
			kcg_http_respond_error(req, 400, "invalid_payload",
					       "webhook-id: must be 1 to %d characters", WEBHOOK_ID_MAX);
			return;
		}
		snprintf(req->dedupe_key, sizeof(req->dedupe_key), "id:%s", id);
	} else {
		/* No id from the sender: the same bytes to the same place are the same event. */
		char hex[65];
		size_t plen = strlen(req->source) + 1 + strlen(req->path) + 1;
		char *buf = malloc(plen + req->body_len);
		if (!buf) {
			kcg_http_respond_error(req, 500, "internal_error", "out of memory");
			return;
		}
		snprintf(buf, plen + 1, "%s\n%s\n", req->source, req->path);
		memcpy(buf + plen, req->body, req->body_len);
		kcg_sha256_hex(buf, plen + req->body_len, hex);
		free(buf);
		snprintf(req->dedupe_key, sizeof(req->dedupe_key), "sha256:%s", hex);
	}
	snprintf(req->kind, sizeof(req->kind), "%s", kind);
	req->ingest = (struct kcg_ingest){
		.source = req->source,
		.kind = req->kind,
		.dedupe_key = req->dedupe_key,
		.body = req->body,
		.body_len = req->body_len,
		.received_ms = kcg_now_ms(),
		.done = ingest_done,
		.arg = req,
	};
	/* Suspend before submitting: the writer may finish before submit returns. */
	kcg_http_suspend(req, ingest_answer);
	int rc = kcg_events_submit(req->app->store, &req->ingest);
	if (rc != 0) {
		req->ingest.result = rc;
		kcg_http_resume(req);
	}
}

static bool authenticated(struct kcg_request *req, const struct kcg_source_auth *auth)
{
	const char *why = NULL;
	int64_t now = (int64_t)(kcg_now_ms() / 1000);
	if (kcg_auth_webhook(auth, header_of, req, req->body, req->body_len, now, &why) == 0)
		return true;
	kcg_metrics_webhook(req->source, KCG_RES_UNAUTHORIZED);
	/* Never say which check failed. */
	kcg_http_respond_error(req, 401, "unauthorized", "the request could not be authenticated");
	return false;
}

void kcg_route_webhook_mirakl(struct kcg_request *req)
{
	char kind[KCG_KIND_MAX], why[KCG_ERROR_MAX];

	if (!authenticated(req, &req->app->cfg->mirakl.webhook))
		return;
	int rc = kcg_payload_mirakl(req->body ? req->body : "", req->body_len, kind, why);
	if (rc != 0) {
		kcg_metrics_webhook("mirakl", KCG_RES_INVALID);
		kcg_http_respond_error(req, 400, rc == KCG_EJSON ? "invalid_json" : "invalid_payload", "%s", why);
		return;
	}
	ingest(req, kind);
}

void kcg_route_webhook_inriver(struct kcg_request *req)
{
	char why[KCG_ERROR_MAX];
	enum kcg_inriver_event ev = (enum kcg_inriver_event)req->route->arg;
	const char *ct = kcg_http_header(req, "Content-Type");
	bool cloudevent = ct && strncasecmp(ct, "application/cloudevents+json", 28) == 0;

	if (!authenticated(req, &req->app->cfg->inriver.webhook))
		return;
	int rc = kcg_payload_inriver(ev, cloudevent, req->body ? req->body : "", req->body_len, why);
	if (rc != 0) {
		kcg_metrics_webhook("inriver", KCG_RES_INVALID);
		kcg_http_respond_error(req, 400, rc == KCG_EJSON ? "invalid_json" : "invalid_payload", "%s", why);
		return;
	}
	ingest(req, kcg_inriver_event_name(ev));
}
