/**
 * kcgate/peers/mirakl_stock.h: the Mirakl seller API's stock calls, pure
 * builders and parsers like mirakl.h (shared/docs/peers.md, the MMP
 * OpenAPI subset in shared/ref):
 *
 *  - STO01 POST /api/offers/stock/imports: multipart/form-data, one part
 *    `file`, a CSV with the header
 *    "offer-sku";"quantity";"warehouse-code";"update-delete", `;`
 *    separators, every field quoted ("" inside a field), CRLF line ends;
 *    201 {"import_id"}. At most once a minute (the caller's business).
 *  - STO02 GET /api/offers/stock/imports/{id}/status: status WAITING,
 *    RUNNING, COMPLETE or FAILED, lines_in_success, lines_in_error,
 *    has_error_report. At most every 15 s.
 *  - STO03 GET /api/offers/stock/imports/{id}/error_report: a CSV of the
 *    failed lines. The vendor text says "the first column contains the
 *    line number in error, the second the error reason" and that the file
 *    is "ready to be reimported". A first line whose first field is a
 *    line number is a data line (no header); otherwise it is a header
 *    and names the columns (offer-sku, error-line / line-number,
 *    error-message / error-reason). Each row gives its line number (line
 *    1 = the header of the file sent) and, when a column names it, its
 *    offer-sku; the caller matches a row by its line number first, and
 *    by the offer-sku only for a row without one (docs/khaos-soap.md lists
 *    this as an assumption).
 *  - OF21 GET /api/offers?max=&offset=: {"offers":[{"shop_sku",
 *    "quantity", "active", ...}], "total_count"}; offset pagination, pages
 *    of at most KCG_MIRAKL_PAGE_MAX. An offer with "active": false sells
 *    nothing: the parser skips it (it still counts in *n, for the paging).
 *
 * Parsers return 0, -EAGAIN (transient: no answer, 5xx, 429),
 * KCG_ENOTFOUND (404) or KCG_EPAYLOAD, with a printable @p why.
 */
#ifndef KCGATE_PEERS_MIRAKL_STOCK_H
#define KCGATE_PEERS_MIRAKL_STOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kcgate/config.h"
#include "kcgate/dynbuf.h"
#include "kcgate/net.h"

#define KCG_MIRAKL_IMPORT_ID_MAX 32   /**< longest import_id kept, NUL included (Mirakl's are numbers) */
#define KCG_MIRAKL_SKU_MAX 256        /**< longest offer SKU read from Mirakl, NUL included */
#define KCG_STOCK_CSV_HEADER "\"offer-sku\";\"quantity\";\"warehouse-code\";\"update-delete\"\r\n"
#define KCG_STOCK_REPORT_MAX (64u << 20) /**< longest error report read */

/** One line of a stock import. */
struct kcg_stock_line {
	const char *sku;
	int64_t quantity;       /**< >= 0 */
	const char *warehouse;  /**< NULL or "": a global quantity */
};

/** Whether @p sku can travel in the CSV: 1 to 255 bytes, no control character. */
bool kcg_mirakl_stock_sku_ok(const char *sku);

/** Appends one CSV line (quoted fields, CRLF) to @p b. -EINVAL for a
 * SKU or warehouse kcg_mirakl_stock_sku_ok() refuses or a negative quantity. */
int kcg_mirakl_stock_csv_line(struct kcg_dynbuf *b, const struct kcg_stock_line *line);

/** STO01 with @p csv (header and lines) as the multipart part `file`. */
int kcg_mirakl_sto01(const struct kcg_mirakl_config *cfg, const char *csv, size_t len, struct kcg_call *out);

/** STO01's 201 {"import_id"} into @p id. */
int kcg_mirakl_sto01_parse(const struct kcg_reply *r, char id[KCG_MIRAKL_IMPORT_ID_MAX], char why[KCG_ERROR_MAX]);

enum kcg_sto_status { KCG_STO_WAITING, KCG_STO_RUNNING, KCG_STO_COMPLETE, KCG_STO_FAILED };

struct kcg_sto02 {
	enum kcg_sto_status status;
	uint64_t lines_in_success;
	uint64_t lines_in_error;
	bool has_error_report;
};

int kcg_mirakl_sto02(const struct kcg_mirakl_config *cfg, const char *id, struct kcg_call *out);
int kcg_mirakl_sto02_parse(const struct kcg_reply *r, struct kcg_sto02 *out, char why[KCG_ERROR_MAX]);

int kcg_mirakl_sto03(const struct kcg_mirakl_config *cfg, const char *id, struct kcg_call *out);

/**
 * STO03's CSV: @p fn for each failed line with its line number in the file
 * sent (0 when the report has none), its offer-sku ("" when the report has
 * none) and the reason (printable, cut to 300 bytes). At most @p max_lines
 * lines (more: KCG_EPAYLOAD).
 */
int kcg_mirakl_sto03_parse(const struct kcg_reply *r, size_t max_lines,
			   int (*fn)(uint64_t line, const char *sku, const char *reason, void *arg), void *arg,
			   char why[KCG_ERROR_MAX]);

/** OF21, one page: offers from @p offset, @p max per page (clamped to 1..KCG_MIRAKL_PAGE_MAX). */
int kcg_mirakl_of21(const struct kcg_mirakl_config *cfg, uint64_t offset, unsigned max, struct kcg_call *out);

/** OF21's page: @p fn for each offer (shop_sku, quantity); *@p total gets
 * total_count, *@p n the offers on the page. */
int kcg_mirakl_of21_parse(const struct kcg_reply *r, int (*fn)(const char *sku, int64_t quantity, void *arg), void *arg,
			  uint64_t *total, size_t *n, char why[KCG_ERROR_MAX]);

/**
 * A small reader of `;`-separated CSV with optional "quoted" fields ("" a
 * quote inside one), LF or CRLF line ends: @p fn for each record with its
 * fields (at most @p max_fields; more are dropped), *@p line its 1-based
 * number. Fields are cut to 1023 bytes. @return 0, fn's value, or
 * KCG_EPAYLOAD for an unterminated quote.
 */
int kcg_csv_each(const char *buf, size_t len, size_t max_fields,
		 int (*fn)(size_t line, char **fields, size_t n_fields, void *arg), void *arg);

#endif
