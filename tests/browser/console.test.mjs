// console.test.mjs: the console in a real browser (Debian's chromium through
// playwright-core), against the kcgate and kcgate-sim that run.py started.
// Run by run.py (meson test browser-console); node's own test runner.
//
// Environment: KCGATE_URL, KCGATE_TOKEN, HELD_ORDER, HELD_SKU, DEAD_JOB,
// KCGATE_CHROMIUM, SCREENSHOT_DIR.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(name + " is not set: run this through tests/browser/run.py");
  return v;
};
const URL_ = env("KCGATE_URL");
const TOKEN = env("KCGATE_TOKEN");
const HELD_ORDER = env("HELD_ORDER");
const HELD_SKU = env("HELD_SKU");
const DEAD_JOB = env("DEAD_JOB");
const SIM_URL = env("SIM_URL");
const DEAD_SKU = env("DEAD_SKU");
const KNOWN_SKU = env("KNOWN_SKU");

let context, page, profile;
const visited = []; // every URL the browser asked for

// A fresh profile each run (--user-data-dir, which playwright takes as the
// persistent context's directory).
before(async () => {
  profile = mkdtempSync(join(tmpdir(), "kcgate-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.KCGATE_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] || await context.newPage();
  page.on("request", (r) => visited.push(r.url()));
});

after(async () => {
  if (context) await context.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// The admin API as a script calls it (bearer token), to check what the browser did.
async function admin(path) {
  const r = await context.request.get(URL_ + path, { headers: { Authorization: "Bearer " + TOKEN } });
  assert.equal(r.status(), 200, path + " answered " + r.status());
  return r.json();
}

test("without a session /console/ is the sign-in page, and a wrong token is refused", async () => {
  await page.goto(URL_ + "/console/");
  await page.waitForSelector("form#signin");
  await page.fill("#token", "not-the-token-0123456789");
  await page.click("form#signin button");
  await page.waitForSelector("#signin-error:not([hidden])");
  assert.match(await page.textContent("#signin-error"), /not the admin token/);
  assert.equal(await page.inputValue("#token"), "", "the field is emptied");
  const r = await context.request.get(URL_ + "/admin/overview");
  assert.equal(r.status(), 401, "no session, no admin API");
});

test("signing in sets an HttpOnly, Secure, SameSite=Strict session cookie", async () => {
  await page.fill("#token", TOKEN);
  await page.click("form#signin button");
  await page.waitForSelector("#nav");
  const cookies = await context.cookies();
  const s = cookies.find((c) => c.name === "__Host-kcgate_session");
  assert.ok(s, "the session cookie is set: " + JSON.stringify(cookies.map((c) => c.name)));
  assert.equal(s.httpOnly, true);
  assert.equal(s.secure, true);
  assert.equal(s.sameSite, "Strict");
  assert.equal(s.path, "/");
  assert.ok(s.expires > Date.now() / 1000, "it expires");
  assert.match(s.value, /^[0-9a-f]{64}$/);
  assert.notEqual(s.value, TOKEN);
  assert.equal(await page.evaluate(() => document.cookie), "", "scripts cannot read it");
});

test("the Overview shows the held order, its unknown_sku exception with the fix, lanes and sync health", async () => {
  await page.goto(URL_ + "/console/#/overview");
  await page.waitForSelector("text=Sync health");
  const held = page.locator("section#held");
  await held.locator("a", { hasText: HELD_ORDER }).waitFor();
  assert.match(await held.textContent(), new RegExp(HELD_SKU));
  const card = page.locator(`article[data-kind="unknown_sku"]`, { hasText: HELD_SKU }).first();
  await card.waitFor();
  const rb = (await admin("/admin/runbook")).kinds.find((k) => k.kind === "unknown_sku");
  const text = await card.textContent();
  assert.ok(text.includes(rb.steps[0]), "the runbook's first step is on the card");
  assert.match(text, /system at fault: mirakl/);
  assert.match(text, /team: ecommerce/);
  // every lane is listed with its status and the threshold named
  for (const lane of ["mirakl", "khaos", "inriver", "alerts"])
    await page.locator(`tr[data-lane="${lane}"] .badge`).waitFor();
  assert.match(await page.textContent("main"), /oldest due job waiting over 300 s/);
  // the dead job turns the khaos lane red
  assert.equal((await page.textContent(`tr[data-lane="khaos"] .badge`)).trim().toLowerCase(), "red");
  assert.match(await page.textContent("main"), /Mirakl orders \(OR11\)/);
  // the stock flow is on: its sync ages and last import, not the "not available" note
  const sync = await page.textContent("#sync");
  assert.match(sync, /Stock to Mirakl/);
  assert.match(sync, /Khaos stock poll age/);
  assert.doesNotMatch(sync, /not available on this gateway/);
  await page.screenshot({ path: join(process.env.SCREENSHOT_DIR || tmpdir(), "overview.png"), fullPage: true });
});

test("the Exceptions page filters by kind, team, system at fault and severity, and shows what to do", async () => {
  await page.goto(URL_ + "/console/#/exceptions?kind=unknown_sku&owner=ecommerce");
  const card = page.locator(`#exceptions article[data-kind="unknown_sku"]`, { hasText: HELD_SKU }).first();
  await card.waitFor();
  const kinds = await page.locator("#exceptions article").evaluateAll((as) => as.map((a) => a.dataset.kind));
  assert.ok(kinds.length >= 1 && kinds.every((k) => k === "unknown_sku"), "only unknown_sku: " + kinds);
  assert.match(await card.textContent(), /What to do \(ecommerce\)/);
  assert.match(await card.textContent(), new RegExp("order " + HELD_ORDER + "|SKU " + HELD_SKU));
  // by system at fault and severity (filtered in the page: the API filters kind and team)
  await page.goto(URL_ + "/console/#/exceptions?system=khaos&severity=critical");
  await page.locator(`#exceptions article[data-kind="khaos_rejected"]`).first().waitFor();
  const texts = await page.locator("#exceptions article").allTextContents();
  assert.ok(texts.length >= 2 && texts.every((t) => /system at fault: khaos/.test(t) && /critical/i.test(t)),
    "only khaos, critical: " + texts.map((t) => t.slice(0, 60)));
  assert.equal(await page.locator(`#exceptions article[data-kind="unknown_sku"]`).count(), 0);
});

test("an exception is resolved from its card", async () => {
  await page.goto(URL_ + "/console/#/exceptions?kind=unknown_sku");
  const card = page.locator(`#exceptions article[data-kind="unknown_sku"]`, { hasText: HELD_SKU }).first();
  await card.waitFor();
  const id = await card.getAttribute("data-id");
  await card.locator("button.resolve").click();
  await page.waitForSelector(`#flash:has-text("${id} resolved")`);
  const all = (await admin("/admin/exceptions?open=0&kind=unknown_sku")).exceptions;
  const x = all.find((e) => e.id === id);
  assert.ok(x && x.resolved_at && x.resolved_by === "manual", "resolved by hand: " + JSON.stringify(x));
});

test("a dead job is retried from the Jobs page once its cause is fixed", async () => {
  // the fix: the stock item is back in Khaos (the sim's control API)
  const fix = await fetch(SIM_URL + "/_sim/khaos/stock", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ items: [{ code: DEAD_SKU, available: 100 }] }) });
  assert.equal(fix.status, 200);
  await page.goto(URL_ + "/console/#/jobs");
  const row = page.locator(`tr[data-job="${DEAD_JOB}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /order\.book/);
  await row.locator("button.retry").click();
  await page.waitForSelector(`#flash:has-text("Job ${DEAD_JOB} is")`);
  let j;
  for (let i = 0; i < 75; i++) { // the retried booking is done within 15 s
    j = await admin("/admin/jobs/" + DEAD_JOB);
    if (j.state === "done") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(j.state, "done", "the retried job booked the order: " + JSON.stringify(j));
});

test("an order's timeline and its Khaos and Mirakl sides", async () => {
  await page.goto(URL_ + "/console/#/orders?id=" + encodeURIComponent(HELD_ORDER));
  await page.waitForSelector("text=Timeline");
  const main = await page.textContent("main");
  assert.match(main, /first seen by kcgate/);
  assert.match(main, new RegExp("exception unknown_sku raised for " + HELD_SKU));
  assert.match(main, /Khaos/);
  assert.match(main, /WAITING_ACCEPTANCE/);
});

test("the SKUs page shows one code as the stock flow and the inriver flow see it", async () => {
  await page.goto(URL_ + "/console/#/skus?code=" + encodeURIComponent(KNOWN_SKU));
  await page.waitForSelector("text=Every SKU with an open problem");
  const main = await page.textContent("main");
  const stock = await page.locator("section.card", { hasText: "Stock to Mirakl (stock flow)" }).textContent();
  assert.match(stock, /publishable\d+/, "GET /admin/stock/{sku} shown: " + stock);
  assert.doesNotMatch(stock, /not available/);
  // the inriver flow's view of the same code: Khaos, inriver and Mirakl side by side
  assert.match(main, /Khaos, inriver and Mirakl/);
  assert.doesNotMatch(main, /The inriver flow's SKU view is not available on this gateway/);
});

test("actions without the CSRF token are refused", async () => {
  const exc = (await admin("/admin/exceptions?open=1&limit=1")).exceptions;
  const target = exc.length ? exc[0].id : "01J0000000000000000000000";
  for (const headers of [{}, { "X-CSRF-Token": "0".repeat(64) }, { "X-CSRF-Token": TOKEN }]) {
    for (const path of ["/admin/exceptions/" + target + "/resolve", "/admin/jobs/" + DEAD_JOB + "/retry",
      "/admin/events/x/replay", "/console/logout"]) {
      const r = await context.request.post(URL_ + path, { headers });
      assert.equal(r.status(), 403, path + " with " + JSON.stringify(Object.keys(headers)) + ": " + r.status());
      assert.equal((await r.json()).error, "csrf_required");
    }
  }
  // reads need no CSRF token; the session still works
  assert.equal((await context.request.get(URL_ + "/admin/overview")).status(), 200);
});

test("the pages hold no token: not in the HTML, storage, URLs or cookies", async () => {
  for (const hash of ["#/overview", "#/exceptions", "#/orders", "#/skus", "#/jobs"]) {
    await page.goto(URL_ + "/console/" + hash);
    await page.waitForLoadState("networkidle");
    const html = await page.content();
    assert.ok(!html.includes(TOKEN), hash + ": the token is in the page");
    const stored = await page.evaluate(() => JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)]));
    assert.ok(!stored.includes(TOKEN), hash + ": the token is in web storage");
    assert.ok(!page.url().includes(TOKEN));
  }
  assert.ok(visited.length > 10);
  assert.ok(visited.every((u) => !u.includes(TOKEN)), "a URL carried the token");
  assert.ok((await context.cookies()).every((c) => c.value !== TOKEN));
});

test("signing out ends the session", async () => {
  await page.goto(URL_ + "/console/#/overview");
  await page.waitForSelector("#logout");
  await page.click("#logout");
  await page.waitForSelector("form#signin");
  assert.equal((await context.request.get(URL_ + "/console/api/whoami")).status(), 401);
  assert.equal((await context.request.get(URL_ + "/admin/overview")).status(), 401);
});
