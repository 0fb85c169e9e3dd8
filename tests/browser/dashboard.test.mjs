// The dashboard in a real headless browser: Playwright-core driving Debian's
// Chromium against a running `dorafleet serve` (scripts/serve-tests.sh
// prepares the warehouse, starts the server and sets the environment).
//
//   DORAFLEET_URL          the server, e.g. http://127.0.0.1:8123
//   DORAFLEET_TOKEN        the operator token of its [serve] token_file
//   DORAFLEET_TEAM         a team with an unknown deployment-frequency day in
//   DORAFLEET_FROM/_TO     this range (days before its coverage began)
//   DORAFLEET_SCREENSHOTS  where the screenshots go (docs/img)
//   CHROMIUM               the browser (default /usr/bin/chromium)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.DORAFLEET_URL;
const token = process.env.DORAFLEET_TOKEN;
const team = process.env.DORAFLEET_TEAM || "payments";
const from = process.env.DORAFLEET_FROM;
const to = process.env.DORAFLEET_TO;
const shots = process.env.DORAFLEET_SCREENSHOTS;
assert.ok(base && token && from && to, "run through scripts/serve-tests.sh (DORAFLEET_URL, _TOKEN, _FROM, _TO)");

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let context, profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), "dorafleet-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  if (shots) mkdirSync(shots, { recursive: true });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function api(path) {
  const res = await fetch(base + path, { headers: { Accept: "application/json" } });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

async function open(path) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const res = await page.goto(base + path, { waitUntil: "load" });
  assert.equal(res.status(), 200, path);
  return { page, errors };
}

async function screenshot(page, name) {
  if (shots) await page.screenshot({ path: join(shots, name), fullPage: true });
}

// Every record of a records answer: the deployments, changes and incidents.
function recordsOf(json) {
  return [...json.deployments, ...json.changes, ...json.incidents];
}

test("the overview loads and lists every team", async () => {
  const { teams } = await api("/api/v1/teams");
  assert.ok(teams.length > 0);
  const started = Date.now();
  const { page, errors } = await open("/");
  const loaded = Date.now() - started;
  const listed = await page.$$eval("tr.team", (rows) => rows.map((r) => r.dataset.team));
  assert.deepEqual([...listed].sort(), teams.map((t) => t.id).sort());
  // Each team has its six metrics, each a value, "unknown" or "held".
  const cells = await page.$$eval("tr.team td[data-metric]", (tds) => tds.length);
  assert.equal(cells, teams.length * 6);
  assert.deepEqual(errors, []);
  // Page weight: the HTML and the assets it loads.
  let bytes = 0;
  for (const path of ["/", "/assets/style.css", "/assets/app.js"]) {
    bytes += (await (await fetch(base + path)).arrayBuffer()).byteLength;
  }
  console.log(`# overview: ${teams.length} teams, ${bytes} bytes (HTML + CSS + JS), loaded in ${loaded} ms`);
  await screenshot(page, "dashboard-overview.png");
  await page.close();
});

test("a team's chart for deployment frequency shows one point per known day and draws an unknown day as a gap", async () => {
  const report = await api(`/api/v1/teams/${team}/metrics?from=${from}&to=${to}`);
  const metric = "deployment_frequency";
  const known = report.days.filter((d) => d.metrics[metric] && d.metrics[metric].value != null).map((d) => d.date);
  const unknown = report.days.filter((d) => d.unknown && d.unknown[metric] && !d.unknown[metric].held_by_run).map((d) => d.date);
  assert.ok(known.length > 0, "the team has known days");
  assert.ok(unknown.length > 0, `the range ${from}..${to} has an unknown day for ${team}`);

  const { page, errors } = await open(`/teams/${team}?from=${from}&to=${to}`);
  const chart = `svg.chart[data-metric="${metric}"]`;
  const points = await page.$$eval(`${chart} circle.point`, (cs) => cs.map((c) => c.dataset.date));
  assert.equal(points.length, known.length, "one point per known day");
  assert.deepEqual(points, known);
  for (const day of unknown) {
    assert.equal(await page.locator(`${chart} rect.unknown[data-date="${day}"]`).count(), 1, `${day}: a hatched band`);
    assert.equal(await page.locator(`${chart} circle.point[data-date="${day}"]`).count(), 0, `${day}: no point`);
  }
  // The band is drawn (hatched), not a blank: it has a size and a pattern fill.
  const band = page.locator(`${chart} rect.unknown[data-date="${unknown[0]}"]`);
  const box = await band.boundingBox();
  assert.ok(box && box.width > 0 && box.height > 0, "the band is visible");
  assert.match(await band.evaluate((r) => getComputedStyle(r).fill), /url\(.*hatch-unknown/);
  // A verified zero, when the range has one, is a point on the baseline.
  const zero = report.days.find((d) => d.metrics[metric] && d.metrics[metric].value === 0);
  if (zero) assert.equal(await page.locator(`${chart} circle.point.zero[data-date="${zero.date}"]`).count(), 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test("clicking a day lists exactly the records the API returns for it", async () => {
  const report = await api(`/api/v1/teams/${team}/metrics?from=${from}&to=${to}`);
  const { page, errors } = await open(`/teams/${team}?from=${from}&to=${to}`);
  for (const metric of ["deployment_frequency", "lead_time_for_changes", "change_failure_rate"]) {
    // The day with the largest value: it has records behind it.
    const days = report.days.filter((d) => d.metrics[metric] && d.metrics[metric].value != null);
    const day = days.reduce((a, b) => (b.metrics[metric].value > a.metrics[metric].value ? b : a));
    const json = await api(`/api/v1/teams/${team}/days/${day.date}/metrics/${metric}/records`);
    const expected = recordsOf(json).map((r) => r.url);
    assert.ok(expected.length > 0, `${metric} on ${day.date} has records`);

    await page.locator(`svg.chart[data-metric="${metric}"] circle.point[data-date="${day.date}"]`).click();
    await page.waitForFunction(
      ([m, d]) => document.getElementById("records").dataset.state === "loaded" &&
        document.getElementById("records-title").textContent.includes(d) &&
        document.getElementById("records-title").textContent.includes(m.replace(/_/g, " ")),
      [metric, day.date],
    );
    const listed = await page.$$eval("#records li.record", (lis) => lis.map((li) => li.dataset.url));
    assert.deepEqual(listed, expected, `${metric} on ${day.date}`);
    const links = await page.$$eval("#records li.record a", (as) => as.map((a) => a.href));
    assert.deepEqual(links, expected, "each record links back to its tool");
  }
  assert.deepEqual(errors, []);
  await screenshot(page, "dashboard-team.png");
  await page.close();
});

test("releasing a hold without a token is refused, with the token it succeeds, and the API shows it released with an audit entry", async () => {
  const { holds } = await api("/api/v1/holds?status=open");
  assert.ok(holds.length > 0, "the demo left an open hold");
  const hold = holds[0];
  const { page, errors } = await open("/fleet");
  await screenshot(page, "dashboard-fleet.png");
  const form = page.locator(`form.release[data-hold="${hold.hold_id}"]`);
  const result = form.locator("output.result");
  const reason = "browser test: the held deployments are real";

  await form.locator("input[name=reason]").fill(reason);
  await form.locator("button").click();
  await page.waitForFunction((el) => el.dataset.status, await result.elementHandle());
  assert.match(await result.getAttribute("data-status"), /^40[13]$/, "refused without a token");
  assert.match(await result.textContent(), /refused/);
  const stillOpen = await api("/api/v1/holds?status=open");
  assert.ok(stillOpen.holds.some((h) => h.hold_id === hold.hold_id), "still open after the refusal");

  await form.locator("input[name=token]").fill("not-the-token");
  await form.locator("button").click();
  await page.waitForFunction((el) => el.dataset.status && el.textContent !== "…", await result.elementHandle());
  assert.match(await result.getAttribute("data-status"), /^40[13]$/, "refused with a wrong token");

  await form.locator("input[name=token]").fill(token);
  await form.locator("button").click();
  await page.waitForFunction((el) => el.textContent === "released", await result.elementHandle(), { timeout: 60_000 });
  assert.equal(await result.getAttribute("data-status"), "200");

  const released = await api("/api/v1/holds?status=released");
  const after = released.holds.find((h) => h.hold_id === hold.hold_id);
  assert.ok(after, "the API shows the hold released");
  assert.equal(after.resolution.reason, reason, "the audit keeps the reason");
  assert.ok(after.resolution.by && after.resolution.at, "and who released it, and when");
  // The page shows it among the resolved holds once reloaded.
  await page.reload();
  assert.equal(await page.locator(`tr.resolved-hold[data-hold="${hold.hold_id}"]`).count(), 1);
  assert.deepEqual(errors, []);
  await page.close();
});
