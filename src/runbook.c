/*
 * runbook.c: the runbook per team (kcgate/runbook.h), as data. Edit the
 * words here, then regenerate docs/operations.md's team section:
 *   python3 tests/runbook/check_docs.py --runbook build/kcgate-runbook --source . --write
 * The console, the alerts and the docs all read these rows.
 */
#include "kcgate/runbook.h"

#include <string.h>

const char *const kcg_runbook_teams[] = { "operations", "ecommerce", "finance", "marketing", NULL };

const struct kcg_runbook_entry kcg_runbook[] = {
	/* ---------------------------------------------------------------- orders (flow 1) */
	{ "unknown_sku", "orders", "mirakl", "ecommerce", "critical",
	  "A Mirakl order line's offer SKU is not an active Khaos stock code (unknown or discontinued). Its orders are "
	  "held: neither accepted nor refused, and Mirakl's acceptance deadline is running.",
	  { "Open the exception's SKU on the SKUs page: it shows what Khaos, inriver and Mirakl hold for that code.",
	    "If the offer's SKU is wrong, correct the offer on Mirakl (the shop SKU must be the Khaos stock code).",
	    "If the item is new or was discontinued by mistake, create or re-activate the stock item in Khaos.",
	    "Wait for the next SKU refresh ([khaos] sku_refresh_s): kcgate then decides the held orders itself and "
	    "the exception resolves.",
	    "If it cannot be fixed before the acceptance deadline, accept or refuse the order by hand on Mirakl.",
	    NULL },
	  "Khaos reports the code as an active stock item." },
	{ "acceptance_deadline", "orders", "mirakl", "ecommerce", "critical",
	  "An order is close to Mirakl's acceptance deadline and not accepted. If nobody decides it, Mirakl refuses "
	  "it and the refusal counts against the shop.",
	  { "Open the order on the Orders page: its timeline says why it is not accepted (held on a SKU, short "
	    "stock, a dead job).",
	    "Fix that cause (unknown_sku, short_stock, or retry the dead order.accept job on Jobs).",
	    "If the Mirakl lane's breaker is open on the Overview, Mirakl is failing: accept by hand on Mirakl.",
	    "If it cannot be fixed in time, accept or refuse the order by hand on Mirakl; kcgate follows.", NULL },
	  "The order is accepted or ends." },
	{ "auto_refused", "orders", "kcgate", "operations", "critical",
	  "Mirakl refused an order automatically: nobody decided it within the acceptance window. It counts against "
	  "the shop; repeated ones can suspend it.",
	  { "Open the order's timeline on the Orders page and find why kcgate did not accept it (a held SKU, short "
	    "stock, a dead order.accept job, the Mirakl lane down).",
	    "Fix that cause so the next orders are accepted.",
	    "Tell the customer service team if the customer needs contacting.",
	    "Resolve the exception by hand.", NULL },
	  "By hand." },
	{ "short_stock", "orders", "khaos", "operations", "warning",
	  "Khaos's available stock, less what kcgate accepted and has not booked yet, does not cover an order line. "
	  "The order is held; the message names each short SKU, the quantity needed, Khaos's level and the reserved "
	  "quantity.",
	  { "Check the SKU's level on the SKUs page and in Khaos.",
	    "If stock is arriving, book it into Khaos: the next refresh that raises the level decides the order again.",
	    "Otherwise decide before the acceptance deadline: accept or refuse the order by hand on Mirakl (an order "
	    "accepted by hand is booked at its booking point).", NULL },
	  "The order is no longer held for stock." },
	{ "address_missing", "orders", "mirakl", "operations", "warning",
	  "An order is at its booking point but Mirakl shows no usable shipping address (street, city, postcode, "
	  "last name). It is not booked.",
	  { "Look at the order on Mirakl: is the address there?",
	    "If Mirakl hides it, check the platform's address visibility for the shop (operator setting).",
	    "kcgate checks again at every change of the order and at each poll: nothing else to do once Mirakl shows "
	    "the address.", NULL },
	  "The order is booked or ends." },
	{ "khaos_rejected", "orders", "khaos", "operations", "critical",
	  "Khaos refused to import an order; its reason is in the message. Nothing was booked and the order.book job "
	  "is dead.",
	  { "Read Khaos's reason in the message (a stock item, the customer's data, Khaos's set-up).",
	    "Fix it in Khaos (or the order on Mirakl).",
	    "Retry the dead order.book job on the Jobs page: it asks Khaos first whether the order is already there, "
	    "so a retry never books twice.", NULL },
	  "The order is booked." },
	{ "missing_in_khaos", "orders", "kcgate", "operations", "critical",
	  "An order reached its booking point more than [orders] book_alert_min minutes ago and Khaos still has no "
	  "sales order for it; or Mirakl shows shipped an order kcgate never booked.",
	  { "Open the order on the Orders page: its other exceptions say why (address_missing, khaos_rejected, "
	    "unknown_sku, price_mismatch, a dead job).",
	    "Follow that exception's steps.",
	    "Only if kcgate cannot book it, book it in Khaos by hand with the order id as the associated reference.",
	    NULL },
	  "The order is booked or ends (one that closes never booked stays open: it is the report \"in Mirakl, never "
	  "imported\")." },
	{ "order_unbookable", "orders", "mirakl", "operations", "critical",
	  "The order cannot be booked as Mirakl gives it: a value longer than Khaos takes (the field is named), "
	  "malformed data, or a live line with a cancelation or refund. Nothing was sent to Khaos.",
	  { "Read the field or line named in the message (often the phone, 19 characters, or the email, 50).",
	    "Either book it in Khaos by hand with the right values under the associated ref kcgate uses ([khaos] "
	    "order_ref_prefix + the Mirakl order id: khaos_ref on the order), then retry the dead job on the Jobs "
	    "page: the retry asks Khaos first, finds the sales order and records it, so the despatch follows.",
	    "Or have the order corrected on Mirakl and retry the dead job once it can be booked as it stands.", NULL },
	  "The order is booked or ends." },
	{ "order_ref_too_long", "orders", "kcgate", "operations", "critical",
	  "[khaos] order_ref_prefix plus the Mirakl order id is longer than the 15 characters Khaos takes; kcgate "
	  "never cuts it.",
	  { "Shorten [khaos] order_ref_prefix in the configuration and reload (systemctl reload kcgate).",
	    "Retry the dead order.book job on the Jobs page, or book the order by hand.", NULL },
	  "The order is booked or ends." },
	{ "price_mismatch", "orders", "mirakl", "finance", "critical",
	  "An order's amounts do not add up to what the customer pays, to the penny, or a Mirakl tax code is not in "
	  "[khaos.tax_rates], or one line carries taxes of two Khaos rates. Nothing is booked.",
	  { "Read the message: it names the missing tax code or the amounts that differ.",
	    "A missing tax code: add it to [khaos.tax_rates] and reload; the order is then booked by itself.",
	    "Otherwise check the order's prices and taxes on Mirakl with the marketplace.",
	    "Book it by hand, or retry the dead job on the Jobs page once Mirakl is right.", NULL },
	  "The order is booked." },
	{ "unmapped_shipping_method", "orders", "kcgate", "operations", "critical",
	  "[shipping_methods] has no Khaos courier for the order's shipping_type_code (named in the message). The "
	  "order waits, not booked.",
	  { "Add the code to [shipping_methods] (CODE = KHAOS_COURIER).",
	    "Reload (systemctl reload kcgate): every waiting order is booked and the exception resolves.", NULL },
	  "The order is booked." },
	{ "booked_cancelled", "orders", "mirakl", "operations", "critical",
	  "Khaos has a sales order (named in the message) for an order, or lines of it, that Mirakl cancelled, "
	  "refused or refunded before it shipped.",
	  { "Stop the despatch in the warehouse.",
	    "Cancel the sales order, or those lines, in Khaos.",
	    "Resolve the exception by hand.", NULL },
	  "By hand, once the Khaos sales order is cancelled." },
	{ "unparseable_webhook", "orders", "mirakl", "operations", "warning",
	  "A Mirakl webhook named no order. The event is kept and the OR11 poll still finds the order.",
	  { "Open the event on the Jobs and events page and look at its body.",
	    "Check the operator's webhook payload format with the marketplace.",
	    "Resolve the exception by hand.", NULL },
	  "By hand." },
	{ "webhook_truncated", "orders", "mirakl", "operations", "warning",
	  "A Mirakl webhook named more than 1000 order ids: the first 1000 were queued, the rest dropped. The event "
	  "is kept and the OR11 poll still finds every order waiting for acceptance.",
	  { "Open the event on the Jobs and events page.",
	    "Ask the operator why it sent so many.",
	    "Resolve the exception by hand.", NULL },
	  "By hand." },
	/* ---------------------------------------------------------------- despatch (flow 3) */
	{ "unmapped_carrier", "despatch", "kcgate", "operations", "critical",
	  "Khaos despatched an order with a courier [carriers] does not map (named in the message), or maps to a "
	  "carrier code Mirakl does not list. Nothing is sent to Mirakl and the shipping deadline keeps running.",
	  { "GET /admin/carriers shows Khaos's couriers, the map and Mirakl's codes side by side.",
	    "Add the courier to [carriers] exactly as Khaos writes it (Royal Mail 48 = RM; name:<carrier> for one "
	    "Mirakl does not register).",
	    "Reload (systemctl reload kcgate): every parked despatch is sent and the exception resolves.", NULL },
	  "The despatch is sent." },
	{ "shipping_deadline", "despatch", "khaos", "operations", "critical",
	  "A booked order is within [despatch] deadline_alert_h of Mirakl's shipping deadline and Khaos has not "
	  "despatched it (or its despatch is parked: the message says why).",
	  { "Ship it in Khaos now, or fix what parks it (an unmapped carrier).",
	    "If it cannot ship in time, agree a new date with the marketplace: late shipments are penalised.", NULL },
	  "The order ships." },
	{ "shipped_cancelled", "despatch", "mirakl", "operations", "critical",
	  "Khaos shipped an order (consignment and courier in the message) that Mirakl cancelled or refused: goods "
	  "are on their way to a customer who will not be charged.",
	  { "Recall the parcel from the courier, or settle it with the customer and the marketplace (refund, new "
	    "order).",
	    "Resolve the exception by hand.", NULL },
	  "By hand." },
	{ "khaos_cancelled", "despatch", "khaos", "operations", "critical",
	  "The sales order is cancelled in Khaos while Mirakl still expects the order shipped.",
	  { "Decide with the team: ship it after all (re-book or un-cancel in Khaos), or cancel it on Mirakl so the "
	    "customer is refunded.",
	    "Resolve the exception by hand once Khaos and Mirakl agree.", NULL },
	  "By hand." },
	{ "despatch_short", "despatch", "khaos", "operations", "critical",
	  "Khaos says the order is complete (every line issued) while lines of the Mirakl order were never sent "
	  "(named in the message): nothing is confirmed to Mirakl, so the customer is not charged for goods that "
	  "did not leave.",
	  { "Check the sales order in Khaos: a line removed or issued short?",
	    "Send the missing goods (a new despatch), or cancel those lines on Mirakl so the customer is refunded.",
	    "Once Khaos and Mirakl agree, kcgate confirms what was sent; resolve the exception if it stays open.",
	    NULL },
	  "The order ships, or the despatch or the order ends." },
	{ "despatch_unreadable", "despatch", "khaos", "operations", "critical",
	  "Khaos's despatch answer for one order is past what kcgate reads (too many invoices, boxes or items): that "
	  "order is skipped, every other despatch goes on.",
	  { "Look at the sales order in Khaos (its invoices and boxes).",
	    "Confirm the shipment on Mirakl by hand (tracking, then ship).",
	    "Resolve the exception.", NULL },
	  "By hand." },
	{ "carriers_unavailable", "despatch", "mirakl", "operations", "critical",
	  "Mirakl's carrier list (SH21) cannot be read (403, 404, or an answer kcgate cannot read): despatches mapped "
	  "to carrier codes wait; those mapped to name:<carrier> go on.",
	  { "Check that the shop's API key may read the carriers (its role in the Mirakl back office).",
	    "kcgate asks again hourly; the exception resolves at the next good read and the waiting despatches go.",
	    NULL },
	  "The next good SH21 read." },
	/* ---------------------------------------------------------------- core */
	{ "dead_job", "core", "the job's lane", "operations", "critical",
	  "A call to Khaos, Mirakl, inriver or an alert channel failed for good (a 4xx, a SOAP client fault) or kept "
	  "failing past [jobs] max_age_h.",
	  { "Open the job on the Jobs and events page: its last answer says what the peer refused.",
	    "Fix the cause in the system named (data, credentials, configuration).",
	    "Press Retry: the job is due at once with a fresh retry horizon (an order.book retry never books twice).",
	    NULL },
	  "The job is retried and succeeds." },
	/* ---------------------------------------------------------------- stock (flow 2) */
	{ "stock_import_line", "stock", "mirakl", "ecommerce", "warning",
	  "Mirakl refused one SKU's stock line (its reason in the message; with [stock.warehouses] the subject is "
	  "SKU@WAREHOUSE), usually because the offer does not exist on Mirakl. Nothing else is held back: the rest "
	  "of the import was published.",
	  { "Read Mirakl's reason in the message (an unknown warehouse-code means the map and Mirakl's warehouses "
	    "disagree).",
	    "Create the offer on Mirakl: the drift check finds it and kcgate sends the figure again.",
	    "Or, if the product is retired, discontinue it in Khaos (STATUS 4): kcgate sends its 0 once; when Mirakl "
	    "refuses that line too (it has no such offer), kcgate sends nothing more for the code and resolves the "
	    "exception.",
	    "Or resolve the exception by hand to have the figure sent again at the next flush.", NULL },
	  "The SKU's line succeeds in a later import (after a figure change, a manual resolve, or the drift check "
	  "finding the offer)." },
	{ "stock_sync_stale", "stock", "kcgate", "operations", "critical",
	  "Mirakl may show stock Khaos no longer has: overselling risk. The last good Khaos stock poll, or (with "
	  "figures waiting) the last complete import, is older than [stock] stale_after_s; both ages are in the "
	  "message.",
	  { "On the Overview, read the stock sync ages and the lanes' breakers.",
	    "A late poll: look at the skus.refresh jobs on the khaos lane (Khaos down, a SOAP fault, an answer past "
	    "[stock] max_answer_mb, the khaos breaker open).",
	    "A late import: look at the mirakl_stock lane (stock.flush getting 429, a dead stock.import, Mirakl's "
	    "breaker open).",
	    "If it lasts, consider setting stock to 0 on Mirakl by hand for fast sellers.", NULL },
	  "Both ages are fresh again." },
	{ "stock_drift", "stock", "mirakl", "operations", "warning",
	  "Mirakl shows MORE than kcgate last published (the overselling side): someone or something else (a manual "
	  "edit, another tool, an OF24 import) raised an offer's quantity; the message gives Mirakl's figure and "
	  "kcgate's. Less than published is not a drift (Mirakl takes an order's units off the offer as it is "
	  "created). kcgate sends its figure again with the next import.",
	  { "Nothing to do the first time: kcgate republishes its figure within minutes.",
	    "If it keeps coming back, find the other writer (a person, another tool, an OF24 import) and stop it.",
	    NULL },
	  "Mirakl takes kcgate's figure." },
	{ "ghost_sku", "stock", "mirakl", "ecommerce", "warning",
	  "A Mirakl offer's SKU is not an active Khaos stock code (unknown, or discontinued in Khaos): a ghost left "
	  "live after the product was retired, still selling. kcgate never publishes stock for a code Khaos does not "
	  "report.",
	  { "Open the SKU on the SKUs page.",
	    "Deactivate or delete the offer on Mirakl, or fix its shop_sku.",
	    "If the product is still sold, create or re-activate it in Khaos.", NULL },
	  "Khaos reports the code active, or a complete drift check no longer sees the offer (deleted, or inactive)." },
	{ "stock_sku_unsendable", "stock", "khaos", "ecommerce", "warning",
	  "A Khaos stock code cannot be carried by any STO01 line (control characters, or longer than Mirakl takes; "
	  "shown escaped in the message): its stock is never published. The rest of the catalogue goes on.",
	  { "Rename the stock code in Khaos (or fix the record that put the character there): kcgate sends the new "
	    "code's figure once Khaos reports it.",
	    "Resolve the exception by hand once the code is fixed, or if the product is not sold on Mirakl.", NULL },
	  "By hand." },
	{ "stock_item_unreadable", "stock", "khaos", "operations", "warning",
	  "Khaos's ExportStockStatus answer held a STOCK_ITEM kcgate cannot read (a code too long, a STATUS outside "
	  "0-5, a LEVEL that is no number): that item is skipped, the message names the first and counts the rest; "
	  "every other item was taken.",
	  { "Look at the item in Khaos and correct it (a code of at most 63 bytes, STATUS 0-5, a numeric LEVEL).",
	    "Resolve the exception by hand: the next change to the item brings it in.", NULL },
	  "By hand." },
	/* ---------------------------------------------------------------- inriver (flow 4) */
	{ "identifier_drift", "inriver", "inriver", "ecommerce", "warning",
	  "An inriver item's SKU is no Khaos stock code; kcgate wrote khaos_status = UNKNOWN_STOCK_CODE on it.",
	  { "Open the SKU on the SKUs page: it shows the item in inriver and what Khaos holds.",
	    "Correct the SKU on the inriver item, or have the stock item created in Khaos.", NULL },
	  "The item is read again with a code Khaos knows." },
	{ "duplicate_sku", "inriver", "inriver", "ecommerce", "warning",
	  "Two or more inriver items hold one SKU; kcgate keeps writing to the first.",
	  { "Open the SKU on the SKUs page to see the items.",
	    "Merge the items in inriver, or give each its own SKU.", NULL },
	  "An item read or audit finds one item." },
	{ "unlinked_sku", "inriver", "inriver", "ecommerce", "warning",
	  "An active Khaos stock code has no inriver item ([inriver] create_missing_items = false).",
	  { "Create the item in inriver with the Khaos code as its SKU, or link an existing one.",
	    "Or set [inriver] create_missing_items = true to let kcgate create such items.", NULL },
	  "The code is linked (event, push or audit)." },
	{ "archive_in_khaos", "inriver", "khaos", "operations", "warning",
	  "The code's inriver item was deleted: Mirakl gets 0 for it. Khaos has no archive call, so the code must be "
	  "archived by hand.",
	  { "Archive (discontinue) the stock code in Khaos.",
	    "Resolve the exception by hand once archived.",
	    "If the deletion was a mistake, re-create the item in inriver instead: the exception resolves itself.",
	    NULL },
	  "An item with that SKU is linked again; or by hand once archived." },
	{ NULL, NULL, NULL, NULL, NULL, NULL, { NULL }, NULL },
};

const struct kcg_runbook_check kcg_runbook_checks[] = {
	{ "operations", "daily", "every lane flowing: no breaker open, the oldest due job under a minute, no dead job",
	  "Overview", "kcgate_lane_breaker_open, kcgate_jobs_oldest_due_seconds, kcgate_jobs{state=\"dead\"}" },
	{ "operations", "daily", "open exceptions of operations, critical first, each fixed or assigned", "Exceptions",
	  "kcgate_exceptions_open{kind}" },
	{ "operations", "daily", "held orders and orders at their booking point without a Khaos sales order",
	  "Orders", "GET /admin/orders?state=held, missing_in_khaos" },
	{ "operations", "daily", "stock sync ages under [stock] stale_after_s and the last import's errors", "Overview",
	  "kcgate_stock_poll_age_seconds, kcgate_stock_import_age_seconds, kcgate_stock_last_import_lines" },
	{ "operations", "weekly", "the store's room and the retention sweep", "Overview",
	  "kcgate_store_map_used_bytes / kcgate_store_map_size_bytes, kcgate_retention_sweep_errors_total" },
	{ "operations", "weekly", "dead alert jobs (alerts that reached nobody)", "Jobs and events",
	  "kcgate_jobs{lane=\"alerts\",state=\"dead\"}" },
	{ "ecommerce", "daily", "open exceptions of ecommerce: unknown and ghost SKUs, refused stock lines",
	  "Exceptions", "kcgate_exceptions_open{kind=\"unknown_sku\"}, {kind=\"ghost_sku\"}, {kind=\"stock_import_line\"}" },
	{ "ecommerce", "daily", "orders held on a SKU, before Mirakl's acceptance deadline", "Orders",
	  "GET /admin/orders?state=held, acceptance_deadline" },
	{ "ecommerce", "weekly", "every SKU with an open problem across Khaos, inriver and Mirakl", "SKUs",
	  "GET /admin/skus?problem=1" },
	{ "finance", "daily", "orders not booked because their amounts or tax codes do not add up", "Exceptions",
	  "kcgate_exceptions_open{kind=\"price_mismatch\"}" },
	{ "finance", "weekly", "orders cancelled or refunded after booking, and shipped orders Mirakl cancelled",
	  "Exceptions", "kcgate_exceptions_open{kind=\"booked_cancelled\"}, {kind=\"shipped_cancelled\"}" },
	{ "marketing", "daily", "inriver items whose SKU Khaos does not know, or that share a SKU", "Exceptions",
	  "kcgate_exceptions_open{kind=\"identifier_drift\"}, {kind=\"duplicate_sku\"}" },
	{ "marketing", "weekly", "active Khaos codes with no inriver item (the mapping audit)", "SKUs",
	  "GET /admin/skus?problem=1, kcgate_exceptions_open{kind=\"unlinked_sku\"}" },
	{ NULL, NULL, NULL, NULL, NULL },
};

const struct kcg_runbook_entry *kcg_runbook_find(const char *kind)
{
	for (const struct kcg_runbook_entry *e = kcg_runbook; kind && e->kind; e++)
		if (strcmp(e->kind, kind) == 0)
			return e;
	return NULL;
}

json_t *kcg_runbook_json(void)
{
	json_t *kinds = json_array(), *checks = json_array(), *teams = json_array();
	for (const struct kcg_runbook_entry *e = kcg_runbook; e->kind; e++) {
		json_t *steps = json_array();
		for (size_t i = 0; e->steps[i]; i++)
			json_array_append_new(steps, json_string(e->steps[i]));
		json_array_append_new(kinds, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "kind", e->kind, "flow",
						       e->flow, "system", e->system, "owner", e->owner, "severity",
						       e->severity, "meaning", e->meaning, "steps", steps, "resolves",
						       e->resolves));
	}
	for (const struct kcg_runbook_check *c = kcg_runbook_checks; c->team; c++)
		json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s, s:s}", "team", c->team, "cadence",
							c->cadence, "what", c->what, "page", c->page, "metric", c->metric));
	for (size_t i = 0; kcg_runbook_teams[i]; i++)
		json_array_append_new(teams, json_string(kcg_runbook_teams[i]));
	return json_pack("{s:o, s:o, s:o}", "kinds", kinds, "checks", checks, "teams", teams);
}
