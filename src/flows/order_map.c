/*
 * order_map.c: a Mirakl order as a Khaos sales order
 * (kcgate/flows/order_map.h has the mapping table). Validation first, with
 * the Mirakl field named in the sentence; then every value is copied, so
 * the sales order outlives the JSON it came from.
 */
#include "kcgate/flows/order_map.h"
#include "kcgate/common.h"
#include "kcgate/peers/mirakl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A non-empty string member, or NULL. */
static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s && *s ? s : NULL;
}

/* A copy of @p s into *@p dst when it is a non-empty string; sets *@p oom
 * when the copy fails. */
static void take(char **dst, const char *s, bool *oom)
{
	if (!s || !*s)
		return;
	*dst = strdup(s);
	if (!*dst)
		*oom = true;
}

static struct kcg_khaos_money money(const json_t *v)
{
	return (struct kcg_khaos_money){ .set = json_is_number(v), .value = json_number_value(v) };
}

/* A Mirakl line that is (still) to be booked. */
static bool line_bookable(const json_t *line)
{
	const char *st = str(line, "order_line_state");
	return !st || (strcmp(st, "REFUSED") != 0 && strcmp(st, "CANCELED") != 0);
}

/* What booking needs. @return 0 (with the number of lines to book) or
 * KCG_EPAYLOAD (why names the field). */
static int check(const json_t *order, size_t *booked, char why[KCG_ERROR_MAX])
{
	const char *id = kcg_mirakl_order_id(order);
	const json_t *lines = json_object_get(order, "order_lines");
	size_t i;
	const json_t *line;

	if (!id || !*id) {
		kcg_why(why, "order_id missing");
		return KCG_EPAYLOAD;
	}
	if (strchr(id, ',')) {
		kcg_why(why, "order_id '%s' contains a comma (Khaos associated refs are sent as CSV)", id);
		return KCG_EPAYLOAD;
	}
	if (!json_is_array(lines) || json_array_size(lines) == 0) {
		kcg_why(why, "order %s: order_lines missing", id);
		return KCG_EPAYLOAD;
	}
	*booked = 0;
	json_array_foreach(lines, i, line) {
		if (!line_bookable(line))
			continue;
		json_t *q = json_object_get(line, "quantity");
		if (!str(line, "offer_sku")) {
			kcg_why(why, "order %s: order_lines[%zu].offer_sku missing", id, i);
			return KCG_EPAYLOAD;
		}
		if (!json_is_integer(q) || json_integer_value(q) < 1) {
			kcg_why(why, "order %s: order_lines[%zu].quantity is not a whole number >= 1", id, i);
			return KCG_EPAYLOAD;
		}
		(*booked)++;
	}
	if (*booked == 0) {
		kcg_why(why, "order %s: order_lines has no line to book (all refused or canceled)", id);
		return KCG_EPAYLOAD;
	}
	const char *created = str(order, "created_date");
	uint64_t ms;
	if (created && kcg_mirakl_parse_time(created, &ms) != 0) {
		kcg_why(why, "order %s: created_date '%s' is not a date-time", id, created);
		return KCG_EPAYLOAD;
	}
	return 0;
}

/* An address from a Mirakl one; names fall back to the customer's. @p addr
 * may be NULL (Mirakl hides addresses before acceptance on some
 * platforms): then only names and email. */
static void address(struct kcg_khaos_address *a, const json_t *addr, const json_t *customer, const char *email,
		    bool *oom)
{
	take(&a->address1, str(addr, "street_1"), oom);
	take(&a->address2, str(addr, "street_2"), oom);
	take(&a->town, str(addr, "city"), oom);
	take(&a->county, str(addr, "state"), oom);
	take(&a->postcode, str(addr, "zip_code"), oom);
	take(&a->country, str(addr, "country_iso_code"), oom);
	take(&a->forename, str(addr, "firstname") ? str(addr, "firstname") : str(customer, "firstname"), oom);
	take(&a->surname, str(addr, "lastname") ? str(addr, "lastname") : str(customer, "lastname"), oom);
	take(&a->tel, str(addr, "phone"), oom);
	take(&a->email, email, oom);
}

/* The customer's display name: the invoice address's company, else
 * "firstname lastname"; NULL when there is nothing. */
static void customer_name(char **dst, const json_t *customer, const json_t *inv, bool *oom)
{
	const char *company = str(inv, "company");
	if (company) {
		take(dst, company, oom);
		return;
	}
	const char *f = str(customer, "firstname"), *l = str(customer, "lastname");
	if (!f && !l)
		return;
	if (asprintf(dst, "%s%s%s", f ? f : "", f && l ? " " : "", l ? l : "") < 0) {
		*dst = NULL;
		*oom = true;
	}
}

int kcg_order_map(const json_t *order, struct kcg_khaos_sales_order *out, char why[KCG_ERROR_MAX])
{
	const json_t *lines = json_object_get(order, "order_lines");
	const json_t *customer = json_object_get(order, "customer");
	const json_t *inv = json_object_get(customer, "billing_address");
	const json_t *del = json_object_get(customer, "shipping_address");
	const char *email = str(order, "customer_notification_email");
	const char *created = str(order, "created_date");
	size_t i, booked = 0;
	const json_t *line;
	bool oom = false;

	*out = (struct kcg_khaos_sales_order){ 0 };
	why[0] = '\0';
	int rc = check(order, &booked, why);
	if (rc != 0)
		return rc;

	take(&out->associated_ref, kcg_mirakl_order_id(order), &oom);
	if (created) {
		out->has_date = true;
		kcg_mirakl_parse_time(created, &out->date_ms); /* checked above */
	}
	/* Without a billing address the shipping address serves for both. */
	if (!json_is_object(inv))
		inv = del;
	if (!json_is_object(del))
		del = inv;
	customer_name(&out->company_name, customer, inv, &oom);
	address(&out->invoice, inv, customer, email, &oom);
	address(&out->delivery, del, customer, email, &oom);
	out->amount = money(json_object_get(order, "total_price"));
	take(&out->currency, str(order, "currency_iso_code"), &oom);
	out->delivery_gross = money(json_object_get(order, "shipping_price"));
	take(&out->po_number, str(order, "commercial_id"), &oom);

	out->lines = calloc(booked, sizeof(out->lines[0]));
	if (!out->lines)
		goto fail_oom;
	json_array_foreach(lines, i, line) {
		if (!line_bookable(line))
			continue;
		struct kcg_khaos_order_line *l = &out->lines[out->n_lines++];
		take(&l->stock_code, str(line, "offer_sku"), &oom);
		l->quantity = json_integer_value(json_object_get(line, "quantity"));
		l->price_gross = money(json_object_get(line, "price_unit"));
		take(&l->description, str(line, "product_title"), &oom);
	}
	if (oom)
		goto fail_oom;
	return 0;
fail_oom:
	kcg_khaos_sales_order_finish(out);
	kcg_why(why, "out of memory");
	return -ENOMEM;
}
