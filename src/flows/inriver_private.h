/*
 * inriver_private.h: what the inriver flow's files share (inriver.c:
 * records, hooks, keys and the struct; inriver_jobs.c: the entity and push
 * jobs; inriver_audit.c: the mapping audit and the poll; inriver_admin.c:
 * the admin routes; inriver_rules.c: the pure decisions). Nothing else
 * includes it.
 */
#ifndef KCGATE_FLOWS_INRIVER_PRIVATE_H
#define KCGATE_FLOWS_INRIVER_PRIVATE_H

#include <jansson.h>

#include "kcgate/flows/inriver.h"
#include "kcgate/jobs.h"
#include "kcgate/peers/khaos.h"
#include "routes.h"

#define DB_IR_SKUS "inriver_skus"
#define DB_IR_IDS "inriver_ids"
#define DB_IR_WAIT "inriver_wait"
#define DB_IR_AUDIT "inriver_audit"
#define META_IR_POLL "inriver.poll.watermark"
#define META_IR_AUDIT "inriver.audit.last_ms"    /* the last audit started */
#define META_IR_AUDITED "inriver.audit.done_ms"  /* the last audit finished: 0 = never */
#define META_SKUS_WATERMARK "khaos.stock.watermark" /* the SKU cache's: 0 until its first read */

#define KIND_ENTITY "inriver.entity"
#define KIND_PUSH "inriver.push"
#define KIND_AUDIT "inriver.audit"
#define KIND_POLL "inriver.poll"

#define IR_OWNER "ecommerce" /* the team that owns inriver */
#define IR_POLL_SKEW_MS 5000 /* the poll's window reaches this far before its last start (clocks differ) */

/* The SKU record (a new object; {} when none). */
json_t *ir_rec_get(struct kcg_txn *t, const char *sku);
int ir_rec_put(struct kcg_txn *t, const char *sku, const json_t *rec);

/* The code linked to entity @p id, or "" (@p sku holds KCG_KHAOS_CODE_MAX). */
void ir_sku_of(struct kcg_txn *t, uint64_t id, char sku[KCG_KHAOS_CODE_MAX]);

/* Links @p sku to entity @p id (the link the entity's old code had is
 * dropped); undoes a deletion, resolves unlinked_sku and archive_in_khaos;
 * the stock figure is checked again. @p rec is the SKU's record, updated and written. */
int ir_link(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, uint64_t id, json_t *rec);

/* Records @p ids (inriver's answer: every item holding @p sku) in @p rec's
 * "entity_ids" when two or more (at most IR_HOLDERS_KEPT), each mapped to
 * the code so its delete is heard of; ids the answer no longer names are
 * forgotten. @p rec is written. */
#define IR_HOLDERS_KEPT 50
bool ir_holds(const json_t *ids, uint64_t id); /* @p id in the array @p ids */
int ir_holders(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, json_t *rec, const json_t *ids);

/* Entity @p id (of type @p type, NULL: not said) was deleted in inriver
 * (inriver.c: the listener's EntityDeleted, a job's 404). */
int ir_entity_gone(struct kcg_txn *t, const struct kcg_config *cfg, uint64_t id, const char *type);

/* Drops entity @p id's link (its code was emptied or changed in inriver). */
int ir_unlink_id(struct kcg_txn *t, const struct kcg_config *cfg, uint64_t id);

/* What Khaos (the SKU cache) and Mirakl (the stock record) say about @p sku. */
void ir_khaos(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, struct kcg_inriver_khaos *k);

/* Records values written to @p sku's item, the linked one in @p rec
 * (merged into "written", written_ms now) and that their echo is expected
 * for @p echo_s seconds ("echo": {entity_id, fields, until_ms}; [inriver]
 * echo_window_s after a PUT, 0 after a createnew, which inriver answers
 * with EntityCreated). */
void ir_written(json_t *rec, const json_t *values, uint64_t now_ms, uint64_t echo_s);

/* A push for @p sku, due no earlier than write_interval_s after its last write. */
int ir_push_later(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const json_t *rec);

/* Puts @p sku in inriver_wait (discontinued, waiting for Mirakl's 0) or takes it out. */
int ir_wait_set(struct kcg_txn *t, const char *sku, bool wait);

/* Raises / resolves the flow's exceptions with the three systems' view. */
int ir_raise(struct kcg_txn *t, const char *kind, const char *system, const char *owner, const char *sku,
	     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int ir_resolve(struct kcg_txn *t, const char *kind, const char *sku);

/* The exceptions with their messages (inriver_jobs.c): duplicate_sku when
 * @p ids holds two or more (resolved otherwise), identifier_drift for item
 * @p id (and Khaos is asked about @p sku), unlinked_sku. */
int ir_dup_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const json_t *ids);
int ir_drift_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, uint64_t id);
int ir_unlinked_effect(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku);

/* "Khaos: ...; Mirakl: ..." for an exception's message (@p out, @p len). */
void ir_view_text(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, char *out, size_t len);

/* The Mirakl gate of a SKU whose record is @p rec (NULL: none); kcg_inriver_sku_gate() reads it. */
enum kcg_inriver_gate ir_gate(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *rec);

/* Whether the stock flow runs (there is a Mirakl to unpublish from). */
bool ir_stock_runs(const struct kcg_config *cfg);

/* The job kinds, timers and routes of the other files. */
extern const struct kcg_job_kind ir_kind_entity, ir_kind_push, ir_kind_audit, ir_kind_poll;
void ir_audit_timer(struct kcg_engine *engine, void *ctx);
void ir_poll_timer(struct kcg_engine *engine, void *ctx);
int ir_metrics(struct kcg_store *store, const struct kcg_config *cfg, char **text);
#define IR_ROUTES 3
extern const struct kcg_route ir_routes[IR_ROUTES];

#endif
