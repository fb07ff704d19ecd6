// Loads a node's dashboard in Debian's chromium (headless, through
// playwright-core: no browser download) and checks what an operator would
// look at: the supervision tree and the figures appear, and they change
// while the chat bots talk. A chat client of its own ("watcher", started and
// ended by this script while the page is open) gives the tree an actor the
// test can be sure of: its session must appear under the gateway, then go,
// and both changes must reach the event log. (The bots' sessions live about
// a second: a refresh may or may not catch one.) Saves a screenshot.
//
//   node tests/browser/dashboard.mjs URL TROUPE_CHAT SERVER_URL COOKIE SCREENSHOT.png
//
// Exit 0 with "dashboard: N passed, 0 failed", else 1 with the reason.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, bin, server, cookie, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node dashboard.mjs URL TROUPE_CHAT SERVER_URL COOKIE SCREENSHOT.png");
  process.exit(2);
}
const WAIT_MS = 60000; // only turns a hang into a failure

// The watcher: a terminal client on the dashboard's server, joined to a room
// of its own, stdin/stdout through pipes. Its session ("session:watcher@watch",
// a child of the gateway) lives until its stdin closes (end of input leaves).
const WATCHER = "session:watcher@watch";
let watcher = null, watcher_out = "";
let watcher_exit = null;
function start_watcher() {
  watcher = spawn(bin, ["client", "--server", server, "--nick", "watcher", "--room", "watch",
                        "--cookie", cookie, "--reconnect", "0"],
                  { stdio: ["pipe", "pipe", "pipe"] });
  watcher.stdout.on("data", (d) => { watcher_out += d.toString(); });
  watcher.stderr.on("data", (d) => { watcher_out += d.toString(); });
  watcher_exit = new Promise((resolve) => watcher.on("exit", (code, signal) => resolve({ code, signal })));
}
async function watcher_ends() {
  watcher.stdin.end();
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), WAIT_MS); });
  const how = await Promise.race([watcher_exit, late]);
  clearTimeout(timer);
  if (how === null) throw new Error(`the watcher did not leave; it showed:\n${watcher_out}`);
  watcher = null;
  return how;
}

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
  // Two questions the checks ask the page. testTreeEntry(name): null if no
  // actor of that name is in the tree, else its state and the name of the
  // actor it is drawn under; testLogged(re): an event log line matches re.
  await page.addInitScript(() => {
    const name_of = (li) => li.childNodes[1] ? li.childNodes[1].textContent : "";
    window.testTreeEntry = (name) => {
      const li = [...document.querySelectorAll("#tree li[data-id]")].find((x) => name_of(x) === name);
      if (!li) return null;
      const up = li.parentElement.closest("li[data-id]");
      return { state: li.dataset.state, parent: up ? name_of(up) : "" };
    };
    window.testLogged = (re) => [...document.querySelectorAll("#events li")].some((li) => re.test(li.textContent));
  });
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

  // Our own client joins while the page is open: its session must appear in
  // the tree under the chat gateway, and its start in the event log.
  start_watcher();
  await page.waitForFunction(
    (name) => window.testTreeEntry(name) !== null &&
              window.testLogged(new RegExp(`started: ${name} under chat$`)),
    WATCHER, { timeout: WAIT_MS })
    .catch((e) => { throw new Error(`${WATCHER} never appeared with its start logged (${e.message}); the watcher showed:\n${watcher_out}`); });
  const seen = await page.evaluate((name) => window.testTreeEntry(name), WATCHER);
  check(seen.parent === "chat", `${WATCHER} is drawn under the gateway (${seen.parent}, ${seen.state}), its start logged`);
  // Its node (a hidden one, "client-watcher-PID") is drawn in the cluster view while up.
  await page.waitForFunction(
    () => document.querySelector('#cluster circle.peer[data-name^="client-watcher-"][data-state="up"]') !== null,
    null, { timeout: WAIT_MS });
  check(true, "the watcher's node is drawn in the cluster view while it is up");
  // A few more points on the plots for the screenshot, the watcher still in the tree.
  await page.waitForFunction(() => Number(document.body.dataset.updates) >= 10, null,
                             { timeout: WAIT_MS });
  await page.screenshot({ path: screenshot, fullPage: true });
  check(true, `screenshot saved to ${screenshot}`);

  // The watcher leaves (end of input): it exits 0, its session goes from the
  // tree and its end reaches the event log.
  const how = await watcher_ends();
  check(how.code === 0, `the watcher left and exited ${how.code}${how.signal ? " (" + how.signal + ")" : ""}`);
  await page.waitForFunction(
    (name) => window.testTreeEntry(name) === null &&
              window.testLogged(new RegExp(`ended: ${name} under chat$`)),
    WATCHER, { timeout: WAIT_MS });
  check(true, `${WATCHER} left the tree and its end is logged`);
  // A client that has gone stays in the peer table (until forgotten) but is
  // left out of the drawing: once the table shows the watcher's node not up,
  // no hidden node that is not up may be drawn.
  await page.waitForFunction(
    () => [...document.querySelectorAll("#peer-table tr")].some((tr) =>
      /^client-watcher-\d+ \(hidden\)$/.test(tr.cells[0].textContent) && tr.cells[1].textContent !== "up"),
    null, { timeout: WAIT_MS });
  const drawn = await page.evaluate(() => {
    const hidden = new Set([...document.querySelectorAll("#peer-table tr")]
      .map((tr) => tr.cells[0].textContent).filter((t) => t.endsWith(" (hidden)"))
      .map((t) => t.slice(0, -" (hidden)".length)));
    return [...document.querySelectorAll("#cluster circle.peer")]
      .filter((c) => hidden.has(c.dataset.name) && c.dataset.state !== "up")
      .map((c) => `${c.dataset.name} ${c.dataset.state}`);
  });
  check(drawn.length === 0, `hidden nodes that are gone are not drawn (drawn: ${drawn.join(", ") || "none"})`);
  console.log(`dashboard: ${passed} passed, 0 failed`);
} catch (e) {
  console.log(`dashboard: FAILED: ${e.message}`);
  console.log(`dashboard: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  if (watcher) watcher.kill("SIGKILL");
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
