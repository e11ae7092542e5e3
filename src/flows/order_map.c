/*
 * order_map.c: a Mirakl order as a Khaos sales order
 * (kcgate/flows/order_map.h has the mapping table). Validation first, with
 * the Mirakl field named in the sentence; then every value is copied, so
 * the sales order outlives the JSON it came from.
 */
#include "kcgate/flows/order_map.h"
#include "kcgate/flows/orders.h"
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

#define AMOUNT_MAX 1e10 /* pounds: far above any order, far below double's exact pennies */

/* A Mirakl amount (a JSON number) in whole pennies: false when it is not
 * a number, out of range or has a fraction of a penny. */
static bool pennies(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i <= -(json_int_t)AMOUNT_MAX || i >= (json_int_t)AMOUNT_MAX)
			return false;
		*out = (int64_t)i * 100;
		return true;
	}
	if (!json_is_real(v))
		return false;
	double x = json_real_value(v) * 100;
	if (!(x > -AMOUNT_MAX * 100 && x < AMOUNT_MAX * 100))
		return false;
	int64_t r = (int64_t)(x + (x < 0 ? -0.5 : 0.5));
	double off = x - (double)r;
	if (off > 1e-4 || off < -1e-4) /* 12.99 * 100 is 1298.9999999999998: a penny; 12.995 is not */
		return false;
	*out = r;
	return true;
}

static struct kcg_khaos_money money(int64_t minor)
{
	return (struct kcg_khaos_money){ .set = true, .minor = minor };
}

/* "12.34" for a message. */
static const char *fmt_pennies(int64_t v, char out[32])
{
	long long a = v < 0 ? -(long long)v : (long long)v;
	snprintf(out, 32, "%s%lld.%02lld", v < 0 ? "-" : "", a / 100, a % 100);
	return out;
}

/* A Mirakl line that is (still) to be booked. */
static bool line_bookable(const json_t *line)
{
	const char *st = str(line, "order_line_state");
	return !st || (strcmp(st, "REFUSED") != 0 && strcmp(st, "CANCELED") != 0);
}

/* What booking needs. @return 0 (with the number of lines to book) or
 * KCG_EPAYLOAD (why names the field; *fault stays KCG_ORDER_MAP_DATA but
 * for a line withdrawn in part). */
static int check(const json_t *order, size_t *booked, enum kcg_order_map_fault *fault, char why[KCG_ERROR_MAX])
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
		size_t nc = json_array_size(json_object_get(line, "cancelations"));
		size_t nr = json_array_size(json_object_get(line, "refunds"));
		if (nc + nr > 0) {
			*fault = KCG_ORDER_MAP_PARTIAL;
			kcg_why(why, "order %s: order_lines[%zu] (%.60s) is live with %zu cancelation(s) and %zu refund(s) "
				"before it was booked; Mirakl calls their quantities informative only, so how many are left "
				"to ship is not guessed", id, i, str(line, "order_line_id") ? str(line, "order_line_id") : "?",
				nc, nr);
			return KCG_EPAYLOAD;
		}
		json_t *q = json_object_get(line, "quantity");
		if (!str(line, "offer_sku")) {
			kcg_why(why, "order %s: order_lines[%zu].offer_sku missing", id, i);
			return KCG_EPAYLOAD;
		}
		if (!json_is_integer(q) || json_integer_value(q) < 1 || json_integer_value(q) > KCG_ORDER_QTY_MAX) {
			kcg_why(why, "order %s: order_lines[%zu].quantity is not a whole number from 1 to %d", id, i,
				KCG_ORDER_QTY_MAX);
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

/* What one Mirakl line books. */
struct line_money {
	int64_t price;           /* pennies, the line's price (promotions applied) */
	int64_t tax;             /* pennies, taxes[] (TAX_EXCLUDED) */
	int64_t shipping_tax;    /* pennies, shipping_taxes[] (TAX_EXCLUDED) */
	const char *rate;        /* the Khaos TAX_RATE code (TAX_EXCLUDED with taxes; NULL: booked gross) */
	bool shipping_taxed;     /* the line has shipping_taxes (TAX_EXCLUDED) */
};

/* Sums the amounts of @p taxes (TAX_EXCLUDED: what comes on top of the
 * price); with @p rates, also the one Khaos code they map to. */
static int sum_taxes(const char *id, size_t i, const char *key, const json_t *taxes, const struct kcg_config_map *rates,
		     int64_t *sum, const char **rate, enum kcg_order_map_fault *fault, char why[KCG_ERROR_MAX])
{
	size_t k;
	const json_t *t;
	*sum = 0;
	if (taxes && !json_is_array(taxes)) {
		kcg_why(why, "order %s: order_lines[%zu].%s is not an array", id, i, key);
		return KCG_EPAYLOAD;
	}
	json_array_foreach(taxes, k, t) {
		int64_t a;
		if (!pennies(json_object_get(t, "amount"), &a)) {
			kcg_why(why, "order %s: order_lines[%zu].%s[%zu].amount is not an amount in whole pennies", id, i,
				key, k);
			return KCG_EPAYLOAD;
		}
		*sum += a;
		if (!rate)
			continue;
		const char *code = str(t, "code");
		const char *khaos = kcg_config_map_get(rates, code);
		if (!khaos) {
			*fault = KCG_ORDER_MAP_TAX_CODE;
			kcg_why(why, "order %s: order_lines[%zu].%s[%zu].code '%.40s' is not in [khaos.tax_rates]", id, i,
				key, k, code ? code : "");
			return KCG_EPAYLOAD;
		}
		if (*rate && strcmp(*rate, khaos) != 0) {
			*fault = KCG_ORDER_MAP_PRICE;
			kcg_why(why, "order %s: order_lines[%zu] has taxes of two Khaos rates (%.20s, %.20s); Khaos takes one "
				"per line", id, i, *rate, khaos);
			return KCG_EPAYLOAD;
		}
		*rate = khaos;
	}
	return 0;
}

/* The money of every line to book, and how many ORDER_ITEMs they make. */
static int line_amounts(const json_t *order, const struct kcg_order_map_config *mc, bool excluded,
			struct line_money *lm, size_t *items, enum kcg_order_map_fault *fault, char why[KCG_ERROR_MAX])
{
	const char *id = kcg_mirakl_order_id(order);
	size_t i, n = 0;
	const json_t *line;
	*items = 0;
	json_array_foreach(json_object_get(order, "order_lines"), i, line) {
		if (!line_bookable(line))
			continue;
		struct line_money *m = &lm[n++];
		int64_t qty = json_integer_value(json_object_get(line, "quantity"));
		const json_t *price = json_object_get(line, "price");
		*m = (struct line_money){ 0 };
		if (price) {
			if (!pennies(price, &m->price) || m->price < 0) {
				kcg_why(why, "order %s: order_lines[%zu].price is not an amount >= 0 in whole pennies", id, i);
				return KCG_EPAYLOAD;
			}
		} else {
			int64_t unit;
			if (!pennies(json_object_get(line, "price_unit"), &unit) || unit < 0) {
				kcg_why(why, "order %s: order_lines[%zu].price missing", id, i);
				return KCG_EPAYLOAD;
			}
			m->price = unit * qty;
		}
		*items += m->price % qty ? 2 : 1;
		if (!excluded)
			continue;
		int rc = sum_taxes(id, i, "taxes", json_object_get(line, "taxes"), mc ? mc->tax_rates : NULL, &m->tax,
				   &m->rate, fault, why);
		if (rc == 0)
			rc = sum_taxes(id, i, "shipping_taxes", json_object_get(line, "shipping_taxes"), NULL,
				       &m->shipping_tax, NULL, fault, why);
		if (rc != 0)
			return rc;
		m->shipping_taxed = json_array_size(json_object_get(line, "shipping_taxes")) > 0;
		/* no taxes: Mirakl's prices are the same in both modes (OR11's
		 * order_tax_mode): what the customer pays, booked gross, and Khaos
		 * applies the item's own rate (m->rate stays NULL) */
	}
	return 0;
}

/* ORDER_NOTE: where the parcel goes (a pickup point) and by when. */
static void order_note(char **dst, const json_t *order, bool *oom)
{
	const char *pudo = str(order, "shipping_pudo_id"), *deadline = str(order, "shipping_deadline");
	if (!pudo && !deadline)
		return;
	if (asprintf(dst, "%s%s%s%s%s%s%s", pudo ? "Pickup point: " : "", pudo ? pudo : "", pudo ? "." : "",
		     pudo && deadline ? " " : "", deadline ? "Ship by: " : "", deadline ? deadline : "",
		     deadline ? "." : "") < 0) {
		*dst = NULL;
		*oom = true;
	}
}

int kcg_order_map(const json_t *order, const struct kcg_order_map_config *mc, struct kcg_khaos_sales_order *out,
		  enum kcg_order_map_fault *fault, char why[KCG_ERROR_MAX])
{
	const json_t *lines = json_object_get(order, "order_lines");
	const json_t *customer = json_object_get(order, "customer");
	const json_t *inv = json_object_get(customer, "billing_address");
	const json_t *del = json_object_get(customer, "shipping_address");
	const char *email = str(order, "customer_notification_email");
	const char *created = str(order, "created_date");
	const char *id = kcg_mirakl_order_id(order);
	size_t i, booked = 0, items = 0;
	const json_t *line;
	bool oom = false;
	enum kcg_order_map_fault dummy;
	struct line_money *lm = NULL;

	if (!fault)
		fault = &dummy;
	*fault = KCG_ORDER_MAP_DATA;
	*out = (struct kcg_khaos_sales_order){ 0 };
	why[0] = '\0';
	int rc = check(order, &booked, fault, why);
	if (rc != 0)
		return rc;

	/* the money, first: nothing is booked unless it adds up */
	const char *mode = str(order, "order_tax_mode");
	bool excluded = mode && strcmp(mode, "TAX_EXCLUDED") == 0;
	if (mode && !excluded && strcmp(mode, "TAX_INCLUDED") != 0) {
		kcg_why(why, "order %s: order_tax_mode '%.20s' is neither TAX_INCLUDED nor TAX_EXCLUDED", id, mode);
		return KCG_EPAYLOAD;
	}
	int64_t total, shipping = 0;
	if (!pennies(json_object_get(order, "total_price"), &total)) {
		kcg_why(why, "order %s: total_price missing or not an amount in whole pennies", id);
		return KCG_EPAYLOAD;
	}
	const json_t *sp = json_object_get(order, "shipping_price");
	if (sp && !json_is_null(sp) && (!pennies(sp, &shipping) || shipping < 0)) {
		kcg_why(why, "order %s: shipping_price is not an amount >= 0 in whole pennies", id);
		return KCG_EPAYLOAD;
	}
	/* Some lines refused or cancelled: what the customer pays is what the
	 * remaining lines say (their total_price and shipping_price), whatever
	 * the order's totals still count, when every remaining line says it
	 * [assumption: docs/khaos-soap.md]. */
	if (booked < json_array_size(lines)) {
		int64_t t_sum = 0, s_sum = 0;
		bool all = true;
		json_array_foreach(lines, i, line) {
			if (!line_bookable(line))
				continue;
			int64_t lt, ls = 0;
			const json_t *lsp = json_object_get(line, "shipping_price");
			if (!pennies(json_object_get(line, "total_price"), &lt) ||
			    (lsp && !json_is_null(lsp) && !pennies(lsp, &ls))) {
				all = false;
				break;
			}
			t_sum += lt;
			s_sum += ls;
		}
		if (all) {
			total = t_sum;
			shipping = s_sum;
		}
	}
	lm = calloc(booked, sizeof(*lm));
	if (!lm)
		goto fail_oom;
	rc = line_amounts(order, mc, excluded, lm, &items, fault, why);
	if (rc != 0)
		goto fail;
	int64_t prices = 0, taxes = 0, shipping_taxes = 0;
	bool shipping_taxed = false;
	for (i = 0; i < booked; i++) {
		prices += lm[i].price;
		taxes += lm[i].tax;
		shipping_taxes += lm[i].shipping_tax;
		shipping_taxed |= lm[i].shipping_taxed;
	}
	/* ORDER_AMOUNT: what the customer pays; the booked lines and delivery
	 * must make exactly that */
	int64_t amount = total + (excluded ? taxes + shipping_taxes : 0);
	int64_t lines_booked = prices + (excluded ? taxes : 0), delivery = shipping + (excluded ? shipping_taxes : 0);
	if (lines_booked + delivery != amount) {
		char a[32], b[32], c[32], d[32];
		*fault = KCG_ORDER_MAP_PRICE;
		kcg_why(why, "order %s: the lines (%s) and delivery (%s) make %s, not the %s the customer pays "
			"(total_price%s)", id, fmt_pennies(lines_booked, a), fmt_pennies(delivery, b),
			fmt_pennies(lines_booked + delivery, c), fmt_pennies(amount, d),
			excluded ? " + taxes" : "");
		rc = KCG_EPAYLOAD;
		goto fail;
	}
	const char *method = str(order, "shipping_type_code");
	const char *courier = NULL;
	if (mc && mc->shipping_methods) {
		courier = kcg_config_map_get(mc->shipping_methods, method);
		if (!courier) {
			*fault = KCG_ORDER_MAP_SHIPPING;
			kcg_why(why, "order %s: shipping_type_code '%.40s' is not in [shipping_methods]", id,
				method ? method : "");
			rc = KCG_EPAYLOAD;
			goto fail;
		}
	}

	take(&out->associated_ref, id, &oom);
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
	out->amount = money(amount);
	take(&out->currency, str(order, "currency_iso_code"), &oom);
	/* always sent, 0 when free: Khaos computes its own charge otherwise;
	 * net with its tax only when Mirakl gave shipping taxes */
	if (excluded && shipping_taxed) {
		out->delivery_net = money(shipping);
		out->delivery_tax = money(shipping_taxes);
	} else {
		out->delivery_gross = money(shipping);
	}
	take(&out->courier_code, courier, &oom);
	order_note(&out->order_note, order, &oom);
	take(&out->po_number, str(order, "commercial_id"), &oom);

	out->lines = calloc(items, sizeof(out->lines[0]));
	if (!out->lines)
		goto fail_oom;
	size_t n = 0;
	json_array_foreach(lines, i, line) {
		if (!line_bookable(line))
			continue;
		const struct line_money *m = &lm[n++];
		int64_t qty = json_integer_value(json_object_get(line, "quantity"));
		int64_t unit = m->price / qty, rest = m->price % qty;
		/* qty - rest at unit, rest at unit + 1 penny: exactly the line's price */
		for (int part = 0; part < 2; part++) {
			int64_t q = part == 0 ? qty - rest : rest;
			if (q == 0)
				continue;
			struct kcg_khaos_order_line *l = &out->lines[out->n_lines++];
			take(&l->stock_code, str(line, "offer_sku"), &oom);
			l->quantity = q;
			if (excluded && m->rate) {
				l->price_net = money(unit + part);
				take(&l->tax_rate, m->rate, &oom);
			} else {
				l->price_gross = money(unit + part);
			}
			take(&l->description, str(line, "product_title"), &oom);
		}
	}
	free(lm);
	if (oom)
		goto fail_oom_done;
	*fault = KCG_ORDER_MAP_OK;
	return 0;
fail_oom:
	free(lm);
fail_oom_done:
	kcg_khaos_sales_order_finish(out);
	*fault = KCG_ORDER_MAP_DATA;
	kcg_why(why, "out of memory");
	return -ENOMEM;
fail:
	free(lm);
	kcg_khaos_sales_order_finish(out);
	return rc;
}
