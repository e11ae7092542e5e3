/*
 * inriver.c: flow 4, inriver <-> Khaos Control (see flows/inriver.h): the
 * records and links, the listener hook, the SKU cache hooks, the wait for
 * Mirakl's 0, the keys and the flow's struct. The jobs are inriver_jobs.c,
 * the audit and poll inriver_audit.c, the admin routes inriver_admin.c,
 * the decisions inriver_rules.c.
 */
#include "inriver_private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kcgate/exceptions.h"
#include "kcgate/flows/skus.h"
#include "kcgate/flows/stock.h"
#include "kcgate/json.h"
#include "kcgate/log.h"
#include "kcgate/peers/inriver.h"

#define WAIT_TICK_MS 2000 /* how often codes waiting for Mirakl's 0 are looked at */
#define WAIT_SCAN_MAX 1000

/* ---- records ---- */

json_t *ir_rec_get(struct kcg_txn *t, const char *sku)
{
	json_t *rec;
	if (kcg_txn_get_json(t, DB_IR_SKUS, sku, strlen(sku), &rec) == 0 && json_is_object(rec))
		return rec;
	return json_object();
}

int ir_rec_put(struct kcg_txn *t, const char *sku, const json_t *rec)
{
	return kcg_txn_put_json(t, DB_IR_SKUS, sku, strlen(sku), rec);
}

static int id_key(uint64_t id, char key[24])
{
	return snprintf(key, 24, "%" PRIu64, id);
}

void ir_sku_of(struct kcg_txn *t, uint64_t id, char sku[KCG_KHAOS_CODE_MAX])
{
	char key[24];
	MDB_val k = { (size_t)id_key(id, key), key }, v;
	sku[0] = '\0';
	if (mdb_get(t->txn, kcg_store_db(t->store, DB_IR_IDS), &k, &v) == 0 && v.mv_size < KCG_KHAOS_CODE_MAX) {
		memcpy(sku, v.mv_data, v.mv_size);
		sku[v.mv_size] = '\0';
	}
}

/* Whether entity @p id is mapped to @p sku in inriver_ids. */
static bool maps_to(struct kcg_txn *t, uint64_t id, const char *sku)
{
	char cur[KCG_KHAOS_CODE_MAX];
	ir_sku_of(t, id, cur);
	return strcmp(cur, sku) == 0;
}

static int ids_put(struct kcg_txn *t, uint64_t id, const char *sku)
{
	char key[24];
	MDB_val k = { (size_t)id_key(id, key), key }, v = { strlen(sku), (void *)sku };
	return mdb_put(t->txn, kcg_store_db(t->store, DB_IR_IDS), &k, &v, 0);
}

static int ids_del(struct kcg_txn *t, uint64_t id)
{
	char key[24];
	MDB_val k = { (size_t)id_key(id, key), key };
	int rc = mdb_del(t->txn, kcg_store_db(t->store, DB_IR_IDS), &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

bool ir_holds(const json_t *ids, uint64_t id)
{
	size_t i;
	json_t *el;
	json_array_foreach(ids, i, el)
		if ((uint64_t)json_integer_value(el) == id)
			return true;
	return false;
}

int ir_link(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, uint64_t id, json_t *rec)
{
	char old[KCG_KHAOS_CODE_MAX];
	ir_sku_of(t, id, old);
	int rc = 0;
	if (*old && strcmp(old, sku) != 0)
		rc = ir_unlink_id(t, cfg, id); /* the item's SKU changed in inriver */
	uint64_t was = kcg_json_u64(rec, "entity_id");
	bool changed = was != id || json_object_get(rec, "deleted_ms");
	if (was && was != id) {
		json_object_del(rec, "written"); /* another item: nothing written to it yet */
		if (rc == 0 && !ir_holds(json_object_get(rec, "entity_ids"), was) && maps_to(t, was, sku))
			rc = ids_del(t, was); /* no longer a holder: its delete no longer concerns the code */
	}
	json_object_set_new(rec, "entity_id", json_integer((json_int_t)id));
	json_object_del(rec, "deleted_ms");
	json_object_del(rec, "heir_of"); /* the item holding the code is confirmed */
	if (rc == 0)
		rc = ir_rec_put(t, sku, rec);
	if (rc == 0)
		rc = ids_put(t, id, sku);
	if (rc == 0)
		rc = ir_resolve(t, KCG_EXC_UNLINKED_SKU, sku);
	if (rc == 0)
		rc = ir_resolve(t, KCG_EXC_ARCHIVE_IN_KHAOS, sku); /* an item again: nothing to archive */
	if (rc == 0 && changed)
		rc = kcg_stock_recheck_sku(t, cfg, sku);
	return rc;
}

int ir_holders(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, json_t *rec, const json_t *ids)
{
	json_t *keep = json_array(), *el;
	size_t i;
	int rc = 0;
	if (!keep)
		return -ENOMEM;
	if (json_array_size(ids) > 1)
		json_array_foreach(ids, i, el)
			if (i < IR_HOLDERS_KEPT)
				json_array_append(keep, el);
	/* items the answer no longer names are heard of under the code no more */
	json_array_foreach(json_object_get(rec, "entity_ids"), i, el) {
		uint64_t id = (uint64_t)json_integer_value(el);
		if (rc == 0 && !ir_holds(keep, id) && id != kcg_json_u64(rec, "entity_id") && maps_to(t, id, sku))
			rc = ids_del(t, id);
	}
	json_array_foreach(keep, i, el) {
		uint64_t id = (uint64_t)json_integer_value(el);
		char cur[KCG_KHAOS_CODE_MAX];
		ir_sku_of(t, id, cur);
		if (rc == 0 && *cur && strcmp(cur, sku) != 0)
			rc = ir_unlink_id(t, cfg, id); /* it held another code before */
		if (rc == 0)
			rc = ids_put(t, id, sku); /* its delete is heard of */
	}
	if (json_array_size(keep) > 0)
		json_object_set(rec, "entity_ids", keep);
	else
		json_object_del(rec, "entity_ids");
	json_decref(keep);
	return rc == 0 ? ir_rec_put(t, sku, rec) : rc;
}

bool ir_stock_runs(const struct kcg_config *cfg)
{
	return cfg->stock.enabled == 1 && cfg->mirakl.base_url && cfg->khaos.soap_url;
}

void ir_khaos(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, struct kcg_inriver_khaos *k)
{
	struct kcg_skus_code c;
	*k = (struct kcg_inriver_khaos){ .price = -1 };
	if (kcg_skus_get(t, sku, &c) != 0)
		return; /* no such code (as far as the cache knows) */
	k->known = true;
	k->discontinued = c.discontinued;
	k->available = c.available;
	k->price = cfg->inriver.price_from == 1 ? c.websell_price : c.sell_price;
	if (!c.discontinued)
		return;
	if (!ir_stock_runs(cfg)) {
		k->confirmed_zero = true; /* no Mirakl to unpublish from */
		return;
	}
	/* every record of the code (each warehouse's with [stock.warehouses]) at 0 */
	struct kcg_stock_code sc;
	k->confirmed_zero = kcg_stock_code_get(t, cfg, sku, &sc) == 0 && sc.retired_zero == sc.records;
}

/* The echo of a write of @p values to the linked item is expected until
 * @p echo_s seconds from now: its fields join those of an earlier write to
 * the same item still expected back (a write's echo may come after the next
 * write). */
static void echo_expect(json_t *rec, const json_t *values, uint64_t now_ms, uint64_t echo_s)
{
	uint64_t id = kcg_json_u64(rec, "entity_id");
	json_t *old = json_object_get(rec, "echo"), *fields = json_array(), *el, *v;
	const char *k;
	size_t i;
	if (!fields)
		return;
	if (id && kcg_json_u64(old, "entity_id") == id && kcg_json_u64(old, "until_ms") > now_ms)
		json_array_foreach(json_object_get(old, "fields"), i, el)
			if (json_is_string(el))
				json_array_append(fields, el);
	json_object_foreach((json_t *)values, k, v) {
		bool have = false;
		json_array_foreach(fields, i, el)
			have = have || strcmp(json_string_value(el), k) == 0;
		if (!have)
			json_array_append_new(fields, json_string(k));
	}
	if (!id || json_array_size(fields) == 0) {
		json_decref(fields);
		json_object_del(rec, "echo");
		return;
	}
	json_object_set_new(rec, "echo", json_pack("{s:I, s:o, s:I}", "entity_id", (json_int_t)id, "fields", fields,
						   "until_ms", (json_int_t)(now_ms + echo_s * 1000u)));
}

void ir_written(json_t *rec, const json_t *values, uint64_t now_ms, uint64_t echo_s)
{
	json_t *w = json_object_get(rec, "written");
	if (!json_is_object(w)) {
		w = json_object();
		json_object_set_new(rec, "written", w);
	}
	json_object_update(w, (json_t *)values);
	json_object_set_new(rec, "written_ms", json_integer((json_int_t)now_ms));
	if (echo_s)
		echo_expect(rec, values, now_ms, echo_s);
}

int ir_push_later(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, const json_t *rec)
{
	uint64_t due = kcg_inriver_due(t->now_ms, kcg_json_u64(rec, "written_ms"), cfg->inriver.write_interval_s);
	int rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER_PUSH, KIND_PUSH, sku, NULL, due, NULL);
	return rc == KCG_EDUPLICATE ? 0 : rc; /* one pending: it reads the figures when it runs */
}

int ir_wait_set(struct kcg_txn *t, const char *sku, bool wait)
{
	MDB_dbi db = kcg_store_db(t->store, DB_IR_WAIT);
	MDB_val k = { strlen(sku), (void *)sku }, v = { 0, "" };
	int rc = wait ? mdb_put(t->txn, db, &k, &v, 0) : mdb_del(t->txn, db, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- exceptions ---- */

void ir_view_text(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, char *out, size_t len)
{
	struct kcg_inriver_khaos k;
	struct kcg_stock_code c;
	char mirakl[120] = "no stock record (not published by kcgate)";
	ir_khaos(t, cfg, sku, &k);
	if (kcg_stock_code_get(t, cfg, sku, &c) == 0) {
		if (c.published >= 0)
			snprintf(mirakl, sizeof(mirakl), "last published quantity %" PRId64 "%s%s", c.published,
				 c.records > 1 ? " (the sum over its warehouses)" : "",
				 kcg_exc_is_open(t, KCG_EXC_GHOST_SKU, sku) ? ", ghost_sku open" : "");
		else
			snprintf(mirakl, sizeof(mirakl), "never published%s",
				 kcg_exc_is_open(t, KCG_EXC_GHOST_SKU, sku) ? ", ghost_sku open" : "");
	} else if (kcg_exc_is_open(t, KCG_EXC_GHOST_SKU, sku)) {
		snprintf(mirakl, sizeof(mirakl), "an offer with this SKU (ghost_sku open)");
	}
	snprintf(out, len, "Khaos: %s; Mirakl: %s",
		 !k.known ? "no such stock code" : k.discontinued ? "discontinued" : "active", mirakl);
}

int ir_raise(struct kcg_txn *t, const char *kind, const char *system, const char *owner, const char *sku,
	     const char *fmt, ...)
{
	char msg[KCG_EXC_MESSAGE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct kcg_exc exc = {
		.kind = kind,
		.severity = KCG_SEV_WARNING,
		.system = system,
		.owner = owner,
		.subject = sku,
		.message = msg,
	};
	int rc = kcg_exc_raise(t, &exc, NULL);
	return rc == -EINVAL ? 0 : rc; /* a SKU the register cannot hold (too long, not UTF-8): nothing to raise */
}

int ir_resolve(struct kcg_txn *t, const char *kind, const char *sku)
{
	int rc = kcg_exc_resolve(t, kind, sku, "auto");
	return rc == -EINVAL ? 0 : rc;
}

/* ---- listener events ---- */

/* The listener's payload: the body, or a CloudEvents envelope's data. */
static json_t *payload_of(json_t *body)
{
	json_t *data = json_object_get(body, "data");
	if (json_is_string(json_object_get(body, "specversion")) && json_is_object(data))
		return data;
	return body;
}

/* Item @p id no longer holds @p sku: it was deleted in inriver
 * (@p deleted), or its SKU was changed or emptied there. Another item
 * still holding the code (a holder kcgate knows of, still mapped to it)
 * takes the link: its inriver.entity job writes Khaos's fields and asks
 * inriver again who holds the code. With none left, the code is unlinked;
 * deleted, it is published as 0 and a person archives it in Khaos (no
 * call for that exists). */
static int holder_leaves(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku, uint64_t id, bool deleted)
{
	json_t *rec = ir_rec_get(t, sku), *holders = json_object_get(rec, "entity_ids"), *left = json_array(), *el;
	size_t i;
	if (!left) {
		json_decref(rec);
		return -ENOMEM;
	}
	json_array_foreach(holders, i, el) {
		uint64_t h = (uint64_t)json_integer_value(el);
		if (h != id && maps_to(t, h, sku)) /* one whose SKU moved on is no heir */
			json_array_append(left, el);
	}
	bool linked = kcg_json_u64(rec, "entity_id") == id, was_holder = ir_holds(holders, id);
	/* an heir that leaves before its job confirmed it: the item that made
	 * it heir was deleted, so with no one left the code is deleted too */
	deleted = deleted || (linked && json_object_get(rec, "heir_of"));
	uint64_t heir = linked ? (uint64_t)json_integer_value(json_array_get(left, 0)) : 0;
	int rc = ids_del(t, id);
	if (linked) {
		json_object_del(rec, "written"); /* nothing written to the heir yet */
		if (heir) {
			json_object_set_new(rec, "entity_id", json_integer((json_int_t)heir));
			if (deleted) /* until the heir's job confirms it holds the code */
				json_object_set_new(rec, "heir_of", json_integer((json_int_t)id));
			char subject[24];
			id_key(heir, subject);
			if (rc == 0)
				rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_ENTITY, subject, NULL, 0, NULL);
			rc = rc == KCG_EDUPLICATE ? 0 : rc;
		} else {
			json_object_del(rec, "entity_id");
			json_object_del(rec, "heir_of");
		}
		if (!heir && deleted) {
			json_object_set_new(rec, "deleted_ms", json_integer((json_int_t)t->now_ms));
			json_object_set_new(rec, "deleted_id", json_integer((json_int_t)id));
		}
	}
	if (json_array_size(left) > 1)
		json_object_set(rec, "entity_ids", left);
	else
		json_object_del(rec, "entity_ids");
	if (rc == 0)
		rc = ir_rec_put(t, sku, rec);
	if (rc == 0 && (linked || was_holder))
		rc = ir_dup_effect(t, cfg, sku, left); /* one left: resolved */
	json_decref(left);
	if (rc != 0 || !linked || heir) {
		json_decref(rec);
		return rc;
	}
	/* no item holds the code any more (that kcgate knows of) */
	rc = ir_wait_set(t, sku, false);
	if (rc == 0)
		rc = ir_resolve(t, KCG_EXC_IDENTIFIER_DRIFT, sku); /* no item has that SKU now */
	if (rc == 0 && deleted)
		rc = ir_resolve(t, KCG_EXC_UNLINKED_SKU, sku); /* deleted on purpose: archive_in_khaos says what to do */
	if (rc == 0)
		rc = kcg_stock_recheck_sku(t, cfg, sku); /* deleted: 0 on Mirakl at the next flush */
	bool disc, active = kcg_skus_active(t, sku, &disc);
	if (rc == 0 && !deleted && active) /* its item holds another SKU now: the code has none */
		rc = cfg->inriver.create_missing_items == 1 ? ir_push_later(t, cfg, sku, rec) : ir_unlinked_effect(t, cfg, sku);
	json_decref(rec);
	if (rc == 0 && deleted && (active || disc)) { /* a code Khaos does not know: nothing to archive */
		char view[400];
		ir_view_text(t, cfg, sku, view, sizeof(view));
		rc = ir_raise(t, KCG_EXC_ARCHIVE_IN_KHAOS, "khaos", "operations", sku,
			      "inriver item %" PRIu64 " (%s = %s) was deleted: kcgate publishes quantity 0 for %s on "
			      "Mirakl. Khaos has no archive call: archive (or discontinue) stock code %s in Khaos by hand. "
			      "%s; inriver: item deleted.",
			      id, cfg->inriver.sku_field, sku, sku, sku, view);
	}
	return rc;
}

int ir_unlink_id(struct kcg_txn *t, const struct kcg_config *cfg, uint64_t id)
{
	char old[KCG_KHAOS_CODE_MAX];
	ir_sku_of(t, id, old);
	return *old ? holder_leaves(t, cfg, old, id, false) : 0;
}

int ir_entity_gone(struct kcg_txn *t, const struct kcg_config *cfg, uint64_t id, const char *type)
{
	if (type && strcmp(type, cfg->inriver.entity_type) != 0)
		return 0;
	char sku[KCG_KHAOS_CODE_MAX];
	ir_sku_of(t, id, sku);
	return *sku ? holder_leaves(t, cfg, sku, id, true) : 0; /* not an item kcgate knows of: nothing depends on it */
}

/* EntityUpdated of entity @p id naming @p changed: when it is the echo of
 * kcgate's own write (kcg_inriver_echo() against the expectation in the
 * linked SKU's record), the named fields are no longer expected and
 * *@p echo is true; else (a person's edit, or anything else) false. */
static int echo_seen(struct kcg_txn *t, const struct kcg_config *cfg, uint64_t id, const json_t *changed, bool *echo)
{
	char sku[KCG_KHAOS_CODE_MAX];
	*echo = false;
	ir_sku_of(t, id, sku);
	if (!*sku)
		return 0; /* not linked: nothing of kcgate's was written to it */
	json_t *rec = ir_rec_get(t, sku);
	json_t *expect = json_object_get(rec, "echo");
	if (kcg_json_u64(rec, "entity_id") != id || kcg_json_u64(expect, "entity_id") != id)
		expect = NULL; /* written to another item: not this one's echo */
	int rc = 0;
	*echo = kcg_inriver_echo(&cfg->inriver, changed, expect, t->now_ms);
	if (*echo) {
		json_t *fields = json_object_get(expect, "fields"), *el;
		size_t i, j;
		json_array_foreach(changed, i, el) {
			const char *f = json_string_value(json_object_get(el, "fieldTypeId"));
			for (j = json_array_size(fields); j-- > 0;)
				if (strcmp(json_string_value(json_array_get(fields, j)), f) == 0)
					json_array_remove(fields, j);
		}
		if (json_array_size(fields) == 0)
			json_object_del(rec, "echo"); /* all came back: the next update of these is a person's */
		rc = ir_rec_put(t, sku, rec);
	}
	json_decref(rec);
	return rc;
}

static int inriver_on_event(struct kcg_txn *t, const struct kcg_event_meta_ref *ev, struct kcg_flow_ctx *ctx)
{
	const struct kcg_config *cfg = ctx->cfg;
	if (strcmp(ev->source, "inriver") != 0)
		return 0;
	bool created = strcmp(ev->kind, "EntityCreated") == 0, updated = strcmp(ev->kind, "EntityUpdated") == 0;
	bool deleted = strcmp(ev->kind, "EntityDeleted") == 0;
	if (!created && !updated && !deleted)
		return 0; /* links: an item's links do not touch Khaos's fields */
	json_t *body = json_loadb(ev->body, ev->body_len, 0, NULL);
	json_t *p = payload_of(body);
	json_t *nid = json_object_get(p, "numericId");
	int rc = 0;
	if (!json_is_integer(nid) || json_integer_value(nid) <= 0)
		goto out; /* checked at the door; an id of 0 names nothing */
	uint64_t id = (uint64_t)json_integer_value(nid);
	if (deleted) {
		rc = ir_entity_gone(t, cfg, id, json_string_value(json_object_get(p, "entityTypeId")));
		goto out;
	}
	bool echo = false;
	if (updated)
		rc = echo_seen(t, cfg, id, json_object_get(p, "fields"), &echo);
	if (rc != 0 || echo)
		goto out; /* kcgate's own write coming back: nothing more (no loop) */
	char subject[24];
	id_key(id, subject);
	rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER, KIND_ENTITY, subject, NULL, 0, NULL);
	if (rc == KCG_EDUPLICATE)
		rc = 0; /* one pending: it reads the entity when it runs */
out:
	json_decref(body);
	return rc;
}

/* ---- Khaos -> inriver ---- */

/* on_stock_item: Khaos reported @p it. When a Khaos-owned value kcgate
 * writes differs from what it last wrote, a push is due. */
static int inriver_stock_item(struct kcg_txn *t, const struct kcg_stock_item *it, struct kcg_flow_ctx *ctx)
{
	const struct kcg_config *cfg = ctx->cfg;
	json_t *rec = ir_rec_get(t, it->code);
	int rc = 0;
	if (json_object_get(rec, "deleted_ms"))
		goto out; /* deleted in inriver: nothing to write to */
	struct kcg_inriver_khaos k = { .known = true, .discontinued = it->discontinued, .available = it->available,
				       .price = cfg->inriver.price_from == 1 ? it->websell_price : it->sell_price };
	int sites[KCG_STOCK_SITES_MAX];
	struct kcg_skus_code sum;
	if (kcg_stock_sites(cfg, sites) > 0 && kcg_skus_get(t, it->code, &sum) == 0) {
		/* one item per warehouse's site: the code's figures are their sum,
		 * which the SKU cache wrote just before this hook */
		k.discontinued = sum.discontinued;
		k.available = sum.available;
	}
	const json_t *written = json_object_get(rec, "written");
	json_t *values = kcg_inriver_values(&cfg->inriver, &k, written, NULL);
	bool linked = json_object_get(rec, "entity_id") != NULL;
	bool push = json_object_size(values) > 0 || !linked;
	json_decref(values);
	const char *status = json_string_value(json_object_get(written, cfg->inriver.field_khaos_status));
	if (it->discontinued && linked && (!status || strcmp(status, KCG_INRIVER_DISCONTINUED) != 0))
		rc = ir_wait_set(t, it->code, true); /* flagged once Mirakl shows 0 */
	if (rc != 0 || !push)
		goto out;
	if (!linked && it->discontinued)
		goto out; /* no item for a retired code: nothing to create or flag */
	if (!linked && kcg_meta_get_u64(t, META_IR_AUDITED) == 0)
		goto out; /* the first audit links the catalogue in bulk (no query per code) */
	if (!linked && !cfg->inriver.create_missing_items && kcg_exc_is_open(t, KCG_EXC_UNLINKED_SKU, it->code))
		goto out; /* known unlinked: new figures do not make an item; the audit looks again */
	json_object_set_new(rec, "changed_ms", json_integer((json_int_t)t->now_ms));
	rc = ir_rec_put(t, it->code, rec);
	if (rc == 0)
		rc = ir_push_later(t, cfg, it->code, rec);
out:
	json_decref(rec);
	return rc;
}

/* ---- discontinued: waiting for Mirakl's 0 ---- */

struct wait_scan {
	const struct kcg_config *cfg;
	json_t *ready; /* codes whose 0 Mirakl confirmed, or that are active again */
	char *from;    /* where this tick's scan starts (KCG_KHAOS_CODE_MAX; "": the first), then the next one's */
};

static int wait_fn(struct kcg_txn *t, void *arg)
{
	struct wait_scan *w = arg;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(t->txn, kcg_store_db(t->store, DB_IR_WAIT), &cur);
	if (rc != 0)
		return rc;
	size_t n = 0;
	/* WAIT_SCAN_MAX codes a tick, each tick on from where the last stopped:
	 * codes that wait long never hide those after them */
	k = (MDB_val){ strlen(w->from), w->from };
	rc = mdb_cursor_get(cur, &k, &v, *w->from ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0 && n < WAIT_SCAN_MAX; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
		char sku[KCG_KHAOS_CODE_MAX];
		if (k.mv_size == 0 || k.mv_size >= sizeof(sku))
			continue;
		memcpy(sku, k.mv_data, k.mv_size);
		sku[k.mv_size] = '\0';
		struct kcg_inriver_khaos kh;
		ir_khaos(t, w->cfg, sku, &kh);
		if (kh.confirmed_zero || !kh.discontinued)
			json_array_append_new(w->ready, json_string(sku));
	}
	/* the next tick starts at the first code not looked at, or the beginning */
	w->from[0] = '\0';
	if (rc == 0 && k.mv_size < KCG_KHAOS_CODE_MAX) {
		memcpy(w->from, k.mv_data, k.mv_size);
		w->from[k.mv_size] = '\0';
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
}

static int wait_push(struct kcg_txn *t, void *arg)
{
	json_t *ready = arg;
	size_t i;
	json_t *s;
	json_array_foreach(ready, i, s) {
		int rc = kcg_jobs_enqueue(t, KCG_LANE_INRIVER_PUSH, KIND_PUSH, json_string_value(s), NULL, 0, NULL);
		if (rc != 0 && rc != KCG_EDUPLICATE)
			return rc;
	}
	return 0;
}

static void wait_timer(struct kcg_engine *engine, void *arg)
{
	static char from[KCG_KHAOS_CODE_MAX]; /* the engine's thread only */
	struct kcg_flow_ctx *ctx = arg;
	struct wait_scan w = { ctx->cfg, json_array(), from };
	if (!w.ready)
		return;
	if (kcg_store_read(ctx->store, wait_fn, &w) == 0 && json_array_size(w.ready) > 0) {
		if (kcg_store_write_sync(ctx->store, wait_push, w.ready) == 0)
			kcg_engine_kick(engine);
	}
	json_decref(w.ready);
}

/* ---- for the stock flow ---- */

enum kcg_inriver_gate ir_gate(struct kcg_txn *t, const struct kcg_config *cfg, const json_t *rec)
{
	bool require = cfg->stock.require_inriver_link == 1;
	bool audited = require && kcg_meta_get_u64(t, META_IR_AUDITED) != 0;
	return kcg_inriver_gate_of(require, kcg_json_u64(rec, "entity_id") > 0,
				   json_object_get(rec, "deleted_ms") != NULL, audited);
}

enum kcg_inriver_gate kcg_inriver_sku_gate(struct kcg_txn *t, const struct kcg_config *cfg, const char *sku)
{
	json_t *rec = NULL; /* none (the usual case on the stock flush's path): nothing allocated */
	kcg_txn_get_json(t, DB_IR_SKUS, sku, strlen(sku), &rec);
	enum kcg_inriver_gate g = ir_gate(t, cfg, rec);
	json_decref(rec);
	return g;
}

/* ---- keys ---- */

static const struct kcg_config_choice bool_choices[] = {
	{ "true", 1 },
	{ "false", 0 },
	{ NULL, 0 },
};

/* Which ExportStockStatus price is Khaos's price for inriver. */
static const struct kcg_config_choice price_choices[] = {
	{ "SELL_PRICE", 0 },
	{ "WEBSELL_PRICE", 1 },
	{ NULL, 0 },
};

/* A field or entity type id: what inriver allows in one (letters, digits, '_'). */
static const char *check_field_id(const char *v)
{
	size_t n = strlen(v);
	if (n == 0 || n >= KCG_INRIVER_FIELD_MAX)
		return "must be an inriver id of 1 to 127 characters";
	for (const char *p = v; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return "must be an inriver id (letters, digits and '_')";
	return NULL;
}

static void inriver_checks(struct kcg_config_check *c, const struct kcg_config *cfg)
{
	const struct kcg_inriver_config *ir = &cfg->inriver;
	const char *owned[4];
	size_t n = kcg_inriver_owned(ir, owned);
	if (ir->base_url && !ir->api_key)
		kcg_config_error(c, &ir->base_url, "needs [inriver] api_key");
	if (ir->base_url && !cfg->khaos.soap_url)
		kcg_config_error(c, &ir->base_url, "needs [khaos] soap_url (the stock codes inriver is checked against)");
	if (ir->base_url && n == 0)
		kcg_config_error(c, &ir->base_url,
				 "needs at least one field in [inriver.fields] (khaos_status, available, price, "
				 "last_sync): kcgate writes only the fields named there");
	for (size_t i = 0; i < n; i++) {
		if (ir->sku_field && strcmp(owned[i], ir->sku_field) == 0)
			kcg_config_error(c, &ir->sku_field, "is also an [inriver.fields] field: the SKU is never written");
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(owned[i], owned[j]) == 0)
				kcg_config_error(c, &ir->field_khaos_status,
						 "[inriver.fields] names %s twice: one field per Khaos value", owned[i]);
	}
	if (cfg->stock.require_inriver_link == 1 && !ir->base_url)
		kcg_config_error(c, &cfg->stock.require_inriver_link,
				 "needs [inriver] base_url (without inriver no code would ever be published)");
}

static const struct kcg_config_key inriver_keys[] = {
	KCG_KEY_STR("inriver", "base_url", inriver.base_url, KCG_CFG_URL, NULL, NULL),
	KCG_KEY_SECRET("inriver", "api_key", inriver.api_key, 8, NULL),
	KCG_KEY_STR("inriver", "entity_type", inriver.entity_type, KCG_CFG_STRING, "Item", check_field_id),
	KCG_KEY_STR("inriver", "sku_field", inriver.sku_field, KCG_CFG_STRING, "ItemNumber", check_field_id),
	KCG_KEY_U64("inriver", "timeout_s", inriver.timeout_s, "30", 1, 300),
	KCG_KEY_ENUM("inriver", "listen", inriver.listen, "true", bool_choices),
	KCG_KEY_U64("inriver", "poll_interval_s", inriver.poll_interval_s, "300", 1, 86400),
	KCG_KEY_U64("inriver", "write_interval_s", inriver.write_interval_s, "60", 1, 86400),
	KCG_KEY_ENUM("inriver", "create_missing_items", inriver.create_missing_items, "false", bool_choices),
	KCG_KEY_U64("inriver", "audit_interval_s", inriver.audit_interval_s, "86400", 10, 604800),
	KCG_KEY_U64("inriver", "max_items", inriver.max_items, "100000", 1, KCG_INRIVER_IDS_MAX),
	KCG_KEY_ENUM("inriver", "price_from", inriver.price_from, "SELL_PRICE", price_choices),
	KCG_KEY_U64("inriver", "echo_window_s", inriver.echo_window_s, "120", 1, 3600),
	KCG_KEY_STR("inriver.fields", "khaos_status", inriver.field_khaos_status, KCG_CFG_STRING, NULL, check_field_id),
	KCG_KEY_STR("inriver.fields", "available", inriver.field_available, KCG_CFG_STRING, NULL, check_field_id),
	KCG_KEY_STR("inriver.fields", "price", inriver.field_price, KCG_CFG_STRING, NULL, check_field_id),
	KCG_KEY_STR("inriver.fields", "last_sync", inriver.field_last_sync, KCG_CFG_STRING, NULL, check_field_id),
	KCG_KEY_ENUM("stock", "require_inriver_link", stock.require_inriver_link, "false", bool_choices),
};

static const struct kcg_config_keys inriver_config = { inriver_keys, sizeof(inriver_keys) / sizeof(inriver_keys[0]),
						       inriver_checks };

static size_t inriver_timers(const struct kcg_config *cfg, struct kcg_engine_timer *out, size_t cap)
{
	size_t n = cfg->inriver.listen == 1 ? 2 : 3;
	if (cap < n)
		return n;
	out[0] = (struct kcg_engine_timer){ "inriver.wait", WAIT_TICK_MS, wait_timer };
	/* the audit's timer ticks often (a read) and runs it once audit_interval_s has passed (kept across restarts) */
	out[1] = (struct kcg_engine_timer){ KIND_AUDIT, 2000, ir_audit_timer };
	if (n == 3)
		out[2] = (struct kcg_engine_timer){ KIND_POLL, cfg->inriver.poll_interval_s * 1000u, ir_poll_timer };
	return n;
}

static bool inriver_enabled(const struct kcg_config *cfg)
{
	return cfg->inriver.base_url && cfg->inriver.api_key && cfg->khaos.soap_url;
}

const struct kcg_flow kcg_flow_inriver = {
	.name = "inriver",
	.enabled = inriver_enabled,
	.dbs = (const char *const[]){ DB_IR_SKUS, DB_IR_IDS, DB_IR_WAIT, DB_IR_AUDIT, NULL },
	.config = &inriver_config,
	.kinds = (const struct kcg_job_kind *const[]){ &ir_kind_entity, &ir_kind_push, &ir_kind_audit, &ir_kind_poll,
						       NULL },
	.timers = inriver_timers,
	.on_event = inriver_on_event,
	.on_stock_item = inriver_stock_item,
	.wants_revised_codes = true, /* a price changed alone must reach inriver */
	.metrics = ir_metrics,
	.routes = ir_routes,
	.n_routes = IR_ROUTES,
};
