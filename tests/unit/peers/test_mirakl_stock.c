/*
 * test_mirakl_stock.c: the Mirakl stock calls: the STO01 CSV (header,
 * quoting, separators) and its multipart body, STO01/STO02/OF21 answers
 * read and refused, STO03's error report by line number or offer-sku,
 * and the CSV reader under it.
 */
#include "net_fixtures.h"

#include <errno.h>
#include <stdio.h>

#include "kcgate/dynbuf.h"
#include "kcgate/peers/mirakl_stock.h"

static struct kcg_mirakl_config cfg = { .base_url = "https://m.example/", .api_key = "key-123", .timeout_s = 30 };

static void test_csv_lines(void **state)
{
	(void)state;
	struct kcg_dynbuf b;
	kcg_dynbuf_init(&b, 1 << 20);
	kcg_dynbuf_addstr(&b, KCG_STOCK_CSV_HEADER);
	struct kcg_stock_line l1 = { "SKU-1", 8, NULL }, l2 = { "A \"quoted\";sku", 0, "" }, l3 = { "W", 3, "WH-1" };
	assert_int_equal(kcg_mirakl_stock_csv_line(&b, &l1), 0);
	assert_int_equal(kcg_mirakl_stock_csv_line(&b, &l2), 0);
	assert_int_equal(kcg_mirakl_stock_csv_line(&b, &l3), 0);
	assert_string_equal(kcg_dynbuf_ptr(&b), "\"offer-sku\";\"quantity\";\"warehouse-code\";\"update-delete\"\r\n"
						"\"SKU-1\";\"8\";\"\";\"\"\r\n"
						"\"A \"\"quoted\"\";sku\";\"0\";\"\";\"\"\r\n"
						"\"W\";\"3\";\"WH-1\";\"\"\r\n");
	/* what cannot travel: refused, nothing appended */
	size_t len = kcg_dynbuf_len(&b);
	struct kcg_stock_line bad[] = { { "", 1, NULL }, { "A\nB", 1, NULL }, { "X", -1, NULL }, { "X", 1, "W\r" } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(kcg_mirakl_stock_csv_line(&b, &bad[i]), -EINVAL);
	assert_int_equal(kcg_dynbuf_len(&b), len);
	kcg_dynbuf_finish(&b);
	char big[300];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(kcg_mirakl_stock_sku_ok(big));
	assert_true(kcg_mirakl_stock_sku_ok("SKU-ü"));
}

static void test_sto01_call(void **state)
{
	(void)state;
	static const char csv[] = KCG_STOCK_CSV_HEADER "\"S\";\"1\";\"\";\"\"\r\n";
	struct kcg_call c;
	assert_int_equal(kcg_mirakl_sto01(&cfg, csv, strlen(csv), &c), 0);
	assert_string_equal(c.method, "POST");
	assert_string_equal(c.url, "https://m.example/api/offers/stock/imports");
	assert_string_equal(header(&c, "Authorization"), "key-123");
	assert_true(c.secret_headers);
	const char *ct = header(&c, "Content-Type");
	assert_non_null(ct);
	assert_true(strncmp(ct, "multipart/form-data; boundary=", 30) == 0);
	const char *boundary = ct + 30;
	char want[512];
	snprintf(want, sizeof(want),
		 "--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stock.csv\"\r\n"
		 "Content-Type: text/csv; charset=utf-8\r\n\r\n%s\r\n--%s--\r\n",
		 boundary, csv, boundary);
	assert_int_equal(c.body_len, strlen(want));
	assert_memory_equal(c.body, want, c.body_len);
	kcg_call_finish(&c);
	/* a file that contains the first boundary candidate gets another */
	char tricky[512];
	assert_int_equal(kcg_mirakl_sto01(&cfg, csv, strlen(csv), &c), 0);
	snprintf(tricky, sizeof(tricky), "%s\"%s\";\"1\";\"\";\"\"\r\n", csv, header(&c, "Content-Type") + 30);
	kcg_call_finish(&c);
	assert_int_equal(kcg_mirakl_sto01(&cfg, tricky, strlen(tricky), &c), 0);
	assert_null(strstr(tricky, header(&c, "Content-Type") + 30));
	kcg_call_finish(&c);
	struct kcg_mirakl_config shop = cfg;
	shop.shop_id = "2001";
	assert_int_equal(kcg_mirakl_sto02(&shop, "77", &c), 0);
	assert_string_equal(c.url, "https://m.example/api/offers/stock/imports/77/status?shop_id=2001");
	kcg_call_finish(&c);
	assert_int_equal(kcg_mirakl_sto03(&cfg, "77", &c), 0);
	assert_string_equal(c.url, "https://m.example/api/offers/stock/imports/77/error_report");
	assert_true(c.max_reply_bytes == KCG_STOCK_REPORT_MAX);
	kcg_call_finish(&c);
	assert_int_equal(kcg_mirakl_sto02(&cfg, "", &c), -EINVAL);
	assert_int_equal(kcg_mirakl_of21(&shop, 200, 500, &c), 0);
	assert_string_equal(c.url, "https://m.example/api/offers?max=100&offset=200&shop_id=2001");
	kcg_call_finish(&c);
}

static void test_sto01_parse(void **state)
{
	(void)state;
	char id[KCG_MIRAKL_IMPORT_ID_MAX], why[KCG_ERROR_MAX];
	struct kcg_reply r = reply(201, "{\"import_id\":\"2045\"}");
	assert_int_equal(kcg_mirakl_sto01_parse(&r, id, why), 0);
	assert_string_equal(id, "2045");
	kcg_reply_finish(&r);
	r = reply(201, "{\"import_id\":2046}");
	assert_int_equal(kcg_mirakl_sto01_parse(&r, id, why), 0);
	assert_string_equal(id, "2046");
	kcg_reply_finish(&r);
	static const char *const bad[] = { "{}", "{\"import_id\":\"\"}", "{\"import_id\":\"a/../b\"}", "[]", "x",
					   "{\"import_id\":\"00000000000000000000000000000000\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = reply(201, bad[i]);
		assert_int_equal(kcg_mirakl_sto01_parse(&r, id, why), KCG_EPAYLOAD);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
	r = reply(429, "{\"message\":\"Too Many Requests\"}");
	assert_int_equal(kcg_mirakl_sto01_parse(&r, id, why), -EAGAIN);
	kcg_reply_finish(&r);
	r = reply(400, "{\"message\":\"bad header\",\"status\":400}");
	assert_int_equal(kcg_mirakl_sto01_parse(&r, id, why), KCG_EPAYLOAD);
	assert_non_null(strstr(why, "bad header"));
	kcg_reply_finish(&r);
}

static void test_sto02_parse(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX];
	struct kcg_sto02 s;
	struct kcg_reply r = reply(200, "{\"import_id\":\"1\",\"status\":\"COMPLETE\",\"lines_in_success\":9,"
					"\"lines_in_error\":1,\"has_error_report\":true}");
	assert_int_equal(kcg_mirakl_sto02_parse(&r, &s, why), 0);
	assert_int_equal(s.status, KCG_STO_COMPLETE);
	assert_true(s.lines_in_success == 9 && s.lines_in_error == 1 && s.has_error_report);
	kcg_reply_finish(&r);
	r = reply(200, "{\"status\":\"RUNNING\"}");
	assert_int_equal(kcg_mirakl_sto02_parse(&r, &s, why), 0);
	assert_int_equal(s.status, KCG_STO_RUNNING);
	kcg_reply_finish(&r);
	static const char *const bad[] = { "{\"status\":\"DONE\"}", "{}", "{\"status\":\"COMPLETE\",\"lines_in_error\":-1}",
					   "{\"status\":\"COMPLETE\",\"has_error_report\":\"yes\"}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = reply(200, bad[i]);
		assert_int_equal(kcg_mirakl_sto02_parse(&r, &s, why), KCG_EPAYLOAD);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
	r = reply(404, "{\"message\":\"Import not found\"}");
	assert_int_equal(kcg_mirakl_sto02_parse(&r, &s, why), KCG_ENOTFOUND);
	kcg_reply_finish(&r);
}

struct errs {
	uint64_t line[8];
	char sku[8][64], reason[8][300];
	size_t n;
};

static int err_fn(uint64_t line, const char *sku, const char *reason, void *arg)
{
	struct errs *e = arg;
	e->line[e->n] = line;
	snprintf(e->sku[e->n], sizeof(e->sku[0]), "%s", sku);
	snprintf(e->reason[e->n], sizeof(e->reason[0]), "%s", reason);
	e->n++;
	return 0;
}

static void test_sto03_parse(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX];
	struct errs e = { 0 };
	/* the sim's shape: line number, reason, then the line as sent */
	struct kcg_reply r = reply(200, "\"line-number\";\"error-message\";\"offer-sku\";\"quantity\";\"warehouse-code\";"
					"\"update-delete\"\r\n\"3\";\"The offer does not exist\";\"SKU-9\";\"4\";\"\";\"\"\r\n"
					"\"5\";\"Bad \"\"quantity\"\"\";\"SKU;X\";\"x\";\"\";\"\"\n");
	assert_int_equal(kcg_mirakl_sto03_parse(&r, 10, err_fn, &e, why), 0);
	assert_int_equal(e.n, 2);
	assert_true(e.line[0] == 3 && e.line[1] == 5);
	assert_string_equal(e.sku[0], "SKU-9");
	assert_string_equal(e.sku[1], "SKU;X");
	assert_string_equal(e.reason[0], "The offer does not exist");
	assert_string_equal(e.reason[1], "Bad \"quantity\"");
	kcg_reply_finish(&r);
	/* the vendor's bare words: first column the line, second the reason */
	e = (struct errs){ 0 };
	r = reply(200, "line;reason\n2;Offer not found\n");
	assert_int_equal(kcg_mirakl_sto03_parse(&r, 10, err_fn, &e, why), 0);
	assert_true(e.n == 1 && e.line[0] == 2 && e.sku[0][0] == '\0');
	assert_string_equal(e.reason[0], "Offer not found");
	kcg_reply_finish(&r);
	/* no header at all: the first line is a line in error, not names */
	e = (struct errs){ 0 };
	r = reply(200, "2;Offer not found\n4;\"Bad; quantity\"\n");
	assert_int_equal(kcg_mirakl_sto03_parse(&r, 10, err_fn, &e, why), 0);
	assert_true(e.n == 2 && e.line[0] == 2 && e.line[1] == 4 && e.sku[0][0] == '\0');
	assert_string_equal(e.reason[0], "Offer not found");
	assert_string_equal(e.reason[1], "Bad; quantity");
	kcg_reply_finish(&r);
	/* more error lines than the import had, no line and no sku, an open quote */
	static const char *const bad[] = { "h;r\n2;a\n3;b\n4;c\n", "h;r\nx;reason\n", "h;r\n2;\"open\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = (struct errs){ 0 };
		r = reply(200, bad[i]);
		assert_int_equal(kcg_mirakl_sto03_parse(&r, 2, err_fn, &e, why), KCG_EPAYLOAD);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
}

static int offer_fn(const char *sku, int64_t q, void *arg)
{
	struct errs *e = arg;
	snprintf(e->sku[e->n], sizeof(e->sku[0]), "%s", sku);
	e->line[e->n++] = (uint64_t)q;
	return 0;
}

static void test_of21_parse(void **state)
{
	(void)state;
	char why[KCG_ERROR_MAX];
	struct errs e = { 0 };
	uint64_t total;
	size_t n;
	struct kcg_reply r = reply(200, "{\"offers\":[{\"shop_sku\":\"A\",\"quantity\":3,\"active\":true},"
					"{\"shop_sku\":\"B\",\"quantity\":0}],\"total_count\":250}");
	assert_int_equal(kcg_mirakl_of21_parse(&r, offer_fn, &e, &total, &n, why), 0);
	assert_true(n == 2 && total == 250 && e.line[0] == 3 && e.line[1] == 0);
	assert_string_equal(e.sku[1], "B");
	kcg_reply_finish(&r);
	static const char *const bad[] = { "{\"offers\":[{\"quantity\":1}],\"total_count\":1}",
					   "{\"offers\":[{\"shop_sku\":\"A\",\"quantity\":-1}],\"total_count\":1}",
					   "{\"offers\":[{\"shop_sku\":\"A\",\"quantity\":\"1\"}],\"total_count\":1}",
					   "{\"offers\":{},\"total_count\":1}", "{\"offers\":[],\"total_count\":-2}" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		e = (struct errs){ 0 };
		r = reply(200, bad[i]);
		assert_int_equal(kcg_mirakl_of21_parse(&r, offer_fn, &e, &total, &n, why), KCG_EPAYLOAD);
		assert_printable(why);
		kcg_reply_finish(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_lines),  cmocka_unit_test(test_sto01_call), cmocka_unit_test(test_sto01_parse),
		cmocka_unit_test(test_sto02_parse), cmocka_unit_test(test_sto03_parse), cmocka_unit_test(test_of21_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
