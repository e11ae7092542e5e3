// console.js: the kcgate operations console. Plain DOM, no framework.
//
// Every view reads the admin API that scripts use (docs/api.md), with the
// session cookie the sign-in set; every state-changing call carries the
// session's CSRF token (X-CSRF-Token), fetched from /console/api/whoami
// and kept in this closure only: nothing goes to localStorage,
// sessionStorage or the URL. Data is put into the page with textContent,
// never as HTML. A route a flow adds (stock, inriver) answers 404 when that
// flow is not on this gateway: the page says so and shows the rest.
"use strict";

(function () {
  let csrf = null;
  let runbook = null; // kind -> row of GET /admin/runbook
  const main = document.getElementById("page");
  let generation = 0; // a newer route() makes an older one's view moot
  const flash = document.getElementById("flash");

  // ------------------------------------------------------------ helpers

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  function say(text, bad) {
    flash.textContent = text;
    flash.className = bad ? "flash bad" : "flash";
    flash.hidden = false;
    clearTimeout(say.t);
    say.t = setTimeout(() => { flash.hidden = true; }, 6000);
  }

  class NotHere extends Error {}

  // One admin API call. 401: the session is over, back to the sign-in page.
  async function api(method, path) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const r = await fetch(path, { method, headers, credentials: "same-origin" });
    if (r.status === 401) {
      location.replace("/console/");
      throw new Error("signed out");
    }
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (r.status === 404 && body && body.error === "not_found" && /^no such path/.test(body.message || "")) {
      throw new NotHere(path);
    }
    if (!r.ok) {
      const err = new Error((body && body.message) || ("HTTP " + r.status));
      err.status = r.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  // A call whose route a flow may not have: null (and a note) when absent.
  async function optional(path, into, what) {
    try {
      return await api("GET", path);
    } catch (e) {
      if (e instanceof NotHere) {
        into.append(el("p", { class: "note" }, what + " is not available on this gateway (",
          el("code", {}, path.split("?")[0]), " answers 404: that flow is not enabled or not installed)."));
        return null;
      }
      into.append(el("p", { class: "error" }, what + ": " + e.message));
      return null;
    }
  }

  function when(iso) {
    if (!iso) return "never";
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function age(s) {
    if (s === null || s === undefined) return "n/a";
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    if (s < 172800) return Math.round(s / 3600) + " h";
    return Math.round(s / 86400) + " days";
  }

  function badge(status, text) {
    return el("span", { class: "badge " + status }, text || status);
  }

  function table(head, rows, cls) {
    return el("table", { class: cls || "" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : [el("tr", {}, el("td", { colspan: head.length, class: "muted" }, "none"))]));
  }

  // Any JSON value as nested definition lists (shapes other flows own).
  function show(v) {
    if (v === null || v === undefined) return el("span", { class: "muted" }, "none");
    if (Array.isArray(v)) {
      if (!v.length) return el("span", { class: "muted" }, "none");
      return el("ul", { class: "plain" }, v.map((x) => el("li", {}, show(x))));
    }
    if (typeof v === "object") {
      return el("dl", { class: "kv" }, Object.entries(v).map(([k, x]) => [el("dt", {}, k), el("dd", {}, show(x))]));
    }
    return String(v);
  }

  function link(hash, text) {
    return el("a", { href: hash }, text);
  }

  // The page a record concerns, from an exception's kind and subject.
  function subjectLink(kind, subject) {
    const row = runbook && runbook[kind];
    const skuKinds = ["unknown_sku", "ghost_sku", "stock_drift", "stock_import_line", "identifier_drift",
      "duplicate_sku", "unlinked_sku", "archive_in_khaos"];
    if (kind === "dead_job") return link("#/jobs?job=" + encodeURIComponent(subject), "job " + subject);
    if (kind === "unparseable_webhook" || kind === "webhook_truncated")
      return link("#/jobs?event=" + encodeURIComponent(subject), "event " + subject);
    if (skuKinds.includes(kind)) return link("#/skus?code=" + encodeURIComponent(subject), "SKU " + subject);
    if (row && (row.flow === "orders" || row.flow === "despatch"))
      return link("#/orders?id=" + encodeURIComponent(subject), "order " + subject);
    return subject;
  }

  function query() {
    const i = location.hash.indexOf("?");
    return new URLSearchParams(i < 0 ? "" : location.hash.slice(i + 1));
  }

  async function loadRunbook() {
    if (runbook) return;
    const rb = await api("GET", "/admin/runbook");
    runbook = {};
    for (const k of rb.kinds) runbook[k.kind] = k;
    runbook._teams = rb.teams;
  }

  // ------------------------------------------------------------ actions

  // One action of a button: POST @path, then @done(answer) and a fresh view.
  async function act(button, path, done, what) {
    button.disabled = true;
    try {
      say(done(await api("POST", path)));
      route();
    } catch (e) {
      button.disabled = false;
      say(what + " failed: " + e.message, true);
    }
  }

  function resolve(id, button) {
    return act(button, "/admin/exceptions/" + encodeURIComponent(id) + "/resolve",
      () => "Exception " + id + " resolved.", "Resolve");
  }

  function retry(id, button) {
    return act(button, "/admin/jobs/" + encodeURIComponent(id) + "/retry",
      (j) => "Job " + id + " is " + (j.state || "pending") + " again, due now.", "Retry");
  }

  async function replay(id, button) {
    button.disabled = true;
    try {
      await api("POST", "/admin/events/" + encodeURIComponent(id) + "/replay");
      say("Event " + id + " replayed.");
    } catch (e) {
      say("Replay failed: " + e.message, true);
    }
    button.disabled = false;
  }

  // ------------------------------------------------------------ exception card

  function whatToDo(kind) {
    const row = runbook && runbook[kind];
    if (!row) {
      return el("div", { class: "todo" }, el("p", { class: "error" },
        "The runbook has no entry for " + kind + ": tell the kcgate maintainers."));
    }
    return el("div", { class: "todo" },
      el("p", {}, el("strong", {}, "What it means: "), row.meaning),
      el("p", {}, el("strong", {}, "What to do (" + row.owner + "):")),
      el("ol", {}, row.steps.map((s) => el("li", {}, s))),
      el("p", { class: "muted" }, "Resolves by itself when: " + row.resolves));
  }

  function exceptionCard(x, withTodo) {
    const open = !x.resolved_at;
    return el("article", { class: "card exc " + x.severity, "data-kind": x.kind, "data-id": x.id },
      el("header", {},
        badge(x.severity === "critical" ? "red" : x.severity === "warning" ? "amber" : "ok", x.severity),
        el("strong", {}, " " + x.kind + " "),
        el("span", {}, "· ", subjectLink(x.kind, x.subject)),
        el("span", { class: "spacer" }),
        el("span", { class: "muted" }, "system at fault: ", el("b", {}, x.system), " · team: ", el("b", {}, x.owner))),
      el("p", { class: "message" }, x.message),
      el("p", { class: "muted" }, "first seen " + when(x.first_seen) + " · last seen " + when(x.last_seen) +
        " · " + x.count + " time(s)" + (open ? "" : " · resolved " + when(x.resolved_at) + " (" + x.resolved_by + ")")),
      withTodo ? whatToDo(x.kind) : null,
      open ? resolveButton(x) : null);
  }

  // A person resolves kinds the runbook says resolve by hand; the others
  // resolve themselves once the cause is gone, and marking one resolved
  // early only hides it until it is raised again.
  function resolveButton(x) {
    const row = runbook && runbook[x.kind];
    const byHand = row && /by hand/i.test(row.resolves);
    return el("button", {
      type: "button", class: byHand ? "resolve" : "resolve quiet-dark",
      title: byHand ? "Resolve once fixed" : "It resolves by itself when: " + (row ? row.resolves : "?") + " Marking it resolved now hides it until it is raised again.",
      onclick: (ev) => resolve(x.id, ev.target),
    }, byHand ? "Resolve" : "Mark resolved");
  }

  // ------------------------------------------------------------ pages

  // The sync tile: the oldest last success of the enabled polls.
  function syncText(polls) {
    const on = polls.filter((p) => p.enabled);
    if (!on.length) return "no poll enabled";
    if (on.some((p) => p.age_s === null)) return "a poll has not succeeded yet";
    return "oldest poll " + age(Math.max(...on.map((p) => p.age_s))) + " ago";
  }

  async function overview(page) {
    const ov = await api("GET", "/admin/overview");
    const out = [el("h1", {}, "Overview"), el("p", { class: "muted" }, "As of " + when(ov.now) + ". Red and amber name the threshold crossed.")];

    const held = await api("GET", "/admin/orders?state=held&limit=100").catch(() => null);
    const open = await api("GET", "/admin/exceptions?open=1&limit=100");
    // The criticals on their own: never hidden behind 100 newer warnings.
    const crit = (await api("GET", "/admin/exceptions?open=1&severity=critical&limit=100")).exceptions;
    const nCrit = Object.values(ov.exceptions.by_team || {}).reduce((n, t) => n + (t.critical || 0), 0);

    // What needs a person now.
    const worst = (xs) => xs.includes("red") ? "red" : xs.includes("amber") ? "amber" : "ok";
    const tile = (title, status, text, hash) => el("a", { class: "tile " + status, href: hash },
      el("span", { class: "tile-title" }, title), el("span", { class: "tile-value" }, text));
    const deadJobs = ov.lanes.reduce((n, l) => n + l.dead, 0);
    out.push(el("div", { class: "tiles" },
      tile("Lanes", worst(ov.lanes.map((l) => l.status)), deadJobs ? deadJobs + " dead job(s)" : ov.lanes.some((l) => l.breaker_open) ? "breaker open" : "flowing", "#/jobs"),
      tile("Sync", worst(ov.polls.map((p) => p.status)), syncText(ov.polls), "#/overview"),
      tile("Open exceptions", ov.exceptions.status, String(ov.exceptions.open) + (nCrit ? " (" + nCrit + " critical)" : ""), "#/exceptions"),
      tile("Held orders", held && held.orders.length ? "amber" : "ok", held ? String(held.orders.length) : "n/a", "#/orders?state=held")));
    out.push(el("section", { id: "attention" }, el("h2", {}, "Needs attention"),
      open.exceptions.length || crit.length
        ? el("div", {}, (crit.length ? crit : open.exceptions).slice(0, 5).map((x) => exceptionCard(x, true)),
          ov.exceptions.open > 5 ? el("p", {}, link("#/exceptions", "All " + ov.exceptions.open + " open exceptions")) : null)
        : el("p", {}, badge("ok", "ok"), " No open exception.")));

    out.push(el("section", { id: "held" }, el("h2", {}, "Held orders"),
      held ? table(["order", "held on", "first seen"], held.orders.map((o) => el("tr", {},
        el("td", {}, link("#/orders?id=" + encodeURIComponent(o.order_id), o.order_id)),
        el("td", {}, (o.held_skus || []).join(", ") || (o.hold_reason || "see its exceptions")),
        el("td", {}, when(o.first_seen))))) : el("p", { class: "note" }, "The order flow is not enabled on this gateway.")));

    const ex = ov.exceptions;
    out.push(el("section", {}, el("h2", {}, "Open exceptions by team ", badge(ex.status, ex.status)),
      el("p", { class: "muted" }, ex.threshold),
      table(["team", "critical", "warning", "info"], Object.entries(ex.by_team).map(([team, c]) => el("tr", {},
        el("td", {}, link("#/exceptions?owner=" + team, team)),
        el("td", { class: c.critical ? "red" : "" }, c.critical), el("td", { class: c.warning ? "amber" : "" }, c.warning),
        el("td", {}, c.info))))));

    out.push(el("section", {}, el("h2", {}, "Lanes"),
      table(["lane", "status", "breaker", "pending", "running", "dead", "oldest due job"], ov.lanes.map((l) => el("tr", { "data-lane": l.lane },
        el("td", {}, l.lane), el("td", { title: l.threshold }, badge(l.status)),
        el("td", {}, l.breaker_open ? "open" : "closed"), el("td", {}, l.pending), el("td", {}, l.running),
        el("td", {}, l.dead ? link("#/jobs", String(l.dead)) : "0"), el("td", {}, age(l.oldest_due_s))))),
      el("p", { class: "muted" }, ov.lanes.length ? ov.lanes[0].threshold : "")));

    const sync = el("section", { id: "sync" }, el("h2", {}, "Sync health"),
      table(["poll", "status", "last success", "age", "every", "threshold"], ov.polls.map((p) => el("tr", {},
        el("td", {}, p.name), el("td", {}, badge(p.status)), el("td", {}, when(p.last_success)),
        el("td", {}, age(p.age_s)), el("td", {}, age(p.interval_s)), el("td", { class: "muted" }, p.threshold)))));
    out.push(sync);
    page.replaceChildren(...out);

    const stock = await optional("/admin/sync", sync, "Stock sync");
    if (stock) {
      const li = stock.last_import;
      sync.append(el("h3", {}, "Stock to Mirakl ", badge(stock.stale ? "red" : "ok", stock.stale ? "stale" : "fresh")),
        el("p", { class: "muted" }, "red: stock_sync_stale open ([stock] stale_after_s crossed)"),
        table(["Khaos stock poll age", "stock import age", "SKUs waiting", "last import"], [el("tr", {},
          el("td", {}, age(stock.poll_age_s)), el("td", {}, age(stock.import_age_s)), el("td", {}, stock.dirty),
          el("td", {}, li ? (li.status + ": " + li.lines_in_success + " lines ok, " + li.lines_in_error + " in error, " + when(li.finished_ms ? new Date(li.finished_ms).toISOString() : null)) : "none yet"))]));
    }
  }

  async function exceptions(page) {
    await loadRunbook();
    const q = query();
    const f = {
      owner: q.get("owner") || "", kind: q.get("kind") || "", system: q.get("system") || "",
      severity: q.get("severity") || "", open: q.get("open") || "1",
    };
    const params = new URLSearchParams({ limit: "500" });
    if (f.open !== "any") params.set("open", f.open);
    if (f.kind) params.set("kind", f.kind);
    if (f.owner) params.set("owner", f.owner);
    const all = (await api("GET", "/admin/exceptions?" + params)).exceptions;
    const list = all.filter((x) => (!f.system || x.system === f.system) && (!f.severity || x.severity === f.severity));

    const kinds = Object.keys(runbook).filter((k) => k !== "_teams").sort();
    // the systems: the peers, kcgate, and any other a listed exception names (a dead job's lane)
    const systems = [...new Set(["khaos", "mirakl", "inriver", "kcgate", ...all.map((x) => x.system), f.system].filter(Boolean))].sort();
    function select(name, label, options) {
      return el("label", {}, label + " ", el("select", { name, onchange: apply },
        options.map(([v, t]) => el("option", { value: v, selected: f[name] === v }, t))));
    }
    function apply() {
      const p = new URLSearchParams();
      for (const s of form.querySelectorAll("select")) if (s.value) p.set(s.name, s.value);
      location.hash = "#/exceptions?" + p;
    }
    const form = el("form", { class: "filters", onsubmit: (e) => e.preventDefault() },
      select("owner", "Team", [["", "any"], ...runbook._teams.map((t) => [t, t])]),
      select("kind", "Kind", [["", "any"], ...kinds.map((k) => [k, k])]),
      select("system", "System at fault", [["", "any"], ...systems.map((x) => [x, x])]),
      select("severity", "Severity", [["", "any"], ["critical", "critical"], ["warning", "warning"], ["info", "info"]]),
      select("open", "State", [["1", "open"], ["0", "resolved"], ["any", "open and resolved"]]));
    page.replaceChildren(el("h1", {}, "Exceptions"), form,
      el("p", { class: "muted" }, list.length + " exception(s)"),
      el("div", { id: "exceptions" }, list.map((x) => exceptionCard(x, true))));
  }

  const ORDER_STATES = ["seen", "held", "accepted", "booked", "shipped", "closed", "refused", "auto_refused", "cancelled"];

  async function orders(page) {
    const q = query();
    const id = q.get("id");
    const out = [el("h1", {}, "Orders")];
    const find = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); location.hash = "#/orders?id=" + encodeURIComponent(e.target.id_.value.trim()); } },
      el("label", {}, "Order id ", el("input", { name: "id_", value: id || "", placeholder: "e.g. SIM000003-A" })),
      el("button", { type: "submit" }, "Show"));
    out.push(find);
    page.replaceChildren(...out);
    if (id) {
      await orderDetail(page, id);
      return;
    }
    let counts;
    try {
      counts = await Promise.all(ORDER_STATES.map((s) => api("GET", "/admin/orders?limit=1000&state=" + s)));
    } catch (e) {
      if (e instanceof NotHere) { page.append(el("p", { class: "note" }, "The order flow is not available on this gateway.")); return; }
      throw e;
    }
    page.append(el("h2", {}, "In flight by state"),
      table(ORDER_STATES, [el("tr", {}, counts.map((c, i) => el("td", {}, link("#/orders?state=" + ORDER_STATES[i], String(c.orders.length) + (c.orders.length >= 1000 ? "+" : "")))))]));
    const state = q.get("state") || "held";
    const rows = counts[ORDER_STATES.indexOf(state)] ? counts[ORDER_STATES.indexOf(state)].orders : [];
    page.append(el("h2", {}, "Orders " + state),
      table(["order", "Mirakl state", "Khaos sales order", "held on", "stuck job", "updated"], rows.map((o) => el("tr", {},
        el("td", {}, link("#/orders?id=" + encodeURIComponent(o.order_id), o.order_id)),
        el("td", {}, o.mirakl_state || ""), el("td", {}, o.sales_order_code || "none"),
        el("td", {}, (o.held_skus || []).join(", ")),
        el("td", {}, o.stuck_job ? link("#/jobs?job=" + encodeURIComponent(o.stuck_job), o.stuck_job) : ""),
        el("td", {}, when(o.updated_at))))));
  }

  async function orderDetail(page, id) {
    let o, tl;
    try {
      o = await api("GET", "/admin/orders/" + encodeURIComponent(id));
      tl = await api("GET", "/admin/orders/" + encodeURIComponent(id) + "/timeline");
    } catch (e) {
      page.append(el("p", { class: "error" }, e.status === 404 ? "No order " + id + "." : e.message));
      return;
    }
    const m = o.order || {};
    page.append(el("h2", {}, "Order " + id + " ", badge(o.state === "held" ? "amber" : "ok", o.state)),
      el("div", { class: "sides" },
        el("section", { class: "card" }, el("h3", {}, "Khaos"), show({
          sales_order_code: o.sales_order_code || "not booked", booked_at: o.booked_at || null,
          tracking: o.tracking || null, stuck_job: o.stuck_job || null })),
        el("section", { class: "card" }, el("h3", {}, "Mirakl"), show({
          order_state: o.mirakl_state || m.order_state || null, acceptance_deadline: m.acceptance_decision_date || o.deadline_ms || null,
          shipping_deadline: m.shipping_deadline || null, lines: (m.order_lines || []).map((l) => (l.offer_sku || "?") + " × " + (l.quantity || 1)),
          held_skus: o.held_skus || null, withdrawn_lines: o.withdrawn_lines || null }))),
      el("h3", {}, "Timeline"),
      table(["when", "what", "cause"], tl.timeline.map((t) => el("tr", {},
        el("td", { class: "nowrap" }, when(t.at)),
        el("td", {}, t.ref_kind === "job" ? link("#/jobs?job=" + encodeURIComponent(t.ref), t.what) : t.what),
        el("td", {}, t.cause || "")))));
  }

  async function skus(page) {
    const q = query();
    const code = q.get("code");
    page.replaceChildren(el("h1", {}, "SKUs"),
      el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); location.hash = "#/skus?code=" + encodeURIComponent(e.target.code.value.trim()); } },
        el("label", {}, "Stock code ", el("input", { name: "code", value: code || "", placeholder: "e.g. SKU-NEW" })),
        el("button", { type: "submit" }, "Show")));
    if (code) {
      const one = el("section", { class: "sides" });
      page.append(el("h2", {}, "SKU " + code), one);
      const pim = el("section", { class: "card" }, el("h3", {}, "Khaos, inriver and Mirakl (inriver flow)"));
      const stock = el("section", { class: "card" }, el("h3", {}, "Stock to Mirakl (stock flow)"));
      one.append(pim, stock);
      const a = await optional("/admin/skus/" + encodeURIComponent(code), pim, "The inriver flow's SKU view");
      if (a) pim.append(show(a));
      const b = await optional("/admin/stock/" + encodeURIComponent(code), stock, "The stock flow's SKU view");
      if (b) stock.append(show(b));
      const exc = (await api("GET", "/admin/exceptions?limit=1000")).exceptions.filter((x) => x.subject === code);
      await loadRunbook();
      page.append(el("h3", {}, "Exceptions about " + code), el("div", {}, exc.map((x) => exceptionCard(x, true))));
      if (!exc.length) page.lastChild.append(el("p", { class: "muted" }, "none"));
    }
    const probs = el("section", {}, el("h2", {}, "Every SKU with an open problem"));
    page.append(probs);
    const p = await optional("/admin/skus?problem=1", probs, "The SKU audit (inriver flow)");
    if (p) {
      probs.append(el("p", {}, "Last mapping audit: ", p.last_audit ? show(p.last_audit) : "none yet", " ",
        el("button", { type: "button", class: "audit", onclick: (ev) => act(ev.target, "/admin/audit/skus",
          (j) => "Mapping audit queued (job " + j.job_id + ").", "Audit") }, "Run the mapping audit now")));
      probs.append(table(["SKU", "problems"], p.skus.map((s) => el("tr", {},
        el("td", {}, link("#/skus?code=" + encodeURIComponent(s.sku), s.sku)),
        el("td", {}, s.problems.map((x) => x.kind + " (" + x.owner + ")").join(", "))))));
    } else {
      // the exception register has the same answer for the kinds about a SKU
      await loadRunbook();
      const open = (await api("GET", "/admin/exceptions?open=1&limit=1000")).exceptions
        .filter((x) => runbook[x.kind] && ["unknown_sku", "ghost_sku", "stock_drift", "stock_import_line", "identifier_drift", "duplicate_sku", "unlinked_sku", "archive_in_khaos"].includes(x.kind));
      probs.append(el("p", { class: "muted" }, "From the exception register:"),
        table(["SKU", "problem", "system at fault", "team"], open.map((x) => el("tr", {},
          el("td", {}, link("#/skus?code=" + encodeURIComponent(x.subject), x.subject)),
          el("td", {}, x.kind), el("td", {}, x.system), el("td", {}, x.owner)))));
    }
  }

  async function jobs(page) {
    const q = query();
    const out = [el("h1", {}, "Jobs and events")];
    const jobId = q.get("job");
    if (jobId) {
      try {
        const j = await api("GET", "/admin/jobs/" + encodeURIComponent(jobId));
        out.push(el("section", { class: "card" }, el("h2", {}, "Job " + jobId + " ", badge(j.state === "dead" ? "red" : "ok", j.state)),
          show(j), j.state === "dead" ? el("button", { type: "button", class: "retry", onclick: (ev) => retry(j.id, ev.target) }, "Retry") : null));
      } catch (e) {
        out.push(el("p", { class: "error" }, "Job " + jobId + ": " + e.message));
      }
    }
    const dead = (await api("GET", "/admin/jobs?state=dead&limit=200")).jobs;
    out.push(el("h2", {}, "Dead jobs ", badge(dead.length ? "red" : "ok", String(dead.length))),
      table(["job", "lane", "kind", "subject", "attempts", "last answer", "died", ""], dead.map((j) => el("tr", { "data-job": j.id },
        el("td", {}, link("#/jobs?job=" + encodeURIComponent(j.id), j.id)), el("td", {}, j.lane), el("td", {}, j.kind),
        el("td", {}, j.subject), el("td", {}, j.attempts),
        el("td", {}, (j.last_status ? "HTTP " + j.last_status + ": " : "") + (j.last_error || "")),
        el("td", { class: "nowrap" }, when(j.updated_at)),
        el("td", {}, el("button", { type: "button", class: "retry", onclick: (ev) => retry(j.id, ev.target) }, "Retry"))))));

    const evId = q.get("event");
    out.push(el("h2", {}, "Event by id"),
      el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); location.hash = "#/jobs?event=" + encodeURIComponent(e.target.ev.value.trim()); } },
        el("label", {}, "Event id ", el("input", { name: "ev", value: evId || "" })), el("button", { type: "submit" }, "Show")));
    if (evId) {
      try {
        const ev = await api("GET", "/admin/events/" + encodeURIComponent(evId));
        out.push(el("section", { class: "card" }, show({ id: ev.id, source: ev.source, kind: ev.kind, received_at: ev.received_at, status: ev.status }),
          el("pre", {}, JSON.stringify(ev.body, null, 2)),
          el("button", { type: "button", class: "replay", onclick: (e) => replay(ev.id, e.target) }, "Replay")));
      } catch (e) {
        out.push(el("p", { class: "error" }, "Event " + evId + ": " + e.message));
      }
    }
    const recent = (await api("GET", "/admin/events?limit=20")).events;
    out.push(el("h2", {}, "Latest events"), table(["id", "source", "kind", "received"], recent.map((e) => el("tr", {},
      el("td", {}, link("#/jobs?event=" + encodeURIComponent(e.id), e.id)), el("td", {}, e.source), el("td", {}, e.kind),
      el("td", {}, when(e.received_at))))));
    page.replaceChildren(...out);
  }

  // ------------------------------------------------------------ router

  const pages = { overview, exceptions, orders, skus, jobs };

  async function route() {
    const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || "overview";
    const mine = ++generation;
    const view = el("div", { "data-page": name });
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === name);
    try {
      await loadRunbook();
      await (pages[name] || overview)(view);
    } catch (e) {
      if (e.message === "signed out") return;
      view.replaceChildren(el("p", { class: "error" }, "Could not load this page: " + e.message));
    }
    if (mine !== generation) return; // the user moved on meanwhile
    main.replaceChildren(view);
    document.getElementById("clock").textContent = "updated " + new Date().toLocaleTimeString();
  }

  async function start() {
    const r = await fetch("/console/api/whoami", { credentials: "same-origin" });
    if (!r.ok) { location.replace("/console/"); return; }
    csrf = (await r.json()).csrf;
    document.getElementById("refresh").addEventListener("click", route);
    document.getElementById("logout").addEventListener("click", async () => {
      try { await api("POST", "/console/logout"); } catch (e) { /* signed out either way */ }
      location.replace("/console/");
    });
    window.addEventListener("hashchange", route);
    route();
    setInterval(() => { if (!document.hidden && !document.querySelector("input:focus, select:focus")) route(); }, 30000);
  }

  start();
})();
