/**
 * kcgate/peers/inriver.h: the inriver PIM REST client (entity summary,
 * field values, query, mapuniquevalues, getempty/createnew).
 *
 * Pure: builders fill a struct kcg_call, parsers read a struct kcg_reply
 * (net.h); nothing here touches the network. Facts from
 * ../shared/docs/peers.md §2: base URL then /api/v1.0.0/..., the key in
 * `X-inRiver-APIKey`, JSON both ways. Field ids are per customer: every one
 * comes from the caller ([inriver] sku_field, [inriver.fields]).
 *
 * Answers are untrusted: each parser checks the shape it relies on, bounds
 * what it keeps (KCG_INRIVER_IDS_MAX ids, KCG_INRIVER_VALUE_MAX bytes of a
 * value) and says precisely what was wrong. Parsers return 0, -EAGAIN
 * (transient: no answer, 5xx, 408, 429; the engine honours Retry-After),
 * KCG_ENOTFOUND (404: the entity is gone) or KCG_EPAYLOAD (a refusal or an
 * answer that makes no sense), with a printable sentence in @p why.
 *
 * Unconfirmed shapes (docs/sim.md): the mapuniquevalues answer (an object
 * of unique value -> entity id, or -> an array of ids; both accepted), the
 * getempty/createnew models (fieldValues array; the new id as entityId,
 * id or summary.id).
 */
#ifndef KCGATE_INRIVER_H
#define KCGATE_INRIVER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kcgate/config.h"
#include "kcgate/net.h"

#define KCG_INRIVER_MAP_BATCH 999       /**< most values one mapuniquevalues call carries */
#define KCG_INRIVER_IDS_MAX 100000      /**< most entity ids one answer may hold */
#define KCG_INRIVER_VALUE_MAX 4096      /**< longest field value kept (bytes, as JSON text) */
#define KCG_INRIVER_FIELD_MAX 128       /**< longest field type id or entity type id */

/** GET /api/v1.0.0/entities/{id}/summary. @return 0, -ENOMEM or -EINVAL (id 0). */
int kcg_inriver_summary(const struct kcg_inriver_config *cfg, uint64_t id, struct kcg_call *out);

/** Reads a summary: its entityTypeId into @p type (KCG_INRIVER_FIELD_MAX). */
int kcg_inriver_summary_parse(const struct kcg_reply *r, char type[KCG_INRIVER_FIELD_MAX], char why[KCG_ERROR_MAX]);

/** GET /api/v1.0.0/entities/{id}/fieldvalues?fieldTypeIds=A,B (@p fields, @p n of them). */
int kcg_inriver_fields_get(const struct kcg_inriver_config *cfg, uint64_t id, const char *const *fields, size_t n,
			   struct kcg_call *out);

/**
 * Reads field values `[{"fieldTypeId","value"}]` into *@p values, a new
 * object fieldTypeId -> value (null when inriver has none); a value longer
 * than KCG_INRIVER_VALUE_MAX as JSON is KCG_EPAYLOAD.
 */
int kcg_inriver_fields_get_parse(const struct kcg_reply *r, json_t **values, char why[KCG_ERROR_MAX]);

/**
 * PUT /api/v1.0.0/entities/{id}/fieldvalues with `[{"fieldTypeId","value"}]`
 * built from @p values (an object fieldTypeId -> value), in key order.
 * @return 0, -ENOMEM, or -EINVAL (id 0, no values, or a value not a
 * string, number or null).
 */
int kcg_inriver_fields_put(const struct kcg_inriver_config *cfg, uint64_t id, const json_t *values,
			   struct kcg_call *out);

/** Reads the PUT's answer (any 2xx; the body is not needed). */
int kcg_inriver_fields_put_parse(const struct kcg_reply *r, char why[KCG_ERROR_MAX]);

/** POST /api/v1.0.0/query: entities of cfg->entity_type whose cfg->sku_field equals @p sku. */
int kcg_inriver_query_sku(const struct kcg_inriver_config *cfg, const char *sku, struct kcg_call *out);

/** POST /api/v1.0.0/query: entities of cfg->entity_type modified after @p since_ms
 * (0: every one, the audit's list). */
int kcg_inriver_query_modified(const struct kcg_inriver_config *cfg, uint64_t since_ms, struct kcg_call *out);

/**
 * Reads a query answer `{"count","entityIds":[...]}` into *@p ids, a new
 * array of positive integers (at most @p max; more is KCG_EPAYLOAD).
 */
int kcg_inriver_query_parse(const struct kcg_reply *r, size_t max, json_t **ids, char why[KCG_ERROR_MAX]);

/**
 * POST /api/v1.0.0/entities:mapuniquevalues with `{"fieldTypeId": cfg->sku_field,
 * "uniqueValues": [...]}` (@p values, 1 to KCG_INRIVER_MAP_BATCH strings).
 */
int kcg_inriver_map(const struct kcg_inriver_config *cfg, const char *const *values, size_t n, struct kcg_call *out);

/**
 * Reads a mapuniquevalues answer into *@p map, a new object value -> array
 * of entity ids (one id for a unique value; values inriver does not hold are
 * absent). Accepts value -> id and value -> [ids] (unconfirmed shape).
 */
int kcg_inriver_map_parse(const struct kcg_reply *r, json_t **map, char why[KCG_ERROR_MAX]);

/** GET /api/v1.0.0/entities:getempty?entityTypeId=cfg->entity_type. */
int kcg_inriver_getempty(const struct kcg_inriver_config *cfg, struct kcg_call *out);

/** Reads getempty's model into *@p model (a new object with a fieldValues array). */
int kcg_inriver_getempty_parse(const struct kcg_reply *r, json_t **model, char why[KCG_ERROR_MAX]);

/**
 * POST /api/v1.0.0/entities:createnew with @p model whose fieldValues get
 * @p values (fieldTypeId -> value): existing entries are set, missing ones
 * added. @p model is not changed.
 */
int kcg_inriver_createnew(const struct kcg_inriver_config *cfg, const json_t *model, const json_t *values,
			  struct kcg_call *out);

/** Reads createnew's answer: the new entity's id into *@p id. */
int kcg_inriver_createnew_parse(const struct kcg_reply *r, uint64_t *id, char why[KCG_ERROR_MAX]);

#endif
