/*
 * sim_khaos.h: what the parts of kcgate-sim's Khaos share: the protocol
 * (sim_khaos_soap.c: requests, faults, answer helpers, WSDL), the methods
 * (sim_khaos_import.c: ImportOrders; sim_khaos.c: the rest) and the control
 * API (sim_khaos_ctl.c). Not part of sim.h: the rest of the sim sees
 * only the sim_khaos_* functions declared there.
 */
#ifndef KCGATE_SIM_KHAOS_H
#define KCGATE_SIM_KHAOS_H

#include "sim.h"

#include <libxml/tree.h>

#define SOAP_ENV_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP_ENC_NS "http://schemas.xmlsoap.org/soap/encoding/"
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"
#define XSD_NS "http://www.w3.org/2001/XMLSchema"
/* Namespace of the result types (the real one is unknown, FACTS.md §1.1 G). */
#define TYPES_NS "urn:KosWebIntf"
/* The WSDL's targetNamespace: Delphi's TWSDLHTMLPublish default. */
#define WSDL_TNS "http://tempuri.org/"

enum method {
	M_IMPORT_ORDERS,
	M_EXPORT_ORDER_STATUS_EX,
	M_EXPORT_STOCK_STATUS,
	M_GET_STOCK_LIST,
	M_GET_SOP_DATA,
	M_COUNT,
};

extern const char *const method_names[M_COUNT];

struct sim_soap_call {
	xmlDocPtr doc;
	xmlNodePtr op;
	enum method method;
};

/* An answer under construction: the envelope down to <Method>Response. */
struct soap_out {
	xmlDocPtr doc;
	xmlNodePtr resp;
	xmlNsPtr xsi;
	xmlNsPtr enc;
};

bool sk_is_el(xmlNodePtr n, const char *name);
xmlNodePtr sk_first_el(xmlNodePtr parent);
xmlNodePtr sk_child(xmlNodePtr parent, const char *name);
/* Trimmed text content (malloc'd); NULL when @p n is NULL. */
char *sk_text_of(xmlNodePtr n);
char *sk_child_text(xmlNodePtr parent, const char *name);
/* A parameter of the call, NULL when absent. */
char *sk_param(struct sim_soap_call *c, const char *name);
/* A Khaos Boolean: -1/1/true, 0/false, empty = false; false when it is none. */
bool sk_bool(const char *s, bool *out);
xmlDocPtr sk_parse_xml(const char *buf, size_t len, char *why, size_t whysz);
void sk_begin(struct soap_out *s, const char *method);
/* An unqualified element with optional text, appended to @p parent. */
xmlNodePtr sk_el(xmlNodePtr parent, const char *name, const char *text);
xmlNodePtr sk_add_typed(struct soap_out *s, xmlNodePtr parent, const char *name, const char *type, const char *text);
void sk_reply_doc(struct sim_reply *r, unsigned status, xmlDocPtr doc);
/* Finishes an answer whose result is the XML document @p inner as a string. */
void sk_finish_string(struct soap_out *s, xmlDocPtr inner, struct sim_reply *r);
xmlDocPtr sk_inner_doc(const char *root);
/* Delphi's RPC/encoded answers: a multi-reference struct (a sibling of the
 * response element), an array of @p n @p type, an array item pointing at
 * struct #@p id. */
xmlNodePtr sk_multiref(struct soap_out *s, xmlNsPtr types, const char *type, int id);
xmlNodePtr sk_encoded_array(struct soap_out *s, xmlNodePtr parent, const char *name, const char *type, size_t n);
void sk_href_item(xmlNodePtr arr, int id);
void sk_add_text(xmlNodePtr parent, const char *name, const char *text);
void sk_add_num(xmlNodePtr parent, const char *name, long long v);

/* sim_khaos_import.c: ImportOrders (lock not held). */
void sk_import_orders(struct sim_soap_call *c, struct sim_reply *r);

/* sim_khaos.c, for the control API (sim_khaos_ctl.c); lock held. */
struct sim_stock *sk_find_stock(const char *code);
/** Adds stock item @p code (not there yet: sk_find_stock() said so); lock held. */
struct sim_stock *sk_add_stock(const char *code);
/* STATUS as ExportStockStatus answers it (0-5). */
int sk_stock_status(const struct sim_stock *st);
#define SK_CANCELLED_STAGE 1
/* The rate of TAX_RATE code @p code in hundredths of a percent; false when
 * this Khaos has no such code. Lock held. */
bool sk_tax_rate(const char *code, long long *bp);
/* Every line of @p so sent (its boxes cover the quantities); lock held. */
bool sk_all_sent(const struct sim_sales_order *so);

#endif
