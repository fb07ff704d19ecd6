// Loads a node's dashboard in Debian's chromium (headless, through
// playwright-core: no browser download) and checks what an operator would
// look at: the supervision tree and the figures appear, and they change
// while the chat bots talk. Saves a screenshot.
//
//   node tests/browser/dashboard.mjs URL SCREENSHOT.png
//
// Exit 0 with "dashboard: N passed, 0 failed", else 1 with the reason.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dashboard.mjs URL SCREENSHOT.png");
  process.exit(2);
}
const WAIT_MS = 60000; // only turns a hang into a failure
const profile = mkdtempSync(join(tmpdir(), "troupe-chromium-"));
// A fresh profile each run (playwright passes it as --user-data-dir).
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let passed = 0;
const check = (ok, what) => {
  if (!ok) throw new Error(what);
  passed++;
  console.log("dashboard: ok:", what);
};
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(url, { waitUntil: "load" });

  // Two refreshes: figures, rates and the tree are drawn.
  await page.waitForFunction(() => Number(document.body.dataset.updates) >= 2, null,
                             { timeout: WAIT_MS });
  const first = await page.evaluate(() => ({
    updates: Number(document.body.dataset.updates),
    messages: Number(document.body.dataset.messages),
    alive: document.getElementById("alive").textContent,
    node: document.getElementById("node-name").textContent,
    treeItems: document.querySelectorAll("#tree li[data-id]").length,
    supervisors: document.querySelectorAll("#tree .badge").length,
    names: [...document.querySelectorAll("#tree li[data-id]")].map((li) => li.textContent),
    peers: document.querySelectorAll("#cluster circle.peer").length,
    workers: document.querySelectorAll("#worker-table tr").length - 1,
  }));
  check(/^\d/.test(first.alive), `actors alive shown (${first.alive})`);
  check(first.node === "A", `node name shown (${first.node})`);
  check(first.treeItems >= 4, `the tree lists the chat's actors (${first.treeItems})`);
  check(first.supervisors >= 1, `supervisors marked (${first.supervisors})`);
  check(first.names.some((n) => n.startsWith("chat")), "the chat gateway is in the tree");
  check(first.peers >= 1, `the cluster view shows the peer node (${first.peers})`);
  check(first.workers >= 1, `workers listed (${first.workers})`);

  // The bots keep talking: the message total must move on, and the plot
  // must have points.
  await page.waitForFunction(
    (before) => Number(document.body.dataset.messages) > before &&
                Number(document.body.dataset.updates) >= 4,
    first.messages, { timeout: WAIT_MS });
  const later = await page.evaluate(() => ({
    messages: Number(document.body.dataset.messages),
    plotPoints: document.querySelector("#plot-messages polyline").getAttribute("points")
      .trim().split(/\s+/).length,
  }));
  check(later.messages > first.messages,
        `messages handled went from ${first.messages} to ${later.messages}`);
  check(later.plotPoints >= 2, `the messages plot has ${later.plotPoints} points`);
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);

  // For the screenshot: a few more points on the plots, bot sessions on the tree.
  await page.waitForFunction(
    () => Number(document.body.dataset.updates) >= 10 &&
      [...document.querySelectorAll("#tree li[data-id]")]
        .some((li) => li.textContent.startsWith("session:")),
    null, { timeout: WAIT_MS });
  // The bots come and go: their sessions' starts and ends reach the event log.
  await page.waitForFunction(() => document.querySelectorAll("#events li").length >= 1, null,
                             { timeout: WAIT_MS });
  const events = await page.evaluate(() => document.querySelector("#events li").textContent);
  check(/(started|ended): session:/.test(events) || /restart/.test(events),
        `tree changes are logged (${events})`);
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, `screenshot saved to ${screenshot}`);
  console.log(`dashboard: ${passed} passed, 0 failed`);
} catch (e) {
  console.log(`dashboard: FAILED: ${e.message}`);
  console.log(`dashboard: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
