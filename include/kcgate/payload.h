/**
 * kcgate/payload.h: validating webhook bodies before they are stored.
 *
 * Pure functions over untrusted bytes (fuzzed in tests/fuzz/). They decide
 * whether a body is acceptable and what kind of event it is; they never
 * change the body: the raw bytes are what the store keeps.
 *
 * Failures carry a human sentence naming the offending field in @p why
 * (e.g. "numericId: expected an integer"), for the 400 answer.
 */
#ifndef KCGATE_PAYLOAD_H
#define KCGATE_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "kcgate/common.h" /* KCG_ERROR_MAX: room for @p why */

#define KCG_KIND_MAX 64   /**< longest event kind kept (longer ones are cut) */

/** The inriver EntityListener calls, in route order. */
enum kcg_inriver_event {
	KCG_INRIVER_ENTITY_CREATED,
	KCG_INRIVER_ENTITY_UPDATED,
	KCG_INRIVER_ENTITY_DELETED,
	KCG_INRIVER_LINK_CREATED,
	KCG_INRIVER_LINK_DELETED,
};

/** "EntityCreated", "EntityUpdated", ... for @p ev. */
const char *kcg_inriver_event_name(enum kcg_inriver_event ev);

/**
 * A Mirakl webhook body: a JSON object, or a non-empty JSON array of objects
 * (what Mirakl operators send). A Mirakl Connect envelope
 * {"id","time","type","data"} is an object. @p kind receives the event's
 * `type` when the (first) object has a string one, else "webhook".
 * @return 0, KCG_EJSON (not JSON, with the parser's position in @p why) or
 * KCG_EPAYLOAD.
 */
int kcg_payload_mirakl(const char *body, size_t len, char kind[KCG_KIND_MAX], char why[KCG_ERROR_MAX]);

/**
 * An inriver listener body for event @p ev, with the required fields and
 * types of peers.md. When @p cloudevent is true (Content-Type
 * application/cloudevents+json), or the body carries `specversion` and
 * `data`, the listener payload is the object under `data`.
 * @return 0, KCG_EJSON or KCG_EPAYLOAD.
 */
int kcg_payload_inriver(enum kcg_inriver_event ev, bool cloudevent, const char *body, size_t len,
			char why[KCG_ERROR_MAX]);

#endif
