#!/usr/bin/env python3
"""Contract test of kcgate-sim itself (python3 stdlib only).

Starts the simulator on a free port (--listen 127.0.0.1:0, port read from its
"listening on" line), exercises every endpoint of docs/sim.md and
docs/khaos-soap.md, prints "N passed, M failed" and exits 1 on any failure.

  python3 tests/sim/test_sim.py --sim build/kcgate-sim
"""
import argparse
import base64
import datetime
import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
import xml.etree.ElementTree as ET

INRIVER_KEY = "sim-inriver-key"
MIRAKL_KEY = "test-shop-key-123"
KHAOS_USER = "kcuser"
KHAOS_PASS = "kc&pass:word"
NS = "urn:IKosWebIntf-IKosWeb"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAP_PATH = "/khaos/soap/IKosWeb"

# Required fields of OR11_Response_200_Orders / _OrderLines in the Mirakl
# seller OpenAPI extract (shared/ref/mirakl-mmp-seller-openapi.subset.json).
OR11_ORDER_REQUIRED = [
    "can_cancel", "can_shop_ship", "commercial_id", "created_date", "currency_iso_code",
    "customer", "fulfillment", "fully_refunded", "has_customer_message", "has_incident",
    "has_invoice", "last_updated_date", "leadtime_to_ship", "order_id", "order_lines",
    "order_state", "order_tax_mode", "paymentType", "price", "shipping_price",
    "shipping_type_code", "shipping_type_label", "shipping_zone_code", "shipping_zone_label",
    "total_commission", "total_price"]
OR11_LINE_REQUIRED = [
    "can_refund", "cancelations", "category_code", "category_label", "commission_fee",
    "commission_rate_vat", "commission_vat", "created_date", "description", "last_updated_date",
    "offer_id", "offer_sku", "offer_state_code", "order_line_additional_fields", "order_line_id",
    "order_line_index", "order_line_state", "price", "price_unit", "product_medias",
    "product_sku", "product_title", "quantity", "refunds", "shipping_price", "total_commission",
    "total_price"]
ADDRESS_REQUIRED = ["city", "country", "country_iso_code", "lastname", "street_1"]

# The ImportOrders envelope exactly as printed in docs/khaos-soap.md.
DOC_IMPORT_ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soap:Body soap:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
    <ns1:ImportOrders xmlns:ns1="urn:IKosWebIntf-IKosWeb">
      <Orders xsi:type="xsd:string">&lt;SALES_ORDERS&gt;&lt;SALES_ORDER&gt;&lt;CUSTOMER_DETAIL&gt;&lt;IS_NEW_CUSTOMER&gt;-1&lt;/IS_NEW_CUSTOMER&gt;&lt;COMPANY_CLASS&gt;Marketplace&lt;/COMPANY_CLASS&gt;&lt;COMPANY_NAME&gt;Jane Doe&lt;/COMPANY_NAME&gt;&lt;ADDRESSES&gt;&lt;INVADDR&gt;&lt;IADDRESS1&gt;1 High Street&lt;/IADDRESS1&gt;&lt;ITOWN&gt;London&lt;/ITOWN&gt;&lt;IPOSTCODE&gt;SW1A 1AA&lt;/IPOSTCODE&gt;&lt;ICOUNTRY_CODE&gt;GBR&lt;/ICOUNTRY_CODE&gt;&lt;IFORENAME&gt;Jane&lt;/IFORENAME&gt;&lt;ISURNAME&gt;Doe&lt;/ISURNAME&gt;&lt;/INVADDR&gt;&lt;DELADDR&gt;&lt;DADDRESS1&gt;1 High Street&lt;/DADDRESS1&gt;&lt;DTOWN&gt;London&lt;/DTOWN&gt;&lt;DPOSTCODE&gt;SW1A 1AA&lt;/DPOSTCODE&gt;&lt;DCOUNTRY_CODE&gt;GBR&lt;/DCOUNTRY_CODE&gt;&lt;DFORENAME&gt;Jane&lt;/DFORENAME&gt;&lt;DSURNAME&gt;Doe&lt;/DSURNAME&gt;&lt;/DELADDR&gt;&lt;/ADDRESSES&gt;&lt;/CUSTOMER_DETAIL&gt;&lt;PAYMENTS&gt;&lt;PAYMENT_DETAIL&gt;&lt;PAYMENT_AMOUNT&gt;24.99&lt;/PAYMENT_AMOUNT&gt;&lt;PAYMENT_TYPE&gt;3&lt;/PAYMENT_TYPE&gt;&lt;/PAYMENT_DETAIL&gt;&lt;/PAYMENTS&gt;&lt;ORDER_HEADER&gt;&lt;ORDER_DATE&gt;2026-11-22 07:42:07&lt;/ORDER_DATE&gt;&lt;ORDER_AMOUNT&gt;24.99&lt;/ORDER_AMOUNT&gt;&lt;ORDER_CURRENCY_CODE&gt;GBP&lt;/ORDER_CURRENCY_CODE&gt;&lt;SITE&gt;MAIN&lt;/SITE&gt;&lt;ASSOCIATED_REF&gt;DOC-1-A&lt;/ASSOCIATED_REF&gt;&lt;DELIVERY_GRS&gt;4.99&lt;/DELIVERY_GRS&gt;&lt;PO_NUMBER&gt;C-77&lt;/PO_NUMBER&gt;&lt;SALES_SOURCE&gt;MIRAKL&lt;/SALES_SOURCE&gt;&lt;/ORDER_HEADER&gt;&lt;ORDER_ITEMS&gt;&lt;ORDER_ITEM&gt;&lt;STOCK_CODE&gt;SKU-1&lt;/STOCK_CODE&gt;&lt;MAPPING_TYPE&gt;1&lt;/MAPPING_TYPE&gt;&lt;ORDER_QTY&gt;2&lt;/ORDER_QTY&gt;&lt;PRICE_GRS&gt;10.00&lt;/PRICE_GRS&gt;&lt;/ORDER_ITEM&gt;&lt;/ORDER_ITEMS&gt;&lt;/SALES_ORDER&gt;&lt;/SALES_ORDERS&gt;</Orders>
    </ns1:ImportOrders>
  </soap:Body>
</soap:Envelope>
"""


class Sim:
    def __init__(self, binary, extra=()):
        self.binary = binary
        args = [binary, "--listen", "127.0.0.1:0", "--mirakl-key", MIRAKL_KEY, "--inriver-key", INRIVER_KEY,
                "--khaos-user", KHAOS_USER, "--khaos-password", KHAOS_PASS] + list(extra)
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
        self.stderr = []
        deadline = time.time() + 10
        line = b""
        while time.time() < deadline:
            r, _, _ = select.select([self.proc.stderr], [], [], 0.2)
            if r:
                line = self.proc.stderr.readline()
                self.stderr.append(line.decode(errors="replace"))
                if b"listening on http://" in line:
                    break
            if self.proc.poll() is not None:
                break
        if b"listening on http://" not in line:
            self.stop()
            raise RuntimeError("sim did not start: %r" % "".join(self.stderr))
        hostport = line.decode().strip().rsplit("http://", 1)[1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def json(self, method, path, body=None, headers=None, timeout=10):
        st, hd, data = self.request(method, path, body, headers, timeout)
        return st, hd, (json.loads(data) if data else None)

    # control API
    def reset(self):
        st, _, _ = self.request("POST", "/_sim/reset")
        assert st == 204, st

    def order(self, **fields):
        st, _, j = self.json("POST", "/_sim/mirakl/orders", fields)
        assert st == 201, (st, j)
        return j["order_id"]

    def stock(self, *items):
        st, _, j = self.json("POST", "/_sim/khaos/stock", {"items": list(items)})
        assert st == 200, (st, j)

    def faults(self, **f):
        st, _, j = self.json("POST", "/_sim/faults", f)
        assert st == 200, (st, j)
        return j

    def settings(self, **kw):
        st, _, j = self.json("POST", "/_sim/mirakl/settings", kw)
        assert st == 200, (st, j)
        return j

    def ctl(self, oid, action, body=None):
        return self.json("POST", "/_sim/mirakl/orders/%s/%s" % (oid, action), body)

    def state(self):
        st, _, j = self.json("GET", "/_sim/state")
        assert st == 200
        return j

    def requests(self, system, limit=None):
        q = "/_sim/requests?system=" + system + ("&limit=%d" % limit if limit else "")
        st, _, j = self.json("GET", q)
        assert st == 200, st
        return j["requests"]

    # Mirakl
    def mirakl(self, method, path, body=None, key=MIRAKL_KEY, headers=None, timeout=10):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = key
        h.setdefault("Accept", "application/json")
        return self.json(method, "/mirakl" + path, body, h, timeout)

    def accept(self, order_id, decisions, timeout=10):
        body = {"order_lines": [{"id": i, "accepted": a} for i, a in decisions]}
        return self.mirakl("PUT", "/api/orders/%s/accept" % order_id, body, timeout=timeout)

    def or12(self, order_id):
        st, _, j = self.mirakl("GET", "/api/orders/" + order_id)
        assert st == 200, (st, j)
        return j

    # inriver
    def inriver(self, method, path, body=None, key=None, headers=None):
        h = dict(headers or {})
        h["X-inRiver-APIKey"] = INRIVER_KEY if key is None else key
        return self.json(method, "/inriver/api/v1.0.0" + path, body, h)

    # Khaos
    def soap_raw(self, body, headers=None, auth=True, timeout=10):
        h = {"Content-Type": "text/xml; charset=utf-8"}
        if auth:
            tok = base64.b64encode(("%s:%s" % (KHAOS_USER, KHAOS_PASS)).encode()).decode()
            h["Authorization"] = "Basic " + tok
        h.update(headers or {})
        return self.request("POST", SOAP_PATH, body, h, timeout)

    def soap(self, method, params, auth=True, headers=None, ns=NS, timeout=10):
        h = {"SOAPAction": '"%s#%s"' % (ns, method)}
        h.update(headers or {})
        st, hd, data = self.soap_raw(envelope(method, params, ns), h, auth, timeout)
        return st, hd, ET.fromstring(data)


def envelope(method, params, ns=NS):
    env = ET.Element("{%s}Envelope" % SOAP_ENV)
    body = ET.SubElement(env, "{%s}Body" % SOAP_ENV)
    op = ET.SubElement(body, "{%s}%s" % (ns, method))
    for k, v in params.items():
        p = ET.SubElement(op, k)
        p.set("{%s}type" % XSI, "xsd:string")
        p.text = v
    return ET.tostring(env, encoding="utf-8", xml_declaration=True)


def sales_orders(*orders, **extra):
    """orders: (associated_ref, [(stock_code, qty[, {price elements}]), ...]) -> SALES_ORDERS text with
    what the guide requires (IS_NEW_CUSTOMER, an invoice address, prices).
    extra: {element: text} added to ORDER_HEADER."""
    root = ET.Element("SALES_ORDERS")
    for ref, lines in orders:
        so = ET.SubElement(root, "SALES_ORDER")
        cd = ET.SubElement(so, "CUSTOMER_DETAIL")
        ET.SubElement(cd, "IS_NEW_CUSTOMER").text = "-1"
        ET.SubElement(cd, "COMPANY_CLASS").text = "Marketplace"
        inv = ET.SubElement(ET.SubElement(cd, "ADDRESSES"), "INVADDR")
        for k, v in (("IADDRESS1", "1 High Street"), ("ITOWN", "London"), ("IPOSTCODE", "SW1A 1AA"),
                     ("ICOUNTRY_CODE", "GBR"), ("ISURNAME", "Doe")):
            ET.SubElement(inv, k).text = v
        hdr = ET.SubElement(so, "ORDER_HEADER")
        ET.SubElement(hdr, "ORDER_DATE").text = "2026-11-22 07:42:07"
        ET.SubElement(hdr, "SITE").text = "MAIN"
        ET.SubElement(hdr, "ASSOCIATED_REF").text = ref
        ET.SubElement(hdr, "SALES_SOURCE").text = "MIRAKL"
        for k, v in extra.items():
            ET.SubElement(hdr, k).text = v
        items = ET.SubElement(so, "ORDER_ITEMS")
        for line in lines:
            code, qty = line[:2]
            it = ET.SubElement(items, "ORDER_ITEM")
            ET.SubElement(it, "STOCK_CODE").text = code
            ET.SubElement(it, "MAPPING_TYPE").text = "1"
            ET.SubElement(it, "ORDER_QTY").text = str(qty)
            for k, v in (line[2] if len(line) > 2 else {"PRICE_GRS": "10.00"}).items():
                ET.SubElement(it, k).text = v
    return ET.tostring(root, encoding="unicode")


def fault_of(root):
    f = root.find("{%s}Body/{%s}Fault" % (SOAP_ENV, SOAP_ENV))
    if f is None:
        return None
    return f.findtext("faultcode"), f.findtext("faultstring")


def response_of(root, method):
    r = root.find("{%s}Body/{%s}%sResponse" % (SOAP_ENV, NS, method))
    assert r is not None, ET.tostring(root)
    return r


def inner_doc(root, method):
    ret = response_of(root, method).find("return")
    assert ret is not None and ret.get("{%s}type" % XSI) == "xsd:string"
    return ET.fromstring(ret.text)


def by_id(root):
    body = root.find("{%s}Body" % SOAP_ENV)
    return {e.get("id"): e for e in body.iter() if e.get("id") is not None}


def deref(ids, e):
    h = e.get("href")
    return ids[h[1:]] if h else e


def import_results(root):
    """ImportOrders' TOrderImportResult (multi-references followed) as
    (ImportedCount, [OrderImport dicts], [OrderSkipped dicts])."""
    ids = by_id(root)
    ret = response_of(root, "ImportOrders").find("return")
    assert ret is not None
    res = deref(ids, ret)
    assert res.tag.endswith("TOrderImportResult"), res.tag
    items = lambda name: [{c.tag: (c.text or "") for c in deref(ids, it)} for it in deref(ids, res.find(name))]
    return int(res.findtext("ImportedCount")), items("OrderImport"), items("OrderSkipped")


def status_args(ids, mapping="4", cancelled="0", stages="", date_from="", date_to=""):
    return {"IDs": ids, "MappingType": mapping, "WebOnly": "0", "ConfirmedOnly": "0", "IncludeTracking": "0",
            "IncludeCancelled": cancelled, "DateFrom": date_from, "DateTo": date_to, "InvoiceStageIDs": stages,
            "ShowItems": "0"}


def utc(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


TESTS = []


def wait_state(s, oid, state, timeout):
    """Polls OR12 until the order is in @state; True if it got there in time."""
    end = time.time() + timeout
    while time.time() < end:
        if s.or12(oid)["order_state"] == state:
            return True
        time.sleep(0.02)
    return False


def test(fn):
    TESTS.append(fn)
    return fn


# ---------------------------------------------------------------- Mirakl

@test
def mirakl_auth(s):
    s.order()
    st, _, j = s.mirakl("GET", "/api/orders", key=None)
    assert st == 401 and j == {"message": "Unauthorized", "status": 401}, (st, j)
    st, _, _ = s.mirakl("GET", "/api/orders", key="Bearer " + MIRAKL_KEY)
    assert st == 401
    st, _, _ = s.mirakl("GET", "/api/orders", key="wrong")
    assert st == 401
    st, _, _ = s.accept("SIM000001-A", [("SIM000001-A-1", True)])
    assert st == 204
    st, _, j = s.mirakl("PUT", "/api/orders/SIM000001-A/accept", {"order_lines": []}, key=None)
    assert st == 401


@test
def or11_shape_and_defaults(s):
    oid = s.order()
    st, hd, j = s.mirakl("GET", "/api/orders")
    assert st == 200 and hd["Content-Type"].startswith("application/json")
    assert set(j) >= {"orders", "total_count"} and j["total_count"] == 1
    o = j["orders"][0]
    assert o["order_id"] == oid
    missing = [k for k in OR11_ORDER_REQUIRED if k not in o]
    assert not missing, missing
    for line in o["order_lines"]:
        missing = [k for k in OR11_LINE_REQUIRED if k not in line]
        assert not missing, missing
        assert line["order_line_state"] == "WAITING_ACCEPTANCE"
    # Null before shipping (the default platform setting), as the OpenAPI documents it.
    assert o["customer"]["shipping_address"] is None and o["customer"]["billing_address"] is None
    assert o["customer"]["firstname"] and o["customer"]["lastname"]
    # an order field in the OpenAPI (OR11_Response_200_Orders), not a customer one
    assert o["customer_notification_email"] == "sim-000001@notify.example", o.get("customer_notification_email")
    assert "customer_notification_email" not in o["customer"], o["customer"]
    assert o["order_state"] == "WAITING_ACCEPTANCE"
    created = datetime.datetime.strptime(o["created_date"], "%Y-%m-%dT%H:%M:%SZ")
    assert o["acceptance_decision_date"] is None  # set by OR21 only
    assert o["order_tax_mode"] == "TAX_INCLUDED"
    assert o["promotions"] == {"applied_promotions": [], "total_deduced_amount": 0.0}
    assert o["order_lines"][0]["taxes"] == [] and o["order_lines"][0]["shipping_taxes"] == []
    s.settings(address_visibility="always")
    o = s.or12(oid)
    for a in ("shipping_address", "billing_address"):
        assert all(k in o["customer"][a] for k in ADDRESS_REQUIRED)
    assert o["last_updated_date"] == o["created_date"]
    now = datetime.datetime.utcnow()
    assert abs((now - created).total_seconds()) < 60


@test
def control_orders(s):
    oid = s.order(order_id="ORD-7", order_state="SHIPPING",
                  order_lines=[{"offer_sku": "A", "quantity": 2, "price_unit": 5.5},
                               {"offer_sku": "B", "order_line_id": "custom-line"}])
    assert oid == "ORD-7"
    o = s.or12("ORD-7")
    assert [l["order_line_state"] for l in o["order_lines"]] == ["SHIPPING", "SHIPPING"]
    assert [l["order_line_id"] for l in o["order_lines"]] == ["ORD-7-1", "custom-line"]
    assert o["order_lines"][0]["price"] == 11.0 and o["price"] == 21.0
    st, _, j = s.json("POST", "/_sim/mirakl/orders", {"order_id": "ORD-7"})
    assert st == 409 and j["error"], (st, j)
    st, _, j = s.json("POST", "/_sim/mirakl/orders", {"order_state": "BOGUS"})
    assert st == 400 and "order_state" in j["message"]
    st, _, j = s.json("POST", "/_sim/mirakl/orders", {"order_lines": [{"quantity": 0}]})
    assert st == 400
    st, _, j = s.json("POST", "/_sim/mirakl/orders", "{not json")
    assert st == 400 and j["error"] == "invalid_json"
    st, _, j = s.json("POST", "/_sim/mirakl/orders", [{}, {"order_id": "ARR-2"}])
    assert st == 201 and len(j["order_ids"]) == 2 and j["order_ids"][1] == "ARR-2"
    st, _, j = s.json("GET", "/_sim/mirakl/orders")
    assert st == 405


@test
def or11_pagination(s):
    ids = [s.order() for _ in range(25)]
    st, _, j = s.mirakl("GET", "/api/orders")
    assert st == 200 and j["total_count"] == 25 and len(j["orders"]) == 10  # default max 10
    assert [o["order_id"] for o in j["orders"]] == ids[:10]
    st, _, j = s.mirakl("GET", "/api/orders?max=10&offset=20")
    assert [o["order_id"] for o in j["orders"]] == ids[20:] and j["total_count"] == 25
    st, _, j = s.mirakl("GET", "/api/orders?max=100&offset=0")
    assert len(j["orders"]) == 25
    st, _, j = s.mirakl("GET", "/api/orders?max=5&offset=30")
    assert j["orders"] == [] and j["total_count"] == 25
    st, _, j = s.mirakl("GET", "/api/orders?paginate=false&max=2")
    assert len(j["orders"]) == 25
    st, _, j = s.mirakl("GET", "/api/orders?order=desc&max=3")
    assert [o["order_id"] for o in j["orders"]] == ids[::-1][:3]
    for bad in ("max=101", "max=0", "max=abc", "offset=-1", "paginate=maybe"):
        st, _, j = s.mirakl("GET", "/api/orders?" + bad)
        assert st == 400 and j["status"] == 400 and isinstance(j["message"], str), (bad, st, j)


@test
def or11_filters(s):
    a = s.order(order_id="F-A")
    b = s.order(order_id="F-B", order_state="SHIPPING")
    s.order(order_id="F-C", order_state="CANCELED")
    st, _, j = s.mirakl("GET", "/api/orders?order_ids=F-A,F-C")
    assert sorted(o["order_id"] for o in j["orders"]) == ["F-A", "F-C"] and j["total_count"] == 2
    st, _, j = s.mirakl("GET", "/api/orders?order_state_codes=WAITING_ACCEPTANCE,SHIPPING")
    assert sorted(o["order_id"] for o in j["orders"]) == [a, b]
    st, _, j = s.mirakl("GET", "/api/orders?order_ids=F-B&order_state_codes=WAITING_ACCEPTANCE")
    assert j["orders"] == [] and j["total_count"] == 0
    st, _, j = s.mirakl("GET", "/api/orders?order_state_codes=NOPE")
    assert st == 400 and j["status"] == 400
    many = ",".join("X%d" % i for i in range(101))
    st, _, j = s.mirakl("GET", "/api/orders?order_ids=" + many)
    assert st == 400
    st, _, j = s.mirakl("GET", "/api/orders?order_ids=" + ",".join("X%d" % i for i in range(100)))
    assert st == 200


@test
def or11_start_update_date(s):
    s.order(order_id="OLD", created_date="2024-01-01T09:00:00Z", last_updated_date="2024-01-01T10:00:00Z")
    s.order(order_id="NEW", created_date="2024-01-01T09:00:00Z", last_updated_date="2024-01-01T12:00:00Z")

    def ids(q):
        st, _, j = s.mirakl("GET", "/api/orders?" + q)
        assert st == 200, (q, st, j)
        return sorted(o["order_id"] for o in j["orders"])
    assert ids("start_update_date=2024-01-01T11:00:00%2B00:00") == ["NEW"]
    assert ids("start_update_date=2024-01-01T11:00:00+00:00") == ["NEW"]  # '+' arrives as space
    assert ids("start_update_date=2024-01-01T11:00:00Z") == ["NEW"]
    assert ids("start_update_date=2024-01-01T11:00:00%2B01:00") == ["NEW", "OLD"]  # = 10:00Z
    assert ids("start_update_date=2024-01-01T07:00:00-04:00") == ["NEW"]  # = 11:00Z
    # Mirakl subtracts a safety delta (60 s in the sim): 12:00:30 still returns NEW.
    assert ids("start_update_date=2024-01-01T12:00:30Z") == ["NEW"]
    assert ids("start_update_date=2024-01-01T12:01:01Z") == []
    assert ids("end_update_date=2024-01-01T11:00:00Z") == ["OLD"]
    st, _, j = s.mirakl("GET", "/api/orders?start_update_date=yesterday")
    assert st == 400 and j["status"] == 400


@test
def or12(s):
    oid = s.order()
    o = s.or12(oid)
    assert o["order_id"] == oid and "order_lines" in o
    st, _, j = s.mirakl("GET", "/api/orders/NOPE")
    assert st == 404 and j["status"] == 404 and "message" in j
    st, _, j = s.mirakl("DELETE", "/api/orders/" + oid)
    assert st == 405
    st, _, j = s.mirakl("GET", "/api/nothing")
    assert st == 404 and j["status"] == 404


@test
def or21_accept_all(s):
    oid = s.order(order_lines=[{"offer_sku": "A"}, {"offer_sku": "B"}])
    st, _, j = s.accept(oid, [(oid + "-1", True), (oid + "-2", True)])
    assert st == 204 and j is None, (st, j)
    o = s.or12(oid)
    assert o["order_state"] == "WAITING_DEBIT"  # the default debit delay is 500 ms
    assert [l["order_line_state"] for l in o["order_lines"]] == ["WAITING_DEBIT", "WAITING_DEBIT"]
    assert o["acceptance_decision_date"] and o["acceptance_decision_date"] >= o["created_date"]
    assert wait_state(s, oid, "SHIPPING", 5)
    o = s.or12(oid)
    assert [l["order_line_state"] for l in o["order_lines"]] == ["SHIPPING", "SHIPPING"]
    # A repeat (e.g. a retry after a lost answer) is refused: the order moved on.
    st, _, j = s.accept(oid, [(oid + "-1", True), (oid + "-2", True)])
    assert st == 400 and j["status"] == 400 and "ORDER_INVALID_STATE" in j["message"], j


@test
def or21_partial_and_refuse(s):
    s.settings(debit_delay_ms=0)  # the debit happens inside OR21
    p = s.order(order_lines=[{}, {}])
    st, _, _ = s.accept(p, [(p + "-1", True), (p + "-2", False)])
    assert st == 204
    o = s.or12(p)
    assert o["order_state"] == "SHIPPING"
    assert [l["order_line_state"] for l in o["order_lines"]] == ["SHIPPING", "REFUSED"]
    r = s.order(order_lines=[{}, {}])
    st, _, _ = s.accept(r, [(r + "-1", False), (r + "-2", False)])
    assert st == 204
    o = s.or12(r)
    assert o["order_state"] == "REFUSED"
    assert [l["order_line_state"] for l in o["order_lines"]] == ["REFUSED", "REFUSED"]


@test
def or21_rules(s):
    s.settings(debit_delay_ms=0)
    oid = s.order(order_lines=[{}, {}])
    cases = [
        ([(oid + "-1", True)], "ORDER_LINE_ACCEPTANCE_DECISION_MISSING"),
        ([(oid + "-1", True), (oid + "-2", True), ("other", True)], "ORDER_LINE_NOT_FOUND"),
        ([(oid + "-1", True), (oid + "-1", True), (oid + "-2", True)], "ORDER_LINE_DUPLICATE_ID"),
    ]
    for decisions, code in cases:
        st, _, j = s.accept(oid, decisions)
        assert st == 400 and code in j["message"] and j["status"] == 400, (code, st, j)
    path = "/api/orders/%s/accept" % oid
    for body, code in (({"order_lines": [None]}, "ORDER_LINE_NULL_ELEMENT"),
                       ({"order_lines": [{"id": oid + "-1"}]}, "VALIDATION_ERROR"),
                       ({"order_lines": [{"id": oid + "-1", "accepted": "yes"}]}, "VALIDATION_ERROR"),
                       ({}, "VALIDATION_ERROR"), ([], "VALIDATION_ERROR")):
        st, _, j = s.mirakl("PUT", path, body)
        assert st == 400 and code in j["message"], (body, st, j)
    st, _, j = s.mirakl("PUT", path, "not json", headers={"Content-Type": "application/json"})
    assert st == 400
    st, _, j = s.mirakl("PUT", path, '{"order_lines":[]}', headers={"Content-Type": "text/plain"})
    assert st == 415 and j["status"] == 415
    st, _, j = s.mirakl("GET", path)
    assert st == 405
    st, _, j = s.accept("NOPE", [("NOPE-1", True)])
    assert st == 404 and j["status"] == 404
    # Nothing above changed the order.
    o = s.or12(oid)
    assert o["order_state"] == "WAITING_ACCEPTANCE"
    assert all(l["order_line_state"] == "WAITING_ACCEPTANCE" for l in o["order_lines"])
    # Only WAITING_ACCEPTANCE orders and lines.
    sh = s.order(order_state="SHIPPING")
    st, _, j = s.accept(sh, [(sh + "-1", True)])
    assert st == 400 and "ORDER_INVALID_STATE" in j["message"]
    mixed = s.order(order_lines=[{}, {"order_line_state": "CANCELED"}])
    st, _, j = s.accept(mixed, [(mixed + "-1", True), (mixed + "-2", True)])
    assert st == 400 and "ORDER_INVALID_STATE" in j["message"]
    st, _, j = s.accept(mixed, [(mixed + "-1", True)])  # the canceled line needs no decision
    assert st == 204
    o = s.or12(mixed)
    assert [l["order_line_state"] for l in o["order_lines"]] == ["SHIPPING", "CANCELED"]


# ---------------------------------------------------------------- Mirakl: the order's life

def lines_of(o):
    return [l["order_line_state"] for l in o["order_lines"]]


def state_order(s, oid):
    return [o for o in s.state()["mirakl"]["orders"] if o["order_id"] == oid][0]


@test
def life_settings(s):
    st, _, j = s.json("GET", "/_sim/mirakl/settings")
    assert st == 200, (st, j)
    assert j == {"address_visibility": "shipping", "debit_delay_ms": 500, "debit_failure_rate": 0.0,
                 "acceptance_window_s": 259200, "partial_acceptance": True, "webhook_url": None,
                 "webhook_secret_set": False, "seed": 1,
                 "webhooks": {"enabled": False, "queued": 0, "sent": 0, "failed": 0},
                 "import_delay_ms": 2000, "stock_import_min_interval_ms": 60000, "warehouses": [],
                 "error_report_drop": 0}, j
    j = s.settings(debit_delay_ms=0, partial_acceptance=False)
    assert j["debit_delay_ms"] == 0 and not j["partial_acceptance"] and j["address_visibility"] == "shipping"
    j = s.settings(address_visibility="acceptance")  # left-out fields keep their value
    assert j["debit_delay_ms"] == 0 and j["address_visibility"] == "acceptance"
    for bad in ({"address_visibility": "never"}, {"debit_delay_ms": -1}, {"debit_delay_ms": 1.5},
                {"debit_failure_rate": 1.5}, {"acceptance_window_s": "1"}, {"partial_acceptance": 1},
                {"webhook_url": "https://x"}, {"webhook_url": "http://:80/"}, {"webhook_secret": "abc"},
                {"webhook_secret": "whsec_!!"}, {"bogus": 1}, {"seed": -1}):
        st, _, j = s.json("POST", "/_sim/mirakl/settings", bad)
        assert st == 400 and j["error"] == "invalid_payload", (bad, st, j)
    st, _, j = s.json("POST", "/_sim/mirakl/settings", "[1]")
    assert st == 400
    st, _, j = s.json("PUT", "/_sim/mirakl/settings", {})
    assert st == 405
    s.reset()  # back to the defaults
    st, _, j = s.json("GET", "/_sim/mirakl/settings")
    assert j["debit_delay_ms"] == 500 and j["partial_acceptance"] and j["address_visibility"] == "shipping"


@test
def life_address_hidden_until_shipping(s):
    s.settings(debit_delay_ms=300)
    oid = s.order()
    views = [("OR11", lambda: s.mirakl("GET", "/api/orders?order_ids=" + oid)[2]["orders"][0]["customer"]),
             ("OR12", lambda: s.or12(oid)["customer"]),
             ("state", lambda: state_order(s, oid)["customer"])]
    for name, get in views:
        c = get()
        assert c["shipping_address"] is None and c["billing_address"] is None, (name, c)
        assert c["lastname"] == "Doe" and c["customer_id"], (name, c)
    st, _, _ = s.accept(oid, [(oid + "-1", True)])
    assert st == 204
    o = s.or12(oid)
    assert o["order_state"] == "WAITING_DEBIT" and o["customer"]["shipping_address"] is None
    assert wait_state(s, oid, "SHIPPING", 5)
    for name, get in views:
        c = get()
        assert c["shipping_address"]["street_1"] == "1 High Street", (name, c)
        assert c["billing_address"]["zip_code"] == "SW1A 1AA", (name, c)
    # "acceptance": shown from WAITING_DEBIT on; never for a refused order
    s.reset()
    s.settings(address_visibility="acceptance", debit_delay_ms=60000)
    a = s.order()
    r = s.order()
    assert s.or12(a)["customer"]["shipping_address"] is None
    s.accept(a, [(a + "-1", True)])
    s.accept(r, [(r + "-1", False)])
    o = s.or12(a)
    assert o["order_state"] == "WAITING_DEBIT" and o["customer"]["shipping_address"]["city"] == "London"
    assert s.or12(r)["customer"]["shipping_address"] is None
    s.settings(address_visibility="always")
    assert s.or12(r)["customer"]["shipping_address"]["city"] == "London"
    # An order created at SHIPPING has its addresses.
    s.settings(address_visibility="shipping")
    sh = s.order(order_state="SHIPPING")
    assert s.or12(sh)["customer"]["billing_address"]["city"] == "London"


@test
def life_debit_path(s):
    s.settings(debit_delay_ms=600)
    oid = s.order(created_date="2024-01-01T09:00:00Z", last_updated_date="2024-01-01T09:00:00Z")
    since = "start_update_date=2025-01-01T00:00:00Z"
    st, _, j = s.mirakl("GET", "/api/orders?" + since)
    assert j["total_count"] == 0
    t0 = time.time()
    st, _, _ = s.accept(oid, [(oid + "-1", True)])
    assert st == 204
    seen, stamps = [], []
    while time.time() - t0 < 5:
        o = s.or12(oid)
        if not seen or seen[-1] != o["order_state"]:
            seen.append(o["order_state"])
            stamps.append((time.time() - t0, o["last_updated_date"]))
        if o["order_state"] == "SHIPPING":
            break
        time.sleep(0.02)
    assert seen == ["WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"], seen
    assert 0.25 <= stamps[1][0] <= 0.6 and 0.55 <= stamps[2][0] <= 1.2, stamps
    assert lines_of(o) == ["SHIPPING"] and o["customer_debited_date"] and o["order_lines"][0]["debited_date"]
    assert o["last_updated_date"] > "2024-01-02" and o["order_lines"][0]["last_updated_date"] > "2024-01-02"
    st, _, j = s.mirakl("GET", "/api/orders?" + since)
    assert [x["order_id"] for x in j["orders"]] == [oid]  # every change moves last_updated_date
    # debit_delay_ms 0: SHIPPING before OR21 answers
    s.settings(debit_delay_ms=0)
    b = s.order()
    s.accept(b, [(b + "-1", True)])
    assert s.or12(b)["order_state"] == "SHIPPING"


@test
def life_debit_failure(s):
    s.settings(debit_delay_ms=0, debit_failure_rate=1.0)
    oid = s.order(order_lines=[{}, {}])
    st, _, _ = s.accept(oid, [(oid + "-1", True), (oid + "-2", False)])
    assert st == 204
    o = s.or12(oid)
    assert o["order_state"] == "CANCELED" and lines_of(o) == ["CANCELED", "REFUSED"], o["order_state"]
    assert "customer_debited_date" not in o and o["customer"]["shipping_address"] is None
    assert o["acceptance_decision_date"]  # the shop did decide

    # By the rate, with the seeded generator: the same seed gives the same outcomes.
    def run(seed):
        s.reset()
        s.settings(debit_delay_ms=0, debit_failure_rate=0.5, seed=seed)
        ids = [s.order() for _ in range(20)]
        for i in ids:
            s.accept(i, [(i + "-1", True)])
        return [s.or12(i)["order_state"] for i in ids]
    a = run(5)
    assert set(a) == {"SHIPPING", "CANCELED"}, a
    assert run(5) == a and run(6) != a


@test
def life_debit_control(s):
    s.settings(debit_delay_ms=86400000)
    a, b, w = s.order(), s.order(), s.order()
    for oid in (a, b):
        s.accept(oid, [(oid + "-1", True)])
    assert s.or12(a)["order_state"] == "WAITING_DEBIT"
    st, _, j = s.ctl(a, "debit")
    assert st == 200 and j["order_state"] == "SHIPPING" and j["order_lines"][0]["order_line_state"] == "SHIPPING", j
    st, _, j = s.ctl(b, "debit", {"fail": True})
    assert st == 200 and j["order_state"] == "CANCELED", j
    assert s.or12(b)["order_state"] == "CANCELED"
    for oid in (a, w):  # nothing waits for a debit
        st, _, j = s.ctl(oid, "debit")
        assert st == 409 and j["error"] == "invalid_state", (st, j)
    st, _, j = s.ctl("NOPE", "debit")
    assert st == 404
    st, _, j = s.ctl(w, "debit", {"fail": "yes"})
    assert st == 400
    st, _, j = s.json("GET", "/_sim/mirakl/orders/%s/debit" % a)
    assert st == 405


@test
def life_auto_refusal(s):
    s.settings(acceptance_window_s=1)
    oid = s.order()
    assert s.or12(oid)["order_state"] == "WAITING_ACCEPTANCE"
    assert wait_state(s, oid, "REFUSED", 5)
    o = s.or12(oid)
    assert o["acceptance_decision_date"] is None and lines_of(o) == ["REFUSED"]
    assert state_order(s, oid)["acceptance_decision_date"] is None
    st, _, j = s.accept(oid, [(oid + "-1", True)])
    assert st == 400 and "ORDER_INVALID_STATE" in j["message"]
    # Backdated created_date does not count: the window runs from the sim's creation.
    s.reset()
    old = s.order(created_date="2020-01-01T00:00:00Z")
    assert s.or12(old)["order_state"] == "WAITING_ACCEPTANCE"
    # The control route, now.
    st, _, j = s.ctl(old, "auto-refuse")
    assert st == 200 and j["order_state"] == "REFUSED" and j["acceptance_decision_date"] is None, j
    o = s.or12(old)
    assert o["order_state"] == "REFUSED" and o["last_updated_date"] > "2020-01-02"
    st, _, j = s.ctl(old, "auto-refuse")
    assert st == 409 and j["error"] == "invalid_state"
    # A window shortened later applies to waiting orders.
    x = s.order()
    s.settings(acceptance_window_s=0)
    assert s.or12(x)["order_state"] == "REFUSED"


@test
def life_cancel(s):
    s.settings(debit_delay_ms=0)
    w = s.order()
    st, _, j = s.ctl(w, "cancel")
    assert st == 200 and j["order_state"] == "CANCELED" and j["order_lines"][0]["order_line_state"] == "CANCELED"
    o = s.or12(w)
    c = o["order_lines"][0]["cancelations"]
    assert len(c) == 1 and c[0]["id"] == w + "-1-C1" and c[0]["amount"] == 10.0, c
    assert all(k in c[0] for k in ("commission_amount", "commission_taxes", "commission_total_amount",
                                   "created_date", "id"))
    st, _, j = s.ctl(w, "cancel")
    assert st == 409 and j["error"] == "invalid_state"
    # line by line after SHIPPING
    oid = s.order(order_lines=[{}, {}])
    s.accept(oid, [(oid + "-1", True), (oid + "-2", True)])
    st, _, j = s.ctl(oid, "cancel", {"lines": [oid + "-1"]})
    assert st == 200 and j["order_state"] == "SHIPPING", j
    assert lines_of(s.or12(oid)) == ["CANCELED", "SHIPPING"]
    st, _, j = s.ctl(oid, "cancel", {"lines": [oid + "-1"]})
    assert st == 409
    st, _, j = s.ctl(oid, "cancel", {"lines": ["nope"]})
    assert st == 400 and j["error"] == "invalid_payload"
    for bad in ({"lines": []}, {"lines": "x"}, {"other": 1}):
        st, _, j = s.ctl(oid, "cancel", bad)
        assert st == 400, (bad, st, j)
    st, _, j = s.ctl(oid, "cancel", {"lines": [oid + "-2"]})
    assert st == 200 and j["order_state"] == "CANCELED"
    st, _, j = s.ctl("NOPE", "cancel")
    assert st == 404
    # during the debit: the other line still gets paid
    s.settings(debit_delay_ms=86400000)
    d = s.order(order_lines=[{}, {}])
    s.accept(d, [(d + "-1", True), (d + "-2", True)])
    s.ctl(d, "cancel", {"lines": [d + "-2"]})
    o = s.or12(d)
    assert o["order_state"] == "WAITING_DEBIT" and lines_of(o) == ["WAITING_DEBIT", "CANCELED"]
    st, _, j = s.ctl(d, "debit")
    assert j["order_state"] == "SHIPPING" and lines_of(s.or12(d)) == ["SHIPPING", "CANCELED"]
    # Mirakl cancels only before shipment: a SHIPPED, TO_COLLECT or RECEIVED
    # line is refused like a CLOSED one, and nothing changes
    for shipped in ("SHIPPED", "TO_COLLECT", "RECEIVED"):
        g = s.order(order_state=shipped)
        st, _, j = s.ctl(g, "cancel")
        assert st == 409 and j["error"] == "invalid_state" and shipped in j["message"] \
            and "before shipment" in j["message"], (shipped, st, j)
        st, _, j = s.ctl(g, "cancel", {"lines": [g + "-1"]})
        assert st == 409 and shipped in j["message"], (st, j)
        o = s.or12(g)
        assert o["order_state"] == shipped and o["order_lines"][0]["cancelations"] == [], o["order_state"]
    # a part-shipped order: the unshipped line can be cancelled by name, not the whole order
    m = s.order(order_state="SHIPPING", order_lines=[{"order_line_state": "SHIPPED"}, {}])
    st, _, j = s.ctl(m, "cancel")
    assert st == 409 and "SHIPPED" in j["message"], (st, j)
    st, _, j = s.ctl(m, "cancel", {"lines": [m + "-1", m + "-2"]})
    assert st == 409 and lines_of(s.or12(m)) == ["SHIPPED", "SHIPPING"], (st, j)
    st, _, j = s.ctl(m, "cancel", {"lines": [m + "-2"]})
    assert st == 200 and lines_of(s.or12(m)) == ["SHIPPED", "CANCELED"] and j["order_state"] == "SHIPPED", j
    # a waiting order with one line cancelled: OR21 decides the rest
    p = s.order(order_lines=[{}, {}])
    s.ctl(p, "cancel", {"lines": [p + "-1"]})
    assert s.or12(p)["order_state"] == "WAITING_ACCEPTANCE"
    st, _, _ = s.accept(p, [(p + "-2", False)])
    assert st == 204 and s.or12(p)["order_state"] == "REFUSED"


@test
def life_partial_acceptance_off(s):
    s.settings(partial_acceptance=False, debit_delay_ms=0)
    oid = s.order(order_lines=[{}, {}])
    st, _, j = s.accept(oid, [(oid + "-1", True), (oid + "-2", False)])
    assert st == 400 and j["status"] == 400 and j["message"].startswith("ORDER_PARTIAL_ACCEPTANCE_DISABLED"), j
    o = s.or12(oid)
    assert o["order_state"] == "WAITING_ACCEPTANCE" and o["acceptance_decision_date"] is None
    st, _, _ = s.accept(oid, [(oid + "-1", False), (oid + "-2", False)])
    assert st == 204 and s.or12(oid)["order_state"] == "REFUSED"
    b = s.order(order_lines=[{}, {}])
    st, _, _ = s.accept(b, [(b + "-1", True), (b + "-2", True)])
    assert st == 204 and s.or12(b)["order_state"] == "SHIPPING"


@test
def life_order_money_fields(s):
    oid = s.order(order_tax_mode="TAX_EXCLUDED", commercial_id="C-42", shipping_type_code="EXP",
                  order_lines=[{"offer_sku": "A", "quantity": 2, "price_unit": 10.0, "price": 18.0,
                                "shipping_price": 4.0,
                                "taxes": [{"code": "VAT20", "amount": 3.6}],
                                "shipping_taxes": [{"code": "VAT20", "amount": 0.8}]},
                               {"offer_sku": "B"}])
    o = s.or12(oid)
    assert o["order_tax_mode"] == "TAX_EXCLUDED" and o["commercial_id"] == "C-42"
    assert o["shipping_type_code"] == "EXP"
    l1, l2 = o["order_lines"]
    assert l1["price"] == 18.0 and l1["price_unit"] == 10.0 and l1["total_price"] == 22.0
    assert l1["taxes"] == [{"code": "VAT20", "amount": 3.6, "tax_calculation_rule": "PROPORTIONAL_TO_AMOUNT"}]
    assert l1["shipping_taxes"][0]["amount"] == 0.8
    assert l1["promotions"][0]["deduced_amount"] == 2.0 and l1["promotions"][0]["configuration"]["type"]
    assert l2["promotions"] == [] and l2["taxes"] == []
    assert o["price"] == 28.0 and o["shipping_price"] == 4.0 and o["total_price"] == 32.0
    assert o["promotions"]["total_deduced_amount"] == 2.0 and len(o["promotions"]["applied_promotions"]) == 1
    for bad in ({"order_tax_mode": "GROSS"}, {"order_lines": [{"taxes": [{"code": "X"}]}]},
                {"customer_notification_email": 7},
                {"order_lines": [{"shipping_taxes": {"code": "X", "amount": 1}}]},
                {"commercial_id": 5}):
        st, _, j = s.json("POST", "/_sim/mirakl/orders", bad)
        assert st == 400 and j["error"] == "invalid_order", (bad, st, j)
    # an unusable address is kept as sent (here: empty), not filled
    e = s.order(order_state="SHIPPING", customer={"shipping_address": {}})
    c = s.or12(e)["customer"]
    assert c["shipping_address"] == {} and c["billing_address"]["city"] == "London"


@test
def or11_order_tax_mode(s):
    """OR11's order_tax_mode (OpenAPI): TAX_INCLUDED shows every price field
    with its taxes, TAX_EXCLUDED without; without taxes both give the same
    amounts; absent, each order shows as created (the platform's mode); any
    other value is a 400 like every bad OR11 parameter. Pennies exact."""
    vat = lambda a: [{"code": "VAT20", "amount": a}]
    ex = s.order(order_tax_mode="TAX_EXCLUDED", order_lines=[
        {"offer_sku": "A", "quantity": 2, "price_unit": 10.0, "price": 18.0, "shipping_price": 4.0,
         "taxes": vat(3.6), "shipping_taxes": vat(0.8)},
        {"offer_sku": "B", "quantity": 3, "price_unit": 9.99, "taxes": [{"code": "X", "amount": 0.1},
                                                                        {"code": "Y", "amount": 0.2}]},
        {"offer_sku": "C", "price_unit": 5.0}])
    inc = s.order(order_lines=[{"offer_sku": "D", "price_unit": 12.0, "shipping_price": 3.0,
                                "taxes": vat(2.0), "shipping_taxes": vat(0.5)}])
    bare = s.order(order_lines=[{"offer_sku": "E", "price_unit": 7.77}])
    s.ctl(ex, "cancel", {"lines": [ex + "-1"]})

    def get(mode=None):
        q = "/api/orders?order_ids=%s,%s,%s" % (ex, inc, bare) + ("&order_tax_mode=" + mode if mode else "")
        st, _, j = s.mirakl("GET", q)
        assert st == 200, (st, j)
        return {o["order_id"]: o for o in j["orders"]}

    plain = get()
    assert [plain[o]["order_tax_mode"] for o in (ex, inc, bare)] == ["TAX_EXCLUDED", "TAX_INCLUDED", "TAX_INCLUDED"]
    same_ex = get("TAX_EXCLUDED")
    assert same_ex[ex] == plain[ex], "asked in its own mode, an order is unchanged"
    o = get("TAX_INCLUDED")[ex]
    l1, l2, l3 = o["order_lines"]
    assert o["order_tax_mode"] == "TAX_INCLUDED"
    assert (l1["price"], l1["price_unit"], l1["shipping_price"], l1["total_price"]) == (21.6, 12.0, 4.8, 26.4), l1
    assert (l2["price"], l2["price_unit"], l2["total_price"]) == (30.27, 10.09, 30.27), l2
    assert (l3["price"], l3["price_unit"], l3["total_price"]) == (5.0, 5.0, 5.0), l3
    assert l1["taxes"] == plain[ex]["order_lines"][0]["taxes"], "the taxes themselves stay"
    c = l1["cancelations"][0]
    assert (c["amount"], c["shipping_amount"]) == (21.6, 4.8) and c["taxes"][0]["amount"] == 3.6, c
    assert plain[ex]["order_lines"][0]["cancelations"][0]["amount"] == 18.0
    # totals: 18 + 29.97 + 5 = 52.97 (+3.6 +0.3) and 4 (+0.8): exact pennies, no float drift
    assert (o["price"], o["shipping_price"], o["total_price"]) == (56.87, 4.8, 61.67), \
        (o["price"], o["shipping_price"], o["total_price"])
    o = get("TAX_EXCLUDED")[inc]
    l = o["order_lines"][0]
    assert o["order_tax_mode"] == "TAX_EXCLUDED"
    assert (l["price"], l["price_unit"], l["shipping_price"], l["total_price"]) == (10.0, 10.0, 2.5, 12.5), l
    assert (o["price"], o["shipping_price"], o["total_price"]) == (10.0, 2.5, 12.5)
    b = get("TAX_EXCLUDED")[bare]
    assert b["order_tax_mode"] == "TAX_EXCLUDED" and b["total_price"] == 7.77 and \
        b["order_lines"][0]["price_unit"] == 7.77, "no taxes: the same amounts in both modes"
    # the stored orders did not change
    assert get() == plain
    # OR11 without order_ids takes it too; OR12 (no such parameter) is as stored
    st, _, j = s.mirakl("GET", "/api/orders?order_tax_mode=TAX_INCLUDED&order_state_codes=WAITING_ACCEPTANCE")
    assert st == 200 and all(x["order_tax_mode"] == "TAX_INCLUDED" for x in j["orders"]), j
    assert s.or12(ex)["order_tax_mode"] == "TAX_EXCLUDED"
    for bad in ("GROSS", "tax_included", "TAX_INCLUDED,TAX_EXCLUDED"):
        st, _, j = s.mirakl("GET", "/api/orders?order_tax_mode=" + bad)
        assert st == 400 and j["status"] == 400 and "order_tax_mode" in j["message"], (bad, st, j)


class Receiver:
    """A small webhook receiver: records (headers, body) and answers `status` after `delay` s."""

    def __init__(self, status=200, delay=0.0):
        import http.server
        rec = self
        self.got = []
        self.status = status
        self.delay = delay
        self.cv = threading.Condition()

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with rec.cv:
                    rec.got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    rec.cv.notify_all()
                time.sleep(rec.delay)
                self.send_response(rec.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout=5):
        with self.cv:
            self.cv.wait_for(lambda: len(self.got) >= n, timeout)
            return list(self.got)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def verify(key, headers, body):
    import hashlib
    import hmac
    msg = ("%s.%s." % (headers["webhook-id"], headers["webhook-timestamp"])).encode() + body
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == want


def wait_webhooks(s, cond, timeout=5):
    """Polls GET /_sim/mirakl/settings until cond(webhooks counters); returns the last answer."""
    end = time.time() + timeout
    while True:
        st, _, j = s.json("GET", "/_sim/mirakl/settings")
        if cond(j["webhooks"]) or time.time() > end:
            return j
        time.sleep(0.05)


@test
def life_webhooks(s):
    key = os.urandom(32)
    rec = Receiver()
    try:
        oid0 = s.order()  # webhooks are off by default
        time.sleep(0.2)
        assert rec.got == []
        j = s.settings(webhook_url="http://127.0.0.1:%d/webhooks/mirakl" % rec.port,
                       webhook_secret="whsec_" + base64.b64encode(key).decode(), debit_delay_ms=0)
        assert j["webhooks"]["enabled"] and j["webhook_secret_set"] and "whsec" not in json.dumps(j)
        oid = s.order()
        s.accept(oid, [(oid + "-1", True)])
        got = rec.wait(4)
        assert len(got) == 4, got
        bodies = [json.loads(b) for _, _, b in got]
        assert [b["type"] for b in bodies] == ["ORDER_CREATED"] + ["ORDER_STATE_CHANGED"] * 3, bodies
        assert [b["data"]["order_state"] for b in bodies] == [
            "WAITING_ACCEPTANCE", "WAITING_DEBIT", "WAITING_DEBIT_PAYMENT", "SHIPPING"], bodies
        assert all(b["data"]["order_id"] == oid for b in bodies)
        ids = set()
        for path, h, body in got:
            assert path == "/webhooks/mirakl" and h["content-type"] == "application/json"
            assert verify(key, h, body), h
            assert abs(int(h["webhook-timestamp"]) - time.time()) < 30
            ids.add(h["webhook-id"])
        assert len(ids) == 4  # one id per message
        assert not verify(os.urandom(32), got[0][1], got[0][2])
        # cancel, auto-refuse and debit control changes are announced too
        s.ctl(oid, "cancel")
        s.ctl(oid0, "auto-refuse")
        got = rec.wait(6)
        assert [(json.loads(b)["data"]["order_id"], json.loads(b)["data"]["order_state"]) for _, _, b in got[4:]] \
            == [(oid, "CANCELED"), (oid0, "REFUSED")], got[4:]
        j = wait_webhooks(s, lambda w: w["sent"] >= 6)
        assert j["webhooks"]["sent"] == 6 and j["webhooks"]["failed"] == 0, j
    finally:
        rec.close()
    # A slow receiver never slows the sim down; a failing one is logged and dropped.
    slow = Receiver(status=500, delay=1.0)
    try:
        s.reset()
        s.settings(webhook_url="http://127.0.0.1:%d/" % slow.port,
                   webhook_secret="whsec_" + base64.b64encode(key).decode(), debit_delay_ms=0)
        t = time.time()
        ids = [s.order() for _ in range(3)]
        for i in ids:
            s.accept(i, [(i + "-1", True)])
        assert time.time() - t < 1.0, time.time() - t
        slow.wait(2, timeout=5)
        j = wait_webhooks(s, lambda w: w["failed"] >= 2)
        assert j["webhooks"]["failed"] >= 2 and j["webhooks"]["sent"] == 0, j
        s.reset()  # drops the queue
        st, _, j = s.json("GET", "/_sim/mirakl/settings")
        assert j["webhooks"] == {"enabled": False, "queued": 0, "sent": 0, "failed": 0}, j
    finally:
        slow.close()
    # Nobody listening: failed, and the sim carries on.
    rec = Receiver()
    port = rec.port
    rec.close()
    s.settings(webhook_url="http://127.0.0.1:%d/" % port, webhook_secret="whsec_" + base64.b64encode(key).decode())
    s.order()
    j = wait_webhooks(s, lambda w: w["failed"] >= 1)
    assert j["webhooks"]["failed"] == 1, j
    assert any("webhook" in line and "failed" in line for line in s.stderr), s.stderr[-3:]


# ---------------------------------------------------------------- Khaos

@test
def khaos_auth(s):
    st, hd, root = s.soap("GetStockList", {"DateType": "0", "DateValue": "", "StockItemType": "0"}, auth=False)
    assert st == 401 and hd["WWW-Authenticate"].startswith("Basic")
    assert fault_of(root)[0] == "SOAP-ENV:Client"
    bad = base64.b64encode(b"kcuser:nope").decode()
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": ""}, auth=False,
                         headers={"Authorization": "Basic " + bad})
    assert st == 401
    st, hd, root = s.soap("GetStockList", {"DateType": "0", "DateValue": "", "StockItemType": "0"})
    assert st == 200 and hd["Content-Type"].startswith("text/xml"), st
    assert fault_of(root) is None


def auth_header():
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (KHAOS_USER, KHAOS_PASS)).encode()).decode()}


@test
def khaos_protocol_faults(s):
    env = envelope("GetStockList", {"DateType": "0", "DateValue": ""})
    act = {"SOAPAction": '"%s#GetStockList"' % NS}

    def fault(body, headers, want_status, want_code="SOAP-ENV:Client"):
        st, hd, data = s.soap_raw(body, headers)
        assert st == want_status, (st, data)
        assert hd["Content-Type"].startswith("text/xml")
        code, msg = fault_of(ET.fromstring(data))
        assert code == want_code and msg, (code, msg)
        return msg
    fault(env, dict(act, **{"Content-Type": "application/json"}), 415)
    fault(env, {}, 500)  # SOAPAction missing
    fault(env, {"SOAPAction": '"%s#ImportOrders"' % NS}, 500)
    fault(b"<soap:Envelope", act, 500)
    fault(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', act, 500)
    fault(envelope("GetStockList", {}, ns="urn:other"), {"SOAPAction": ""}, 500)
    assert "No method named" in fault(envelope("DeleteEverything", {}), {"SOAPAction": ""}, 500)
    fault(b'<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Body/></Envelope>', act, 500,
          "SOAP-ENV:VersionMismatch")
    mu = ('<s:Envelope xmlns:s="%s"><s:Header><Auth s:mustUnderstand="1"/></s:Header><s:Body>'
          '<n:GetStockList xmlns:n="%s"/></s:Body></s:Envelope>' % (SOAP_ENV, NS))
    fault(mu, act, 500, "SOAP-ENV:MustUnderstand")
    # The documented parameters, by name and position (the old guessed names fault).
    msg = fault(envelope("ExportStockStatus", {"StockCodes": "", "MappingType": "1"}), {"SOAPAction": ""}, 500)
    assert "parameter 1 is 'StockCodes'" in msg and "StockCode, MappingType, LastUpdated" in msg, msg
    fault(envelope("GetStockList", {"DateValue": ""}), {"SOAPAction": ""}, 500)
    fault(envelope("ExportOrderStatusEx", {"IDs": "X", "MappingType": "4", "IncludeTracking": "0"}),
          {"SOAPAction": ""}, 500)
    st, hd, root = s.soap("GetStockList", {"DateType": "0", "DateValue": ""}, headers={"SOAPAction": ""})
    assert st == 200  # an empty SOAPAction is fine
    st, hd, _ = s.request("GET", SOAP_PATH, headers=auth_header())
    assert st == 405 and hd["Allow"] == "POST"


@test
def khaos_wsdl(s):
    """The WSDL is shaped like a Delphi one: targetNamespace http://tempuri.org/
    (TWSDLHTMLPublish's default), the interface namespace only in each
    soap:body namespace and soapAction (FACTS.md 1.1: urn:<Unit>-<Interface>,
    #<Method>), messages <Method><n>Request/Response, result types in their
    own schema; every reference resolves. A client that calls in the
    targetNamespace is refused."""
    st, hd, data = s.request("GET", "/khaos/wsdl/IKosWeb", headers=auth_header())
    assert st == 200 and hd["Content-Type"].startswith("text/xml"), st
    w, soap, xs = ("http://schemas.xmlsoap.org/wsdl/", "http://schemas.xmlsoap.org/wsdl/soap/",
                   "http://www.w3.org/2001/XMLSchema")
    root = ET.fromstring(data)
    tns = root.get("targetNamespace")
    assert root.tag == "{%s}definitions" % w and tns == "http://tempuri.org/" and tns != NS, tns
    ops = [o.get("name") for o in root.find("{%s}portType" % w)]
    assert ops == ["ImportOrders", "ExportOrderStatusEx", "ExportStockStatus", "GetStockList", "GetSOPData"], ops
    bodies = root.findall(".//{%s}body" % soap)
    assert len(bodies) == 10 and all(b.get("namespace") == NS and b.get("use") == "encoded" for b in bodies)
    actions = [o.get("soapAction") for o in root.iter("{%s}operation" % soap)]
    assert actions == ["%s#%s" % (NS, m) for m in ops], actions
    # every message a portType or binding names exists (tns: = the targetNamespace)
    messages = {m.get("name"): m for m in root.findall("{%s}message" % w)}
    refs = [e.get("message") for e in root.iter() if e.get("message")]
    assert len(refs) == 20 and all(r.startswith("tns:") and r[4:] in messages for r in refs), refs
    assert root.find("{%s}binding" % w).get("type") == "tns:IKosWeb"
    parts = [p.get("name") for p in messages["ExportOrderStatusEx1Request"]]
    assert parts == ["IDs", "MappingType", "WebOnly", "ConfirmedOnly", "IncludeTracking", "IncludeCancelled",
                     "DateFrom", "DateTo", "InvoiceStageIDs", "ShowItems"], parts
    # result types: declared in the types schema of their namespace
    schema = root.find("{%s}types/{%s}schema" % (w, xs))
    types = {c.get("name") for c in schema.findall("{%s}complexType" % xs)}
    assert {"TOrderImportResult", "TOrderImport", "TOrderSkipped", "TStockList", "TStockInfo"} <= types, types
    ret = messages["ImportOrders0Response"].find("{%s}part" % w).get("type")
    assert ret == "ns1:TOrderImportResult" and "xmlns:ns1=\"%s\"" % schema.get("targetNamespace") in data.decode()
    loc = root.find("{%s}service/{%s}port/{%s}address" % (w, w, soap)).get("location")
    assert loc == "http://%s:%d%s" % (s.host, s.port, SOAP_PATH), loc
    # the sim answers only in the interface namespace: the targetNamespace is refused
    st, _, root = s.soap("GetSOPData", {"Courier": "true"}, ns=tns)
    assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Client" and NS in fault_of(root)[1], fault_of(root)
    st, _, _ = s.request("GET", "/khaos/wsdl/IKosWeb")
    assert st == 401
    st, hd, _ = s.request("POST", "/khaos/wsdl/IKosWeb", "", auth_header())
    assert st == 405 and hd["Allow"] == "GET"


@test
def khaos_wsdl_namespace_option(s):
    other = Sim(s.binary, ["--khaos-namespace", "urn:Elsewhere-IKosWeb"])
    try:
        st, _, data = other.request("GET", "/khaos/wsdl/IKosWeb", headers=auth_header())
        root = ET.fromstring(data)
        bodies = root.findall(".//{http://schemas.xmlsoap.org/wsdl/soap/}body")
        assert st == 200 and root.get("targetNamespace") == "http://tempuri.org/"
        assert bodies and all(b.get("namespace") == "urn:Elsewhere-IKosWeb" for b in bodies)
    finally:
        other.stop()


@test
def khaos_import_courier_and_money(s):
    """ORDER_AMOUNT, delivery, COURIER_CODE and line prices are kept as sent;
    an unknown COURIER_CODE is refused (OrderSkipped), a listed one books."""
    s.stock({"code": "SKU-1", "available": 5})
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("C-1", [("SKU-1", 1)]), COURIER_CODE="NOPE")})
    count, imp, skipped = import_results(root)
    assert st == 200 and count == 0 and len(skipped) == 1 and "COURIER_CODE" in str(skipped), skipped
    st, _, _ = s.json("POST", "/_sim/khaos/couriers", {"couriers": [{"code": "RM48", "name": "RM"}]})
    assert st == 200
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(
        ("C-2", [("SKU-1", 1)]), COURIER_CODE="RM48", ORDER_AMOUNT="12.50", DELIVERY_NET="2.00",
        DELIVERY_TAX="0.50")})
    count, imp, skipped = import_results(root)
    assert st == 200 and count == 1, skipped
    so = s.state()["khaos"]["sales_orders"][0]
    assert (so["courier_code"], so["order_amount"], so["delivery_net"], so["delivery_tax"], so["delivery_grs"]) == \
        ("RM48", "12.50", "2.00", "0.50", None), so
    assert so["lines"][0]["price_grs"] == "10.00"
    s.reset()


@test
def khaos_import_orders(s):
    s.stock({"code": "SKU-1", "available": 5}, {"code": "SKU-2", "available": 0})
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(
        ("R-1", [("SKU-1", 2), ("SKU-2", 1)]), ("R-2", [("SKU-2", 3)]), PO_NUMBER="C-9")})
    assert st == 200, ET.tostring(root)
    count, imp, skipped = import_results(root)
    assert count == 2 and skipped == []
    assert [r["AssociatedRef"] for r in imp] == ["R-1", "R-2"]
    assert all(set(r) == {"SalesOrderCode", "AssociatedRef", "Msg", "URN", "OtherRef"} for r in imp), imp
    codes = [r["SalesOrderCode"] for r in imp]
    assert all(c.startswith("SO") and len(c) == 8 for c in codes) and codes[0] != codes[1]
    k = s.state()["khaos"]
    assert k["duplicate_orders"] == 0 and k["skipped_duplicates"] == 0 and k["dedupe"] is True
    line = {"price_net": None, "price_grs": "10.00", "tax_rate": None}
    assert k["sales_orders"][0] == {"associated_ref": "R-1", "sales_order_code": codes[0], "site": "MAIN",
                                    "sales_source": "MIRAKL", "po_number": "C-9", "cancelled": False,
                                    "delivery_postcode": "SW1A 1AA",
                                    "order_amount": None, "courier_code": None, "delivery_grs": None,
                                    "delivery_net": None, "delivery_tax": None, "order_note": None,
                                    "lines": [dict(line, stock_code="SKU-1", quantity=2),
                                              dict(line, stock_code="SKU-2", quantity=1)],
                                    "despatches": [], "complete": False}
    # Khaos refuses a repeated associated ref: OrderSkipped, nothing booked.
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("R-1", [("SKU-1", 1)]))})
    count, imp, skipped = import_results(root)
    assert count == 0 and imp == [] and skipped[0]["OrderRef"] == "R-1" and "already exists" in skipped[0]["SkipReason"]
    k = s.state()["khaos"]
    assert k["skipped_duplicates"] == 1 and k["duplicate_orders"] == 0 and len(k["sales_orders"]) == 2
    # dedupe off: the same associated ref books again, counted as a duplicate.
    st, _, j = s.json("POST", "/_sim/khaos/settings", {"dedupe": False})
    assert st == 200 and j == {"dedupe": False, "allocate": True, "tax_rates": {"1": 20.0, "2": 0.0, "4": 5.0}}, j
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("R-1", [("SKU-1", 1)]))})
    count, imp, _ = import_results(root)
    assert count == 1 and imp[0]["SalesOrderCode"] not in codes
    k = s.state()["khaos"]
    assert k["duplicate_orders"] == 1 and len(k["sales_orders"]) == 3 and k["dedupe"] is False
    for bad in ({"dedupe": "no"}, {"other": True}):
        st, _, _ = s.json("POST", "/_sim/khaos/settings", bad)
        assert st == 400, bad
    s.reset()
    assert s.state()["khaos"]["dedupe"] is True


@test
def khaos_state_delivery_postcode(s):
    """GET /_sim/state: a sales order's delivery_postcode is DELADDR's
    DPOSTCODE, or the invoice postcode when the delivery address is empty
    ("If empty delivery address details then the system will use invoice
    address", KSDXMLImportFormat.xml)."""
    s.stock({"code": "SKU-1", "available": 5})
    inv = "</INVADDR>"
    full = sales_orders(("DP-1", [("SKU-1", 1)])).replace(
        inv, inv + "<DELADDR><DADDRESS1>2 Low Road</DADDRESS1><DTOWN>Leeds</DTOWN>"
                   "<DPOSTCODE>LS1 4AP</DPOSTCODE><DSURNAME>Roe</DSURNAME></DELADDR>")
    empty = sales_orders(("DP-2", [("SKU-1", 1)])).replace(inv, inv + "<DELADDR><DADDRESS1/><DPOSTCODE> </DPOSTCODE>"
                                                                     "</DELADDR>")
    none = sales_orders(("DP-3", [("SKU-1", 1)]))
    for doc in (full, empty, none):
        st, _, root = s.soap("ImportOrders", {"Orders": doc})
        assert st == 200 and import_results(root)[0] == 1, ET.tostring(root)
    got = {so["associated_ref"]: so["delivery_postcode"] for so in s.state()["khaos"]["sales_orders"]}
    assert got == {"DP-1": "LS1 4AP", "DP-2": "SW1A 1AA", "DP-3": "SW1A 1AA"}, got


def stock_of(s):
    return {i["code"]: (i["available"], i["status"]) for i in s.state()["khaos"]["stock"]}


def levels(s, since=""):
    st, _, root = s.soap("ExportStockStatus", stock_args(since=since))
    assert st == 200, ET.tostring(root)
    return {i.get("CODE"): (int(i.findtext("LEVEL")), int(i.findtext("STATUS")))
            for i in inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")}


@test
def khaos_import_allocates_stock(s):
    """Booking lowers each stock-controlled item's LEVEL ("Amount of stock
    available to be sold") by the quantity and moves its last change (so
    LastUpdated/DateValue see it); STATUS 1 once all is allocated; a non
    stock-controlled item (STATUS 5) does not move; cancelling the sales
    order gives the stock back, once. GET /_sim/state shows the levels."""
    s.stock({"code": "A", "available": 5}, {"code": "B", "available": 3, "status": 5},
            {"code": "C", "available": 2}, {"code": "Z", "available": 9})
    time.sleep(1.1)
    mid = utc(datetime.datetime.utcnow())
    time.sleep(1.1)
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("AL-1", [("A", 2), ("B", 1), ("C", 2)]))})
    assert import_results(root)[0] == 1
    want = {"A": (3, 0), "B": (3, 5), "C": (0, 1), "Z": (9, 0)}
    assert stock_of(s) == want, stock_of(s)
    assert levels(s) == want, levels(s)
    assert levels(s, since=mid) == {"A": (3, 0), "C": (0, 1)}, "booking moves the items' last change"
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": mid, "StockItemType": "0"})
    ids = by_id(root)
    lst = deref(ids, response_of(root, "GetStockList").find("return"))
    assert sorted(deref(ids, it).findtext("StockCode") for it in lst.find("List")) == ["A", "C"]
    # more than there is: booked all the same (a back order), the level below zero
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("AL-2", [("C", 3)]))})
    assert import_results(root)[0] == 1 and stock_of(s)["C"] == (-3, 1)
    # a skipped order (here a repeated ref) allocates nothing
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("AL-1", [("A", 1)]))})
    assert import_results(root)[0] == 0 and stock_of(s)["A"] == (3, 0)
    time.sleep(1.1)
    mid = utc(datetime.datetime.utcnow())
    time.sleep(1.1)
    st, _, j = s.json("POST", "/_sim/khaos/orders/AL-1/cancel")
    assert st == 200, j
    assert stock_of(s) == {"A": (5, 0), "B": (3, 5), "C": (-1, 1), "Z": (9, 0)}, stock_of(s)
    assert set(levels(s, since=mid)) == {"A", "C"}, "a cancellation moves the items' last change"
    st, _, j = s.json("POST", "/_sim/khaos/orders/AL-1/cancel")
    assert st == 200 and stock_of(s)["A"] == (5, 0), "cancelled twice, given back once"
    s.json("POST", "/_sim/khaos/orders/AL-2/cancel")
    assert stock_of(s)["C"] == (2, 0)


@test
def khaos_import_item_faults(s):
    """A discontinued or unknown stock item is a business error, and Khaos
    answers business errors with a SOAP fault (FACTS.md 1.9): a Server
    fault naming the item, nothing of the call booked, no stock moved."""
    s.stock({"code": "OK-1", "available": 5}, {"code": "OLD-1", "available": 5, "discontinued": True},
            {"code": "OLD-2", "available": 5, "status": 4})
    for bad in ("OLD-1", "OLD-2", "GHOST-1"):
        st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(
            ("F-1", [("OK-1", 1)]), ("F-2", [("OK-1", 1), (bad, 1)]))})
        f = fault_of(root)
        assert st == 500 and f and f[0] == "SOAP-ENV:Server" and bad in f[1], (bad, st, f)
        assert ("discontinued" in f[1]) == bad.startswith("OLD") and ("not found" in f[1]) == bad.startswith("GHOST")
        assert s.state()["khaos"]["sales_orders"] == [] and stock_of(s)["OK-1"] == (5, 0), bad
    # an order skipped for its own reason is not looked at
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("F-3", [("OK-1", 1)]), ("F-4", [("GHOST-1", 0)]))})
    count, _, skipped = import_results(root)
    assert st == 200 and count == 1 and "ORDER_QTY" in skipped[0]["SkipReason"], skipped


@test
def khaos_import_order_amount(s):
    """ORDER_AMOUNT ("Used to check against order total calculated in Khaos
    Control") must equal the lines (qty x PRICE_GRS, or qty x PRICE_NET +
    tax at the TAX_RATE code's rate) plus delivery, to the penny, else the
    order is skipped saying so. The rates per code: POST
    /_sim/khaos/settings tax_rates (default 1: 20, 2: 0, 4: 5)."""
    s.stock({"code": "M", "available": 100})
    net = lambda p, code=None: dict({"PRICE_NET": p}, **({"TAX_RATE": code} if code else {}))
    cases = [
        # (ref, lines, header, booked?)
        ("G-OK", [("M", 2)], {"ORDER_AMOUNT": "24.99", "DELIVERY_GRS": "4.99"}, True),
        ("G-BAD", [("M", 2)], {"ORDER_AMOUNT": "25.00", "DELIVERY_GRS": "4.99"}, False),
        ("G-PROMO", [("M", 2, {"PRICE_GRS": "8.33"}), ("M", 1, {"PRICE_GRS": "8.34"})],
         {"ORDER_AMOUNT": "25.00", "DELIVERY_GRS": "0.00"}, True),
        ("N-OK", [("M", 2, net("10.00", "1")), ("M", 1, net("5.00", "4"))],
         {"ORDER_AMOUNT": "32.85", "DELIVERY_NET": "3.00", "DELIVERY_TAX": "0.60"}, True),
        ("N-OFF", [("M", 2, net("10.00", "1")), ("M", 1, net("5.00", "4"))],
         {"ORDER_AMOUNT": "32.84", "DELIVERY_NET": "3.00", "DELIVERY_TAX": "0.60"}, False),
        ("N-DEF", [("M", 3, net("0.99"))], {"ORDER_AMOUNT": "3.56", "DELIVERY_GRS": "-1"}, True),
        ("N-BOTH", [("M", 1, {"PRICE_NET": "10.00", "PRICE_GRS": "10.00", "TAX_RATE": "2"})],
         {"ORDER_AMOUNT": "10.00"}, True),
        ("N-CODE", [("M", 1, net("10.00", "9"))], {"ORDER_AMOUNT": "10.00"}, False),
        ("NO-AMT", [("M", 1)], {"DELIVERY_GRS": "1.00"}, True),
        ("BAD-NUM", [("M", 1, {"PRICE_GRS": "10,00"})], {}, False),
        ("BAD-HDR", [("M", 1)], {"ORDER_AMOUNT": "ten"}, False),
    ]
    before = stock_of(s)["M"][0]
    for ref, lines, hdr, booked in cases:
        st, _, root = s.soap("ImportOrders", {"Orders": sales_orders((ref, lines), **hdr)})
        count, _, skipped = import_results(root)
        assert st == 200 and count == (1 if booked else 0), (ref, skipped)
        if ref in ("G-BAD", "N-OFF"):
            assert "ORDER_AMOUNT" in skipped[0]["SkipReason"], skipped
        if ref == "G-BAD":
            assert "24.99" in skipped[0]["SkipReason"], skipped
        if ref == "N-CODE":
            assert "TAX_RATE '9'" in skipped[0]["SkipReason"], skipped
        if ref.startswith("BAD"):
            assert "not an amount" in skipped[0]["SkipReason"], skipped
    booked = sum(sum(l[1] for l in c[1]) for c in cases if c[3])
    assert stock_of(s)["M"][0] == before - booked, "skipped orders allocate nothing"
    # another tax table: only its codes exist
    st, _, j = s.json("POST", "/_sim/khaos/settings", {"tax_rates": {"9": 12.5}})
    assert st == 200 and j["tax_rates"] == {"9": 12.5}, j
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(
        ("T-9", [("M", 2, net("10.00", "9"))]), ("T-1", [("M", 1, net("10.00", "1"))]), ORDER_AMOUNT="22.50")})
    count, imp, skipped = import_results(root)
    assert count == 1 and imp[0]["AssociatedRef"] == "T-9" and "TAX_RATE '1'" in skipped[0]["SkipReason"], skipped
    for bad in ({"tax_rates": {}}, {"tax_rates": {"x": 20}}, {"tax_rates": {"1": 120}}, {"tax_rates": {"1": 20.001}},
                {"tax_rates": {"01": 20}}, {"tax_rates": [20]}):
        st, _, j = s.json("POST", "/_sim/khaos/settings", bad)
        assert st == 400, (bad, st, j)
    s.reset()
    st, _, j = s.json("POST", "/_sim/khaos/settings", {})
    assert j["tax_rates"] == {"1": 20.0, "2": 0.0, "4": 5.0}, j


@test
def khaos_import_rejects(s):
    s.stock({"code": "SKU-1", "available": 5})
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(
        ("U-2", [("SKU-1", 0)]), ("U-3", [("SKU-1", 1)]),
        ("U-4", []), ("U-5-0123456789AB", [("SKU-1", 1)]))})
    assert st == 200
    count, imp, skipped = import_results(root)
    assert count == 1 and [r["AssociatedRef"] for r in imp] == ["U-3"]
    why = {r["OrderRef"]: r["SkipReason"] for r in skipped}
    assert set(why) == {"U-2", "U-4", "U-5-0123456789AB"}, why
    assert "ORDER_QTY" in why["U-2"] and "ORDER_ITEM" in why["U-4"]
    assert "ASSOCIATED_REF: 16 characters, at most 15" in why["U-5-0123456789AB"], why
    # what the guide requires, one at a time
    base = sales_orders(("Q-1", [("SKU-1", 1)]))
    for drop, word in (("<IS_NEW_CUSTOMER>-1</IS_NEW_CUSTOMER>", "IS_NEW_CUSTOMER"),
                       ("<ITOWN>London</ITOWN>", "ITOWN"), ("<IPOSTCODE>SW1A 1AA</IPOSTCODE>", "IPOSTCODE"),
                       ("<ISURNAME>Doe</ISURNAME>", "ISURNAME"), ("<IADDRESS1>1 High Street</IADDRESS1>", "IADDRESS1"),
                       ("<MAPPING_TYPE>1</MAPPING_TYPE>", "MAPPING_TYPE"), ("<PRICE_GRS>10.00</PRICE_GRS>", "PRICE"),
                       ("<ORDER_DATE>2026-11-22 07:42:07</ORDER_DATE>", None)):
        assert drop in base, drop
        st, _, root = s.soap("ImportOrders", {"Orders": base.replace(drop, "")})
        count, imp, skipped = import_results(root)
        if word is None:
            assert count == 1, skipped  # ORDER_DATE is optional
            continue
        assert count == 0 and word in skipped[0]["SkipReason"], (word, skipped)
    for elem, value in (("IPOSTCODE", "X" * 11), ("ITOWN", "T" * 36), ("ISURNAME", "é" * 51)):
        st, _, root = s.soap("ImportOrders", {"Orders": base.replace(
            "<%s>" % elem, "<%s>%s" % (elem, value), 1).replace("Q-1", "Q-2")})
        count, _, skipped = import_results(root)
        assert count == 0 and elem in skipped[0]["SkipReason"], skipped
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("Q-3", [("SKU-1", 1)]), PO_NUMBER="P" * 31)})
    assert import_results(root)[2][0]["SkipReason"].startswith("PO_NUMBER")
    st, _, root = s.soap("ImportOrders", {"Orders": base.replace("2026-11-22 07:42:07", "2026-11-22T07:42:07")})
    assert "ORDER_DATE" in import_results(root)[2][0]["SkipReason"]
    assert sorted(so["associated_ref"] for so in s.state()["khaos"]["sales_orders"]) == ["Q-1", "U-3"]
    for params in ({}, {"Orders": "<NOT_SALES_ORDERS/>"}, {"Orders": "<SALES_ORDERS>"}):
        st, _, root = s.soap("ImportOrders", params)
        assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Client", params


@test
def khaos_import_escaping_and_doc_example(s):
    s.stock({"code": "SKU-1", "available": 5}, {"code": "A&B<\"x\">", "available": 1})
    ref = "R&D <1> \"q\" 'é'"
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders((ref, [("A&B<\"x\">", 1)]))})
    count, imp, _ = import_results(root)
    assert imp[0]["AssociatedRef"] == ref and count == 1, imp
    assert s.state()["khaos"]["sales_orders"][0]["lines"][0]["stock_code"] == "A&B<\"x\">"
    # The envelope printed in docs/khaos-soap.md, byte for byte.
    st, _, data = s.soap_raw(DOC_IMPORT_ENVELOPE, {"SOAPAction": '"urn:IKosWebIntf-IKosWeb#ImportOrders"'})
    assert st == 200, data
    count, imp, skipped = import_results(ET.fromstring(data))
    assert count == 1 and imp[0]["AssociatedRef"] == "DOC-1-A", skipped
    # CDATA is just another way to send the same string.
    body = ('<s:Envelope xmlns:s="%s"><s:Body><n:ImportOrders xmlns:n="%s"><Orders><![CDATA[%s]]></Orders>'
            '</n:ImportOrders></s:Body></s:Envelope>' % (SOAP_ENV, NS, sales_orders(("CD-1", [("SKU-1", 1)]))))
    st, _, data = s.soap_raw(body, {"SOAPAction": ""})
    assert st == 200 and import_results(ET.fromstring(data))[0] == 1


@test
def docs_envelope_matches(s):
    doc = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "khaos-soap.md")
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    blocks = [b.split("```", 1)[0] for b in text.split("```xml\n")[1:]]
    blocks = [b for b in blocks if "<ns1:ImportOrders" in b]
    assert blocks == [DOC_IMPORT_ENVELOPE], "docs/khaos-soap.md drifted from DOC_IMPORT_ENVELOPE"


@test
def khaos_export_order_status(s):
    s.stock({"code": "SKU-1", "available": 5})
    s.json("POST", "/_sim/khaos/settings", {"dedupe": False})
    s.soap("ImportOrders", {"Orders": sales_orders(("E-1", [("SKU-1", 2)]), ("E-2", [("SKU-1", 1)]))})
    s.soap("ImportOrders", {"Orders": sales_orders(("E-1", [("SKU-1", 1)]))})
    st, _, root = s.soap("ExportOrderStatusEx", status_args("E-1,E-9"))
    assert st == 200, ET.tostring(root)
    doc = inner_doc(root, "ExportOrderStatusEx")
    assert doc.tag == "STATUS_LIST"
    orders = doc.findall("ORDER_STATUS")
    assert [o.get("ASSOCIATED_REF") for o in orders] == ["E-1", "E-1"]  # the duplicate shows
    o = orders[0]
    assert o.get("SORDER_CODE").startswith("SO")
    assert o.find("COMPANY_NAME").get("COMPANY_CODE") == "" and o.find("ORDER_TYPE").get("TYPE_ID") == "S"
    assert len(o.findtext("DATE_CREATED")) == 10 and o.findtext("DATE_CREATED")[2] == "/"
    assert datetime.datetime.strptime(o.findtext("DATE_CREATED"), "%d/%m/%Y").date() == datetime.datetime.utcnow().date()
    assert o.findtext("COMPLETE") == "0" and o.findtext("QTY_SOLD") == "2" and o.find("CANCELLED") is None
    inv = o.find("INVOICES/INVOICE")
    assert inv.get("INVOICE_STAGE_ID") == "10" and inv.get("INVOICE_STAGE_DESC") == "ORDERS_STAGING"
    for a in ("INVOICE_CODE", "SHIP_DATE", "COURIER", "CONSIGNMENT_REF", "TRACKING_URL", "QTY_SENT", "MOVED"):
        assert inv.get(a) is not None, a
    st, _, root = s.soap("ExportOrderStatusEx", status_args(o.get("SORDER_CODE"), mapping="3"))
    assert [x.get("SORDER_CODE") for x in inner_doc(root, "ExportOrderStatusEx")] == [o.get("SORDER_CODE")]
    st, _, root = s.soap("ExportOrderStatusEx", status_args("E-9"))
    assert inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS") == []
    st, _, root = s.soap("ExportOrderStatusEx", status_args("E-2", stages="12,13"))
    assert inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS") == []
    st, _, root = s.soap("ExportOrderStatusEx", status_args("E-2", stages="10"))
    assert len(inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS")) == 1
    # cancelled in Khaos: shown only with IncludeCancelled, with a CANCELLED element
    st, _, j = s.json("POST", "/_sim/khaos/orders/E-2/cancel", {})
    assert st == 200 and j == {"cancelled": 1}, (st, j)
    st, _, j = s.json("POST", "/_sim/khaos/orders/E-77/cancel", {})
    assert st == 404
    st, _, root = s.soap("ExportOrderStatusEx", status_args("E-2"))
    assert inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS") == []
    for flag in ("-1", "true"):
        st, _, root = s.soap("ExportOrderStatusEx", status_args("E-2", cancelled=flag))
        o = inner_doc(root, "ExportOrderStatusEx").find("ORDER_STATUS")
        assert o.find("CANCELLED/CANCELLED_DATE_TIME") is not None and o.find("INVOICES/INVOICE").get("INVOICE_STAGE_ID") == "1"
    assert [so["cancelled"] for so in s.state()["khaos"]["sales_orders"]] == [False, True, False]
    # every parameter but the trailing ones is positional; IDs may be empty only with both dates
    st, _, root = s.soap("ExportOrderStatusEx", {"IDs": "E-1", "MappingType": "4"})
    assert st == 200
    for bad in (status_args("E-1", mapping="9"), status_args("E-1", mapping="1"), status_args(""),
                status_args("E-1", date_from="soon"), dict(status_args("E-1"), WebOnly="maybe")):
        st, _, root = s.soap("ExportOrderStatusEx", bad)
        assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Client", bad
    st, _, root = s.soap("ExportOrderStatusEx", status_args("", date_from="2000-01-01T00:00:00",
                                                            date_to="2100-01-01T00:00:00"))
    assert len(inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS")) == 2


@test
def khaos_despatch(s):
    s.stock({"code": "SKU-1", "available": 9}, {"code": "SKU-2", "available": 9})
    s.soap("ImportOrders", {"Orders": sales_orders(("D-1", [("SKU-1", 2), ("SKU-2", 1)]), ("D-2", [("SKU-1", 1)]))})
    t_before = datetime.datetime.utcnow() - datetime.timedelta(seconds=2)
    # bad bodies; an unknown ref; more than ordered
    for bad in ({"courier": "RM"}, {"associated_ref": "D-1", "courier": "RM", "consignment_ref": 5},
                {"associated_ref": "D-1", "courier": "RM", "consignment_ref": "C", "items": [{"stock_code": "SKU-1"}]}):
        st, _, j = s.json("POST", "/_sim/khaos/despatch", bad)
        assert st == 400, (bad, st, j)
    st, _, j = s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-9", "courier": "RM", "consignment_ref": "C"})
    assert st == 404
    st, _, j = s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-1", "courier": "RM", "consignment_ref": "C",
                                                      "items": [{"stock_code": "SKU-1", "qty": 3}]})
    assert st == 409
    # a first box: one line of two
    st, _, j = s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-1", "courier": "Royal Mail 48",
                                                      "consignment_ref": "BOX-1", "tracking_url": "https://t/BOX-1",
                                                      "items": [{"stock_code": "SKU-1", "qty": 2}]})
    assert st == 200 and j == {"items": 1, "complete": False}, j
    args = dict(status_args("D-1"), ShowItems="-1")
    st, _, root = s.soap("ExportOrderStatusEx", args)
    o = inner_doc(root, "ExportOrderStatusEx").find("ORDER_STATUS")
    inv = o.find("INVOICES/INVOICE")
    today = datetime.datetime.utcnow().strftime("%d/%m/%Y")
    # the order's COURIER is the booking's COURIER_CODE (none here), the box's is the despatch's
    assert (o.findtext("COURIER") or "") == "" and o.findtext("COMPLETE") == "0"
    assert inv.get("SHIP_DATE") == today and inv.get("CONSIGNMENT_REF") == "BOX-1" and inv.get("COURIER") == "Royal Mail 48"
    assert inv.get("TRACKING_URL") == "https://t/BOX-1" and inv.get("QTY_SENT") == "2.00" and inv.get("QTY_SOLD") == "3.00"
    assert inv.get("INVOICE_STAGE_ID") == "14"
    boxes = inv.findall("BOX")
    assert len(boxes) == 1 and boxes[0].get("SHIPPED") == "-1" and boxes[0].get("SHIP_DATE") == today
    assert [(i.get("STOCK_CODE"), i.get("QTY_SENT")) for i in boxes[0].findall("BOX_ITEM")] == [("SKU-1", "2.00")]
    assert [i.get("STOCK_CODE") for i in inv.findall("INVOICE_ITEMS/INVOICE_ITEM")] == ["SKU-1"]
    # without ShowItems: no boxes, the invoice still says it shipped
    st, _, root = s.soap("ExportOrderStatusEx", status_args("D-1"))
    inv = inner_doc(root, "ExportOrderStatusEx").find("ORDER_STATUS/INVOICES/INVOICE")
    assert inv.find("BOX") is None and inv.get("CONSIGNMENT_REF") == "BOX-1"
    # the rest, without items: everything not sent yet -> complete, issued
    st, _, j = s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-1", "courier": "DPD", "consignment_ref": "BOX-2"})
    assert st == 200 and j == {"items": 1, "complete": True}, j
    st, _, root = s.soap("ExportOrderStatusEx", args)
    o = inner_doc(root, "ExportOrderStatusEx").find("ORDER_STATUS")
    assert o.findtext("COMPLETE") == "-1" and o.find("INVOICES/INVOICE").get("INVOICE_STAGE_ID") == "70"
    assert [b.get("CONSIGNMENT_REF") for b in o.findall("INVOICES/INVOICE/BOX")] == ["BOX-1", "BOX-2"]
    # the date range: MappingType 1 without IDs; booked in it, or (IncludeTracking) despatched in it
    later = utc(datetime.datetime.utcnow() + datetime.timedelta(seconds=1))
    far = utc(datetime.datetime.utcnow() + datetime.timedelta(hours=1))
    rng = dict(status_args("", mapping="1", date_from=later, date_to=far), ShowItems="-1")
    st, _, root = s.soap("ExportOrderStatusEx", rng)
    assert st == 200 and inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS") == []
    rng.update(DateFrom=utc(t_before))
    st, _, root = s.soap("ExportOrderStatusEx", rng)
    assert [x.get("ASSOCIATED_REF") for x in inner_doc(root, "ExportOrderStatusEx")] == ["D-1", "D-2"]
    # a range after the booking but over the despatch: only with IncludeTracking
    time.sleep(2.2)  # whole seconds in the range: the booking falls out of it
    s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-2", "courier": "RM", "consignment_ref": "B3"})
    rng.update(DateFrom=utc(datetime.datetime.utcnow() - datetime.timedelta(seconds=1)))
    st, _, root = s.soap("ExportOrderStatusEx", rng)
    assert inner_doc(root, "ExportOrderStatusEx").findall("ORDER_STATUS") == []
    rng.update(IncludeTracking="-1")
    st, _, root = s.soap("ExportOrderStatusEx", rng)
    assert [x.get("ASSOCIATED_REF") for x in inner_doc(root, "ExportOrderStatusEx")] == ["D-2"]
    k = s.state()["khaos"]["sales_orders"]
    assert [len(x["despatches"]) for x in k] == [2, 1] and [x["complete"] for x in k] == [True, True]
    # a cancelled order cannot be despatched
    s.soap("ImportOrders", {"Orders": sales_orders(("D-3", [("SKU-1", 1)]))})
    s.json("POST", "/_sim/khaos/orders/D-3/cancel", {})
    st, _, j = s.json("POST", "/_sim/khaos/despatch", {"associated_ref": "D-3", "courier": "RM", "consignment_ref": "X"})
    assert st == 409


@test
def mirakl_shipping(s):
    st, _, j = s.mirakl("GET", "/api/shipping/carriers")
    assert st == 200 and j == {"carriers": []}
    st, _, j = s.json("POST", "/_sim/mirakl/carriers", {"carriers": [{"code": "RM", "label": "Royal Mail",
                                                                     "tracking_url": "https://rm/{trackingId}"},
                                                                    {"code": "DPD", "label": "DPD"}]})
    assert st == 200 and j == {"carriers": 2}
    st, _, j = s.json("POST", "/_sim/mirakl/carriers", {"carriers": [{"code": "X"}]})
    assert st == 400
    st, _, j = s.mirakl("GET", "/api/shipping/carriers")
    assert j == {"carriers": [{"code": "RM", "label": "Royal Mail", "tracking_url": "https://rm/{trackingId}"},
                              {"code": "DPD", "label": "DPD"}]}
    s.settings(debit_delay_ms=0)
    oid = s.order(order_lines=[{"offer_sku": "A", "quantity": 2}, {"offer_sku": "B", "quantity": 1}])
    # OR24 before SHIPPING: 400, not counted as a repeat
    st, _, j = s.mirakl("PUT", "/api/orders/%s/ship" % oid)
    assert st == 400 and "ORDER_INVALID_STATE" in j["message"]
    st, _, j = s.mirakl("PUT", "/api/orders/%s/tracking" % oid, {"carrier_code": "RM", "tracking_number": "T"})
    assert st == 400 and "ORDER_INVALID_STATE" in j["message"]
    s.accept(oid, [(oid + "-1", True), (oid + "-2", True)])
    assert s.or12(oid)["order_state"] == "SHIPPING"
    # OR23's rules: a registered code, or a name; a tracking number for a carrier with a URL
    for bad in ({}, {"carrier_code": "NOPE", "tracking_number": "T"}, {"carrier_code": "RM"},
                {"carrier_name": 5}):
        st, _, j = s.mirakl("PUT", "/api/orders/%s/tracking" % oid, bad)
        assert st == 400 and "VALIDATION_ERROR" in j["message"], (bad, j)
    st, _, j = s.mirakl("PUT", "/api/orders/%s/tracking" % oid, {"carrier_code": "DPD"})
    assert st == 204
    st, _, j = s.mirakl("PUT", "/api/orders/%s/tracking" % oid, {"carrier_name": "Acme", "carrier_url": "https://a/T9",
                                                                  "tracking_number": "T9"})
    assert st == 204
    o = s.or12(oid)
    assert (o["shipping_carrier_code"], o["shipping_company"], o["shipping_tracking"], o["shipping_tracking_url"]) == \
        (None, "Acme", "T9", "https://a/T9")
    st, _, j = s.mirakl("PUT", "/api/orders/%s/tracking" % oid, {"carrier_code": "RM", "tracking_number": "RM1"})
    assert st == 204
    # OR24: no body; SHIPPING -> SHIPPED; a second one is a 400, counted
    st, _, j = s.mirakl("PUT", "/api/orders/%s/ship" % oid, {"x": 1})
    assert st == 400
    st, _, j = s.mirakl("PUT", "/api/orders/%s/ship" % oid)
    assert st == 204
    assert s.or12(oid)["order_state"] == "SHIPPED" and lines_of(s.or12(oid)) == ["SHIPPED", "SHIPPED"]
    st, _, j = s.mirakl("PUT", "/api/orders/%s/ship" % oid)
    assert st == 400
    m = s.state()["mirakl"]
    assert m["repeated_ship_calls"] == 1 and m["orders"][0]["repeat_unread"] is True
    assert m["orders"][0]["ship_calls"] == 4  # with the 2 refused ones
    assert m["orders"][0]["tracking"] == {"carrier_code": "RM", "carrier_name": "Royal Mail", "tracking_number": "RM1",
                                          "tracking_url": "https://rm/{trackingId}"}
    s.mirakl("GET", "/api/orders?order_ids=" + oid)
    assert s.state()["mirakl"]["orders"][0]["repeat_unread"] is False
    # ST01: shipments per box; the order ships when every line is
    b = s.order(order_lines=[{"offer_sku": "A", "quantity": 2}, {"offer_sku": "B", "quantity": 1}])
    s.accept(b, [(b + "-1", True), (b + "-2", True)])
    trk = {"carrier_code": "RM", "tracking_number": "S1"}
    st, _, j = s.mirakl("POST", "/api/shipments", {"shipments": [
        {"order_id": b, "shipment_lines": [{"order_line_id": b + "-1", "quantity": 2}], "tracking": trk, "shipped": True},
        {"order_id": b, "shipment_lines": [{"order_line_id": b + "-2", "quantity": 5}], "shipped": True},
        {"order_id": "NOPE", "shipment_lines": [{"order_line_id": "x", "quantity": 1}]}]})
    assert st == 201 and [x["order_id"] for x in j["shipment_success"]] == [b], j
    assert [x["order_id"] for x in j["shipment_errors"]] == [b, "NOPE"], j
    assert s.or12(b)["order_state"] == "SHIPPING"
    st, _, j = s.mirakl("POST", "/api/shipments", {"shipments": [
        {"order_id": b, "shipment_lines": [{"order_line_id": b + "-2", "quantity": 1}],
         "tracking": {"carrier_name": "Acme", "tracking_number": "S2"}, "shipped": True}]})
    assert st == 201 and len(j["shipment_success"]) == 1 and j["shipment_errors"] == []
    assert s.or12(b)["order_state"] == "SHIPPED"
    st, _, j = s.mirakl("POST", "/api/shipments", {"shipments": []})
    assert st == 400
    assert s.state()["mirakl"]["shipments"] == 2 and s.state()["mirakl"]["shipment_errors"] == 2
    # ST11: the shipments, by order, a page at a time
    st, _, j = s.mirakl("GET", "/api/shipments?order_id=" + b)
    assert st == 200 and [x["tracking"].get("tracking_number") for x in j["data"]] == ["S1", "S2"], j
    assert j["data"][0]["shipment_lines"] == [{"order_line_id": b + "-1", "quantity": 2}] and j["next_page_token"] is None
    st, _, j = s.mirakl("GET", "/api/shipments?order_id=%s&limit=1" % b)
    assert len(j["data"]) == 1 and j["next_page_token"]
    st, _, j = s.mirakl("GET", "/api/shipments?order_id=%s&limit=1&page_token=%s" % (b, j["next_page_token"]))
    assert [x["tracking"]["tracking_number"] for x in j["data"]] == ["S2"] and j["next_page_token"] is None
    st, _, j = s.mirakl("GET", "/api/shipments?order_id=" + oid)
    assert j["data"] == []
    st, _, j = s.mirakl("GET", "/api/shipments?page_token=zz")
    assert st == 400


HEADER = '"offer-sku";"quantity";"warehouse-code";"update-delete"'


def sto01(s, csv, boundary="b0undary", ctype=None):
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n%s\r\n--%s--\r\n" % (boundary, csv, boundary))
    return s.mirakl("POST", "/api/offers/stock/imports", body,
                    headers={"Content-Type": ctype or "multipart/form-data; boundary=" + boundary})


@test
def mirakl_stock_imports(s):
    s.settings(import_delay_ms=400, stock_import_min_interval_ms=60000)
    st, _, j = s.json("POST", "/_sim/mirakl/offers", {"offers": [{"shop_sku": "A", "quantity": 1},
                                                                 {"shop_sku": "B;1", "quantity": 2}]})
    assert st == 200 and j == {"updated": 2}, (st, j)
    # the strict check: the header, the multipart shape
    for csv, ctype in (('"sku";"quantity"\r\n"A";"1";"";""', None), (HEADER.replace(";", ","), None),
                       (HEADER + '\r\n"A";"1";"";""', "text/csv")):
        st, _, j = sto01(s, csv, ctype=ctype)
        assert st == 400 and j["message"], (st, j)
    csv = "\r\n".join([HEADER, '"A";"5";"";""', '"B;1";"7";"";""', '"GONE";"3";"";""', 'A;"1";"";""',
                        '"A";"-1";"";""', '"A";"2";"WH";""'])
    st, _, j = sto01(s, csv)
    assert st == 201 and j["import_id"], (st, j)
    iid = j["import_id"]
    # a second STO01 within a minute: 429 with Retry-After
    st, hd, j = sto01(s, HEADER + '\r\n"A";"9";"";""')
    assert st == 429 and int(hd["Retry-After"]) >= 1, (st, j)
    st, _, j = s.mirakl("GET", "/api/offers/stock/imports/%s/status" % iid)
    assert st == 200 and j["status"] == "WAITING" and j["lines_in_success"] == 0, j
    time.sleep(0.25)
    assert s.mirakl("GET", "/api/offers/stock/imports/%s/status" % iid)[2]["status"] == "RUNNING"
    st, _, _ = s.request("GET", "/mirakl/api/offers/stock/imports/%s/error_report" % iid,
                         headers={"Authorization": MIRAKL_KEY})
    assert st == 404  # no report before COMPLETE
    time.sleep(0.25)
    st, _, j = s.mirakl("GET", "/api/offers/stock/imports/%s/status" % iid)
    assert j["status"] == "COMPLETE" and j["lines_in_success"] == 2 and j["lines_in_error"] == 4, j
    assert j["has_error_report"] is True
    st, hd, data = s.request("GET", "/mirakl/api/offers/stock/imports/%s/error_report" % iid,
                             headers={"Authorization": MIRAKL_KEY})
    rows = data.decode().strip().split("\r\n")
    assert st == 200 and rows[0] == '"line-number";"error-message";' + HEADER, rows
    assert [r.split(";")[0] for r in rows[1:]] == ['"4"', '"5"', '"6"', '"7"'], rows
    assert "does not exist" in rows[1] and "GONE" in rows[1]
    st, _, j = s.json("GET", "/_sim/state?sku=A,B%3B1,GONE")
    assert j["mirakl"]["offers"] == [{"shop_sku": "A", "quantity": 5}, {"shop_sku": "B;1", "quantity": 7}], j
    assert j["mirakl"]["stock_imports"] == [{"import_id": iid, "lines": 6, "status": "COMPLETE",
                                             "lines_in_error": 4}]
    st, _, j = s.mirakl("GET", "/api/offers/stock/imports/999999/status")
    assert st == 404


@test
def mirakl_offers_paged(s):
    st, _, j = s.json("POST", "/_sim/mirakl/offers", {"generate": {"count": 2500, "prefix": "P-", "quantity": 4}})
    assert st == 200 and j == {"updated": 2500}
    st, _, j = s.mirakl("GET", "/api/offers?max=100&offset=2450")
    assert st == 200 and j["total_count"] == 2500 and len(j["offers"]) == 50, j
    assert j["offers"][0] == {"shop_sku": "P-0002451", "quantity": 4, "offer_id": "P-0002451", "active": True}
    assert s.mirakl("GET", "/api/offers?max=101")[0] == 400
    st = s.state()
    assert st["mirakl"]["offers"] == [] and st["mirakl"]["offers_count"] == 2500  # big: a count only
    st, _, j = s.json("POST", "/_sim/mirakl/offers", {"offers": [{"shop_sku": "", "quantity": 1}]})
    assert st == 400


@test
def khaos_stock_sites_and_generate(s):
    st, _, j = s.json("POST", "/_sim/khaos/stock", {"generate": {"count": 1500, "prefix": "G-", "available": 3}})
    assert st == 200 and j == {"updated": 1500}
    s.stock({"code": "W2", "available": 9, "site": 2, "build_potential": 4})
    st, _, root = s.soap("ExportStockStatus", stock_args(site="2"))
    items = inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")
    assert [i.get("CODE") for i in items] == ["W2"]
    assert items[0].findtext("BUILD_POTENTIAL_CHILDREN") == "4"
    st, _, root = s.soap("ExportStockStatus", stock_args())
    assert len(inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")) == 1500  # the default site
    st, _, root = s.soap("ExportStockStatus", stock_args(site="-1"))
    assert len(inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")) == 1501
    k = s.state()["khaos"]
    assert k["stock"] == [] and k["stock_count"] == 1501


@test
def stock_per_site_and_warehouse(s):
    """A stock item held at several sites answers one LEVEL per site; STO01
    lines per warehouse-code (the platform's) set per-warehouse quantities,
    the offer showing their sum."""
    s.stock({"code": "SKU-W", "levels": {"1": 5, "2": 7}})
    for site, want in (("1", ["5"]), ("2", ["7"]), ("3", []), ("-1", ["5", "7"])):
        st, _, root = s.soap("ExportStockStatus", stock_args(codes="SKU-W", site=site))
        got = [i.findtext("LEVEL") for i in inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")]
        assert got == want, (site, got)
    assert s.state()["khaos"]["stock"][0]["levels"] == {"1": 5, "2": 7}
    s.settings(import_delay_ms=0, warehouses=["WH-A", "WH-B"])
    st, _, j = s.json("POST", "/_sim/mirakl/offers", {"offers": [{"shop_sku": "SKU-W", "quantity": 0}]})
    csv = "\r\n".join([HEADER, '"SKU-W";"4";"WH-A";""', '"SKU-W";"6";"WH-B";""', '"SKU-W";"1";"WH-Z";""'])
    st, _, j = sto01(s, csv)
    assert st == 201, (st, j)
    st, _, j = s.mirakl("GET", "/api/offers/stock/imports/%s/status" % j["import_id"])
    assert j["status"] == "COMPLETE" and j["lines_in_success"] == 2 and j["lines_in_error"] == 1, j
    st, _, j = s.json("GET", "/_sim/state?sku=SKU-W")
    assert j["mirakl"]["offers"] == [{"shop_sku": "SKU-W", "quantity": 10, "warehouses": {"WH-A": 4, "WH-B": 6}}], j
    assert s.mirakl("GET", "/api/offers?max=10")[2]["offers"][0]["quantity"] == 10


@test
def khaos_allocate(s):
    """A booked line takes its quantity off the item's LEVEL, as Khaos
    allocates ({"allocate": false} turns that off, for a test that wants
    levels to stay put)."""
    s.stock({"code": "SKU-AL", "available": 10})
    st, _, j = s.json("POST", "/_sim/khaos/settings", {"allocate": True})
    assert st == 200 and j["allocate"] is True and j["dedupe"] is True
    st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("AL-1", [("SKU-AL", 3)]))})
    assert st == 200
    assert s.state()["khaos"]["stock"][0]["available"] == 7
    st, _, root = s.soap("ExportStockStatus", stock_args(codes="SKU-AL"))
    assert inner_doc(root, "ExportStockStatus").find("STOCK_ITEM").findtext("LEVEL") == "7"


def stock_args(codes="", since="", site=None):
    a = {"StockCode": codes, "MappingType": "1", "LastUpdated": since}
    if site is not None:
        a.update(SiteID=site, PotentialLeadTime="0")
    return a


@test
def khaos_stock_calls(s):
    s.stock({"code": "SKU-B", "available": 7}, {"code": "SKU-A", "available": 3, "discontinued": True},
            {"code": "SKU-C", "available": 0}, {"code": "SKU-N", "available": 1, "status": 5})
    st, _, root = s.soap("ExportStockStatus", stock_args(site="-1"))
    assert st == 200
    doc = inner_doc(root, "ExportStockStatus")
    assert doc.tag == "STOCK_STATUS" and doc.get("SITE")
    items = doc.findall("STOCK_ITEM")
    assert [i.get("CODE") for i in items] == ["SKU-A", "SKU-B", "SKU-C", "SKU-N"]
    assert [(i.findtext("LEVEL"), i.findtext("STATUS")) for i in items] == [("3", "4"), ("7", "0"), ("0", "3"),
                                                                          ("1", "5")]
    for child in ("BUILD_POTENTIAL_CHILDREN", "LEAD_TIME", "SELL_PRICE"):
        assert items[0].find(child) is not None, child
    assert items[0].get("ID") and items[0].get("DESC")
    st, _, root = s.soap("ExportStockStatus", stock_args("SKU-B, NOPE"))
    assert [i.get("CODE") for i in inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")] == ["SKU-B"]
    for bad in (dict(stock_args(), MappingType="2"), stock_args(site="MAIN"),
                dict(stock_args(site="1"), PotentialLeadTime="x")):
        st, _, root = s.soap("ExportStockStatus", bad)
        assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Client", bad
    time.sleep(1.1)
    mid = utc(datetime.datetime.utcnow())
    time.sleep(1.1)
    s.stock({"code": "SKU-A", "available": 4})
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": mid, "StockItemType": "0"})
    ids = by_id(root)
    lst = deref(ids, response_of(root, "GetStockList").find("return"))
    assert lst.tag.endswith("TStockList") and lst.findtext("Count") == "1"
    infos = [deref(ids, it) for it in lst.find("List")]
    assert [i.findtext("StockCode") for i in infos] == ["SKU-A"]
    for f in ("OtherRef", "StockDesc", "ParentCode", "ParentOtherRef", "LastUpdated"):
        assert infos[0].find(f) is not None, f
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": "", "StockItemType": "0"})
    assert deref(by_id(root), response_of(root, "GetStockList").find("return")).findtext("Count") == "4"
    st, _, root = s.soap("ExportStockStatus", stock_args(since=mid))
    items = inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")
    assert [(i.get("CODE"), i.findtext("LEVEL")) for i in items] == [("SKU-A", "4")]
    assert s.state()["khaos"]["stock"][1] == {"code": "SKU-A", "available": 4, "discontinued": True, "status": 4,
                                              "build_potential": 0, "site": 1}
    for bad in ({"DateType": "0", "DateValue": "31/12/2026"}, {"DateType": "7", "DateValue": ""}):
        st, _, root = s.soap("GetStockList", bad)
        assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Client", bad
    for bad in ({"code": ""}, {"code": "X", "available": "7"}, {"code": "X", "status": 6}):
        st, _, j = s.json("POST", "/_sim/khaos/stock", {"items": [bad]})
        assert st == 400, bad


@test
def khaos_stock_revised_only(s):
    """A revision alone ("revised_only": a price changed, no stock moved) is
    seen by GetStockList (REVISION_DATE) and not by ExportStockStatus's
    LastUpdated; the value itself is what both answer."""
    s.stock({"code": "SKU-R", "available": 5}, {"code": "SKU-S", "available": 2})
    time.sleep(1.1)
    mid = utc(datetime.datetime.utcnow())
    time.sleep(1.1)
    st, _, j = s.json("POST", "/_sim/khaos/stock",
                      {"items": [{"code": "SKU-R", "sell_price": "12.50", "revised_only": True}]})
    assert st == 200 and j == {"updated": 1}, j
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": mid, "StockItemType": "0"})
    ids = by_id(root)
    lst = deref(ids, response_of(root, "GetStockList").find("return"))
    infos = [deref(ids, it) for it in lst.find("List")]
    assert lst.findtext("Count") == "1" and [i.findtext("StockCode") for i in infos] == ["SKU-R"], infos
    assert infos[0].findtext("LastUpdated") >= mid, infos[0].findtext("LastUpdated")
    st, _, root = s.soap("ExportStockStatus", stock_args(since=mid))
    assert inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM") == []
    st, _, root = s.soap("ExportStockStatus", stock_args("SKU-R"))
    items = inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")
    assert [(i.get("CODE"), i.findtext("SELL_PRICE"), i.findtext("LEVEL")) for i in items] == [("SKU-R", "12.50", "5")]
    # an ordinary change moves both
    s.stock({"code": "SKU-S", "available": 3})
    st, _, root = s.soap("ExportStockStatus", stock_args(since=mid))
    assert [i.get("CODE") for i in inner_doc(root, "ExportStockStatus").findall("STOCK_ITEM")] == ["SKU-S"]
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": mid, "StockItemType": "0"})
    assert deref(by_id(root), response_of(root, "GetStockList").find("return")).findtext("Count") == "2"
    st, _, j = s.json("POST", "/_sim/khaos/stock", {"items": [{"code": "SKU-R", "revised_only": "yes"}]})
    assert st == 400, j


@test
def khaos_sop_data_couriers(s):
    flags = {"Courier": "-1", "DelRate": "0", "CourierBanding": "0", "BOGOF": "0", "SpecialOffer": "0",
             "TelesalePrompt": "0", "KeyCode": "0", "BarredItems": "0"}
    st, _, root = s.soap("GetSOPData", flags)
    assert st == 200 and inner_doc(root, "GetSOPData").findall("COURIERS/COURIER") == []
    st, _, j = s.json("POST", "/_sim/khaos/couriers", {"couriers": [{"code": "RM24", "name": "Royal Mail 24"},
                                                                    {"code": "DPD", "name": "DPD Next Day"}]})
    assert st == 200 and j == {"couriers": 2}
    st, _, root = s.soap("GetSOPData", flags)
    doc = inner_doc(root, "GetSOPData")
    assert doc.tag == "SOPDATA"
    assert [(c.get("CODE"), c.text) for c in doc.findall("COURIERS/COURIER")] == [("RM24", "Royal Mail 24"),
                                                                                ("DPD", "DPD Next Day")]
    st, _, root = s.soap("GetSOPData", dict(flags, Courier="0"))
    assert inner_doc(root, "GetSOPData").find("COURIERS") is None
    st, _, _ = s.json("POST", "/_sim/khaos/couriers", {"couriers": [{"code": "X"}]})
    assert st == 400


# ---------------------------------------------------------------- faults

@test
def faults_validation(s):
    for body in ({"system": "sap"}, {"system": "mirakl", "error_rate": 1.5},
                 {"system": "mirakl", "error_rate": 0.6, "timeout_rate": 0.6},
                 {"system": "mirakl", "bogus": 1}, {"system": "mirakl", "status": 99},
                 {"system": "mirakl", "latency_ms": -1}, {"error_rate": 0.1}):
        st, _, j = s.json("POST", "/_sim/faults", body)
        assert st == 400 and j["error"] == "invalid_payload", (body, st, j)
    j = s.faults(system="khaos", error_rate=0.25, seed=42)
    assert j["faults"]["error_rate"] == 0.25 and j["faults"]["seed"] == 42
    assert j["faults"]["timeout_ms"] == 10000 and j["faults"]["status"] == 500
    st, _, j = s.json("GET", "/_sim/faults")
    assert st == 200 and j["mirakl"] is None and j["khaos"]["seed"] == 42
    j = s.faults(system="khaos", clear=True)
    assert j["faults"] is None


@test
def faults_error_read(s):
    oid = s.order()
    s.faults(system="mirakl", error_rate=1.0, status=503, seed=1)
    st, _, j = s.mirakl("GET", "/api/orders")
    assert st == 503 and j["status"] == 503 and "message" in j
    st, _, j = s.mirakl("GET", "/api/orders/" + oid)
    assert st == 503
    # Khaos unaffected by Mirakl faults.
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": ""})
    assert st == 200
    s.faults(system="mirakl", clear=True)
    st, _, j = s.mirakl("GET", "/api/orders")
    assert st == 200
    s.faults(system="khaos", error_rate=1.0, seed=1)
    st, _, root = s.soap("GetStockList", {"DateType": "0", "DateValue": ""})
    assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Server"


def accept_under_faults(s, seed, n):
    ids = [s.order() for _ in range(n)]
    s.faults(system="mirakl", error_rate=1.0, status=500, seed=seed)
    for oid in ids:
        st, _, j = s.accept(oid, [(oid + "-1", True)])
        assert st == 500 and j["status"] == 500, (st, j)
    s.faults(system="mirakl", clear=True)
    return [s.or12(oid)["order_state"] != "WAITING_ACCEPTANCE" for oid in ids]


@test
def faults_write_before_after_reproducible(s):
    first = accept_under_faults(s, 7, 24)
    assert 0 < sum(first) < 24, first  # both halves happen: effect lost and effect applied
    s.reset()
    again = accept_under_faults(s, 7, 24)
    assert again == first, (first, again)  # the same seed gives the same sequence
    s.reset()
    other = accept_under_faults(s, 8, 24)
    assert other != first


@test
def faults_khaos_import_after_effect(s):
    s.stock({"code": "SKU-1", "available": 5})
    s.faults(system="khaos", error_rate=1.0, seed=3)
    for i in range(16):
        st, _, root = s.soap("ImportOrders", {"Orders": sales_orders(("FX-%d" % i, [("SKU-1", 1)]))})
        assert st == 500 and fault_of(root)[0] == "SOAP-ENV:Server"
    booked = len(s.state()["khaos"]["sales_orders"])
    assert 0 < booked < 16, booked


@test
def faults_rate_limit(s):
    oid = s.order()
    s.faults(system="mirakl", rate_limit_rate=1.0, retry_after_s=7)
    st, hd, j = s.accept(oid, [(oid + "-1", True)])
    assert st == 429 and hd["Retry-After"] == "7" and j["status"] == 429
    s.faults(system="mirakl", rate_limit_rate=1.0, retry_after_s=-1)
    st, hd, j = s.mirakl("GET", "/api/orders")
    assert st == 429 and hd["Retry-After"] is None
    s.faults(system="mirakl", clear=True)
    assert s.or12(oid)["order_state"] == "WAITING_ACCEPTANCE"  # a 429 is never applied


@test
def faults_latency(s):
    s.faults(system="mirakl", latency_ms=300)
    t = time.time()
    st, _, _ = s.mirakl("GET", "/api/orders")
    assert st == 200 and time.time() - t >= 0.29
    t = time.time()
    st, _, _ = s.soap("GetStockList", {"DateType": "0", "DateValue": ""})
    assert time.time() - t < 0.25  # only the faulted system is slow


@test
def faults_timeout(s):
    ids = [s.order() for _ in range(6)]
    s.faults(system="mirakl", timeout_rate=1.0, timeout_ms=300, seed=11)
    for oid in ids:
        t = time.time()
        try:
            st, _, _ = s.accept(oid, [(oid + "-1", True)], timeout=5)
            raise AssertionError("got an answer: %d" % st)
        except (http.client.HTTPException, ConnectionError):
            pass
        assert time.time() - t >= 0.29
    s.faults(system="mirakl", clear=True)
    shipped = [s.or12(oid)["order_state"] != "WAITING_ACCEPTANCE" for oid in ids]
    again = None
    s.reset()
    ids = [s.order() for _ in range(6)]
    s.faults(system="mirakl", timeout_rate=1.0, timeout_ms=50, seed=11)
    for oid in ids:
        try:
            s.accept(oid, [(oid + "-1", True)], timeout=5)
        except (http.client.HTTPException, ConnectionError):
            pass
    s.faults(system="mirakl", clear=True)
    again = [s.or12(oid)["order_state"] != "WAITING_ACCEPTANCE" for oid in ids]
    assert shipped == again, (shipped, again)


@test
def faults_timeout_until_reset(s):
    s.faults(system="mirakl", timeout_rate=1.0, timeout_ms=60000)
    out = {}

    def call():
        t = time.time()
        try:
            s.mirakl("GET", "/api/orders", timeout=30)
            out["r"] = "answered"
        except (http.client.HTTPException, ConnectionError, OSError):
            out["r"] = "dropped"
        out["t"] = time.time() - t
    th = threading.Thread(target=call)
    th.start()
    time.sleep(0.5)
    s.reset()
    th.join(10)
    assert not th.is_alive() and out["r"] == "dropped" and out["t"] < 5, out


# ---------------------------------------------------------------- control API

@test
def state_shape_and_calls(s):
    s.stock({"code": "SKU-1", "available": 2})
    oid = s.order(order_lines=[{"offer_sku": "SKU-1", "quantity": 3}])
    s.mirakl("GET", "/api/orders", key=None)  # a 401 still counts
    s.mirakl("GET", "/api/orders")
    s.soap("ImportOrders", {"Orders": sales_orders((oid, [("SKU-1", 3)]))})
    st = s.state()
    assert set(st) == {"mirakl", "khaos", "inriver", "calls"}
    assert st["calls"] == {"mirakl": 2, "khaos": 1, "inriver": 0}
    cust = st["mirakl"]["orders"][0].pop("customer")
    assert cust["firstname"] == "Jane" and cust["shipping_address"] is None and cust["billing_address"] is None
    assert st["mirakl"] == {"orders": [{"order_id": oid, "order_state": "WAITING_ACCEPTANCE",
                                        "acceptance_decision_date": None, "order_lines": [
        {"order_line_id": oid + "-1", "offer_sku": "SKU-1", "quantity": 3,
         "order_line_state": "WAITING_ACCEPTANCE"}], "tracking": None, "ship_calls": 0,
        "repeat_unread": False, "ship_ok": 0, "repeat_blind": 0}], "repeated_ship_calls": 0, "shipments": 0,
                            "shipment_errors": 0, "offers": [], "offers_count": 0, "stock_imports": []}
    k = st["khaos"]
    assert set(k) == {"sales_orders", "duplicate_orders", "skipped_duplicates", "dedupe", "stock", "stock_count"}
    assert set(k["sales_orders"][0]) == {"associated_ref", "sales_order_code", "site", "sales_source", "po_number",
                                         "delivery_postcode", "cancelled", "lines", "order_amount", "courier_code",
                                         "delivery_grs", "delivery_net", "delivery_tax", "order_note", "despatches",
                                         "complete"}
    # 2 available, 3 booked: the level goes below zero, all allocated (STATUS 1)
    assert k["stock"] == [{"code": "SKU-1", "available": -1, "discontinued": False, "status": 1,
                           "build_potential": 0, "site": 1}], k["stock"]
    assert k["stock_count"] == 1
    s.reset()
    st = s.state()
    assert st == {"mirakl": {"orders": [], "repeated_ship_calls": 0, "shipments": 0, "shipment_errors": 0,
                             "offers": [], "offers_count": 0, "stock_imports": []},
                  "khaos": {"sales_orders": [], "duplicate_orders": 0,
                            "skipped_duplicates": 0, "dedupe": True, "stock": [], "stock_count": 0},
                  "inriver": {"entities": [], "entities_count": 0, "field_writes": [], "field_writes_count": 0,
                              "puts": 0},
                  "calls": {"mirakl": 0, "khaos": 0, "inriver": 0}}


@test
def inriver_rest(s):
    st, _, j = s.json("POST", "/_sim/inriver/entities", {"entities": [
        {"entity_type": "Item", "fields": {"ItemNumber": "SKU-1", "ItemName": "Shoe"}},
        {"entity_type": "Item", "fields": {"ItemNumber": "SKU-2"}},
        {"entity_type": "Item", "fields": {"ItemNumber": "SKU-2"}},
        {"entity_type": "Product", "fields": {"ProductName": "P"}}]})
    assert st == 201 and j == {"ids": [1, 2, 3, 4]}, (st, j)
    st, _, j = s.json("POST", "/_sim/inriver/entities", {"entities": [{"entity_type": "Item", "fields": {"Nope": 1}}]})
    assert st == 400, (st, j)
    assert s.inriver("GET", "/entities/1/summary", key="wrong")[0] == 401
    st, _, j = s.inriver("GET", "/entities/1/summary")
    assert st == 200 and j["id"] == 1 and j["entityTypeId"] == "Item" and j["modifiedDate"], j
    assert s.inriver("GET", "/entities/99/summary")[0] == 404
    st, _, j = s.inriver("GET", "/entities/1/fieldvalues?fieldTypeIds=ItemNumber,ItemName")
    assert j == [{"fieldTypeId": "ItemNumber", "value": "SKU-1"}, {"fieldTypeId": "ItemName", "value": "Shoe"}], j
    assert s.inriver("GET", "/entities/1/fieldvalues?fieldTypeIds=ProductName")[0] == 400
    # a PUT is checked whole against the type before anything is written
    st, _, j = s.inriver("PUT", "/entities/1/fieldvalues", [{"fieldTypeId": "KhaosStatus", "value": "OK"},
                                                             {"fieldTypeId": "KhaosAvailable", "value": "7"}])
    assert st == 400, (st, j)
    st, _, j = s.inriver("PUT", "/entities/1/fieldvalues", [{"fieldTypeId": "KhaosStatus", "value": "OK"},
                                                             {"fieldTypeId": "KhaosAvailable", "value": 7}])
    assert st == 200, (st, j)
    st, _, j = s.inriver("POST", "/query", {"systemCriteria": [{"type": "EntityTypeId", "value": "Item",
                                                                "operator": "Equal"}],
                                            "dataCriteria": [{"fieldTypeId": "ItemNumber", "value": "SKU-2",
                                                              "operator": "Equal"}]})
    assert j == {"count": 2, "entityIds": [2, 3]}, j
    st, _, j = s.inriver("POST", "/query", {"systemCriteria": [{"type": "LastModified", "operator": "GreaterThan",
                                                                "value": "2000-01-01T00:00:00.000Z"}]})
    assert j["count"] == 4, j
    assert s.inriver("POST", "/query", {"systemCriteria": [{"type": "Bogus", "operator": "Equal", "value": "x"}]})[0] == 400
    st, _, j = s.inriver("POST", "/entities:mapuniquevalues", {"fieldTypeId": "ItemNumber",
                                                                "uniqueValues": ["SKU-1", "SKU-2", "SKU-9"]})
    assert j == {"SKU-1": 1, "SKU-2": [2, 3]}, j
    assert s.inriver("POST", "/entities:mapuniquevalues", {"fieldTypeId": "ItemNumber",
                                                            "uniqueValues": ["x"] * 1000})[0] == 400
    st, _, model = s.inriver("GET", "/entities:getempty?entityTypeId=Item")
    assert st == 200 and {"fieldTypeId": "ItemNumber", "value": None} in model["fieldValues"], model
    assert {"fieldTypeId": "ItemDescription", "value": ""} in model["fieldValues"], model  # a default
    for fv in model["fieldValues"]:
        if fv["fieldTypeId"] == "ItemNumber":
            fv["value"] = "SKU-NEW"
    st, _, j = s.inriver("POST", "/entities:createnew", model)
    assert st == 200 and j["entityId"] == 5 and j["summary"]["id"] == 5, j
    st, _, _ = s.request("POST", "/_sim/inriver/entities/2/delete")
    assert st == 204
    assert s.inriver("GET", "/entities/2/summary")[0] == 404
    ir = s.state()["inriver"]
    assert ir["entities_count"] == 4 and [e["id"] for e in ir["entities"]] == [1, 3, 4, 5]
    assert ir["entities"][0]["fields"] == {"ItemNumber": "SKU-1", "ItemName": "Shoe", "KhaosStatus": "OK",
                                           "KhaosAvailable": 7}
    assert ir["field_writes"] == [
        {"entity_id": 1, "field_type_id": "KhaosStatus", "via": "put", "default": False},
        {"entity_id": 1, "field_type_id": "KhaosAvailable", "via": "put", "default": False},
        {"entity_id": 5, "field_type_id": "ItemNumber", "via": "createnew", "default": False},
        {"entity_id": 5, "field_type_id": "ItemDescription", "via": "createnew", "default": True}], ir
    assert ir["puts"] == 1 and ir["field_writes_count"] == 4
    assert ir["entities"][3]["fields"] == {"ItemNumber": "SKU-NEW", "ItemDescription": ""}, ir["entities"][3]
    # a person's edit in inriver's UI: the entity changes, no field write is recorded, modifiedDate moves
    before = s.inriver("GET", "/entities/1/summary")[2]["modifiedDate"]
    time.sleep(1.05)  # modifiedDate has whole seconds
    st, _, j = s.json("POST", "/_sim/inriver/entities/1/fields", {"fields": {"KhaosStatus": "HAND", "ItemName": None}})
    assert st == 200 and j == {"id": 1, "fields": {"ItemNumber": "SKU-1", "KhaosStatus": "HAND",
                                                   "KhaosAvailable": 7}}, (st, j)
    assert s.inriver("GET", "/entities/1/summary")[2]["modifiedDate"] > before
    assert s.json("POST", "/_sim/inriver/entities/1/fields", {"fields": {"KhaosAvailable": "x"}})[0] == 400
    assert s.json("POST", "/_sim/inriver/entities/1/fields", {"fields": {}})[0] == 400
    assert s.json("POST", "/_sim/inriver/entities/99/fields", {"fields": {"ItemName": "x"}})[0] == 404
    assert s.state()["inriver"]["field_writes_count"] == 4
    s.faults(system="inriver", rate_limit_rate=1.0, retry_after_s=7)
    st, hd, _ = s.inriver("GET", "/entities/1/summary")
    assert st == 429 and hd.get("Retry-After") == "7", (st, dict(hd))


@test
def requests_log(s):
    oid = s.order()
    s.mirakl("GET", "/api/orders?start_update_date=2024-01-01T00:00:00%2B00:00&max=5")
    s.accept(oid, [(oid + "-1", True)])
    s.soap("GetStockList", {"DateType": "0", "DateValue": ""})
    reqs = s.requests("mirakl")
    assert len(reqs) == 2
    seq = reqs[0].pop("seq")
    reply = json.loads(reqs[0].pop("reply_body"))
    assert reqs[0] == {"method": "GET", "path": "/mirakl/api/orders",
                       "query": "start_update_date=2024-01-01T00:00:00%2B00:00&max=5",
                       "content_type": "", "body": "", "reply_status": 200}, reqs[0]
    assert reply["total_count"] == 1 and reply["orders"][0]["order_id"] == oid, reply
    assert reqs[1]["seq"] > seq  # one sequence across systems: the order of calls
    assert reqs[1]["method"] == "PUT" and reqs[1]["path"] == "/mirakl/api/orders/%s/accept" % oid
    assert reqs[1]["content_type"] == "application/json"
    assert json.loads(reqs[1]["body"]) == {"order_lines": [{"id": oid + "-1", "accepted": True}]}
    assert MIRAKL_KEY not in json.dumps(reqs)
    last = s.requests("mirakl", limit=1)
    assert last == reqs[1:]
    k = s.requests("khaos")
    assert len(k) == 1 and "GetStockList" in k[0]["body"] and k[0]["content_type"].startswith("text/xml")
    assert base64.b64encode(("%s:%s" % (KHAOS_USER, KHAOS_PASS)).encode()).decode() not in json.dumps(k)
    st, _, _ = s.request("POST", "/inriver/api/v1.0.0/query", "{}")
    assert st == 401  # no X-inRiver-APIKey (--inriver-key is set): still logged
    assert s.requests("inriver")[0]["path"] == "/inriver/api/v1.0.0/query"
    assert s.requests("inriver")[0]["reply_status"] == 401
    assert s.requests("inriver")[0]["seq"] > k[0]["seq"] > reqs[1]["seq"]
    for q in ("", "?system=sap", "?system=mirakl&limit=0", "?system=mirakl&limit=1001"):
        st, _, j = s.json("GET", "/_sim/requests" + q)
        assert st == 400, q
    st, _, j = s.json("GET", "/nope")
    assert st == 404


@test
def requests_ring_buffer(s):
    conn = http.client.HTTPConnection(s.host, s.port, timeout=10)
    for i in range(1005):
        conn.request("GET", "/mirakl/api/orders/R%d" % i, headers={"Authorization": MIRAKL_KEY})
        r = conn.getresponse()
        r.read()
        assert r.status == 404
    conn.close()
    reqs = s.requests("mirakl", limit=1000)
    assert len(reqs) == 1000
    assert reqs[0]["path"] == "/mirakl/api/orders/R5" and reqs[-1]["path"] == "/mirakl/api/orders/R1004"
    assert s.state()["calls"]["mirakl"] == 1005
    assert len(s.requests("mirakl")) == 100  # default limit


@test
def large_body_rejected(s):
    st, _, j = s.json("POST", "/_sim/mirakl/orders", "x" * (8 * 1024 * 1024 + 10),
                      headers={"Content-Type": "application/json"})
    assert st == 413


def sigterm_while_holding(binary):
    sim = Sim(binary)
    try:
        sim.faults(system="khaos", latency_ms=60000)
        th = threading.Thread(target=lambda: _quiet(lambda: sim.soap("GetStockList", {"DateType": "0", "DateValue": ""},
                                                                     timeout=30)))
        th.start()
        time.sleep(0.3)
        t = time.time()
        sim.proc.send_signal(signal.SIGTERM)
        rc = sim.proc.wait(10)
        assert rc == 0 and time.time() - t < 5, rc
        th.join(10)
    finally:
        sim.stop()


def _quiet(fn):
    try:
        fn()
    except Exception:
        pass


# ---------------------------------------------------------------- alerts (section 9)

class Smtp:
    """A raw SMTP client: one line out, the reply's lines back."""

    def __init__(self, port):
        import socket
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            ln = self.f.readline().decode().rstrip("\r\n")
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                return lines

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        self.f.close()
        self.sock.close()


def alerts_sinks(binary):
    s = Sim(binary, ("--smtp-listen", "127.0.0.1:0"))
    try:
        line, deadline = "", time.time() + 5
        while not line and time.time() < deadline:
            line = next((ln for ln in list(s.stderr) if "smtp listening on smtp://" in ln), "")
            time.sleep(0.02)
        assert line, s.stderr
        port = int(line.strip().rsplit(":", 1)[1])
        # the webhook catcher
        st, _, body = s.request("POST", "/alerts/services/T/B/X", {"text": "hello"})
        assert st == 200 and body == b"ok", (st, body)
        st, _, _ = s.request("GET", "/alerts/services/T/B/X")
        assert st == 405, st
        st, _, j = s.json("GET", "/_sim/alerts")
        assert j["webhooks"] == [{"path": "/services/T/B/X", "content_type": "application/json",
                                  "body": {"text": "hello"}}], j
        s.json("POST", "/_sim/faults", {"system": "alerts", "error_rate": 1, "status": 503})
        st, _, _ = s.request("POST", "/alerts/x", {"text": "lost"})
        assert st == 503 and len(s.json("GET", "/_sim/alerts")[2]["webhooks"]) == 1, st
        # an SMTP conversation
        c = Smtp(port)
        assert c.reply()[0].startswith("220 ")
        assert c.cmd("RCPT TO:<x@y.z>")[0].startswith("503 ")
        ehlo = c.cmd("EHLO client.example")
        assert ehlo[0].startswith("250-") and "250-AUTH PLAIN" in ehlo and ehlo[-1].startswith("250 "), ehlo
        auth = base64.b64encode(b"\0kcgate\0secret-pw").decode()
        assert c.cmd("AUTH PLAIN " + auth)[0].startswith("235 ")
        assert c.cmd("DATA")[0].startswith("503 ")
        assert c.cmd("MAIL FROM:<alerts@shop.example> SIZE=100")[0].startswith("250 ")
        assert c.cmd("RCPT TO:nobracket@x")[0].startswith("501 ")
        assert c.cmd("RCPT TO:<a@x.example>")[0].startswith("250 ")
        assert c.cmd("RCPT TO:<b@x.example>")[0].startswith("250 ")
        assert c.cmd("DATA")[0].startswith("354 ")
        assert c.cmd("Subject: t\r\n\r\n..leading dot\r\nbody\r\n.")[0].startswith("250 ")
        assert c.cmd("NOOP")[0].startswith("250 ")
        assert c.cmd("VRFY x")[0].startswith("502 ")
        assert c.cmd("QUIT")[0].startswith("221 ")
        c.close()
        j = s.json("GET", "/_sim/alerts")[2]
        m = j["mails"]
        assert len(m) == 1 and m[0]["from"] == "alerts@shop.example" and m[0]["rcpt"] == ["a@x.example", "b@x.example"] \
            and m[0]["auth_user"] == "kcgate" and m[0]["helo"] == "client.example" \
            and m[0]["data"] == "Subject: t\r\n\r\n.leading dot\r\nbody\r\n" and "secret-pw" not in json.dumps(j), j
        # a fault: MAIL FROM refused with its status, nothing kept
        s.json("POST", "/_sim/faults", {"system": "smtp", "error_rate": 1, "status": 554})
        c = Smtp(port)
        c.reply()
        c.cmd("HELO x")
        assert c.cmd("MAIL FROM:<a@b.c>")[0].startswith("554 ")
        c.cmd("QUIT")
        c.close()
        j = s.json("GET", "/_sim/alerts")[2]
        assert len(j["mails"]) == 1 and j["smtp"] == {"connections": 2, "refused": 1}, j
        s.reset()
        assert s.json("GET", "/_sim/alerts")[2] == {"webhooks": [], "mails": [],
                                                    "smtp": {"connections": 0, "refused": 0}}
    finally:
        s.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", required=True, help="path to the kcgate-sim binary")
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    args = ap.parse_args()
    binary = os.path.abspath(args.sim)
    passed = failed = 0
    sim = Sim(binary)
    try:
        for fn in TESTS:
            if args.k not in fn.__name__:
                continue
            try:
                sim.reset()
                fn(sim)
                passed += 1
                print("ok   %s" % fn.__name__)
            except Exception:
                failed += 1
                print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()))
        rc = sim.stop()
        if rc == 0:
            passed += 1
            print("ok   sigterm_exit_0")
        else:
            failed += 1
            print("FAIL sigterm_exit_0: exit status %r\n%s" % (rc, "".join(sim.stderr)))
    finally:
        sim.stop()
    for fn in (alerts_sinks, sigterm_while_holding):  # each on a sim of its own
        if args.k not in fn.__name__:
            continue
        try:
            fn(binary)
            passed += 1
            print("ok   %s" % fn.__name__)
        except Exception:
            failed += 1
            print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
