// The chat's browser client in Debian's chromium (headless, through
// playwright-core): a browser user on server A and a terminal user on server
// B talk (lines both ways, a private line, /me, /who). Saves a screenshot.
//
//   node tests/browser/chat.mjs PAGE_URL TROUPE_CHAT SERVER_B_URL COOKIE SCREENSHOT.png
//
// Exit 0 with "chat-browser: N passed, 0 failed", else 1 with the reason.
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [page_url, bin, server_b, cookie, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error("usage: node chat.mjs PAGE_URL TROUPE_CHAT SERVER_B_URL COOKIE SCREENSHOT.png");
  process.exit(2);
}
const WAIT_MS = 30000; // only turns a hang into a failure
let passed = 0;
const check = (ok, what) => {
  if (!ok) throw new Error(what);
  passed++;
  console.log("chat-browser: ok:", what);
};

// The terminal user, on the other server: stdin/stdout through pipes
// (started once the browser user is in).
let term = null, term_out = "";
function start_term() {
  term = spawn(bin, ["client", "--server", server_b, "--nick", "term", "--room", "lobby",
                     "--cookie", cookie, "--listen", "tcp://127.0.0.1:0"],
               { stdio: ["pipe", "pipe", "pipe"] });
  term.stdout.on("data", (d) => { term_out += d.toString(); });
  term.stderr.on("data", (d) => { term_out += d.toString(); });
}
const term_says = (line) => term && term.stdin.write(line + "\n");
async function term_sees(re) {
  const end = Date.now() + WAIT_MS;
  while (Date.now() < end) {
    if (re.test(term_out)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the terminal never showed ${re}; it showed:\n${term_out}`);
}

const profile = mkdtempSync(join(tmpdir(), "troupe-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1000, height: 560 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let code = 0;
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const page_sees = (kind, text) =>
    page.waitForFunction(([k, t]) => [...document.querySelectorAll(`#log .${k}`)]
                           .some((d) => d.textContent.includes(t)), [kind, text],
                         { timeout: WAIT_MS });
  const page_says = async (line) => {
    await page.fill("#line", line);
    await page.press("#line", "Enter");
  };

  await page.goto(page_url, { waitUntil: "load" });
  await page.fill("#nick", "web");
  await page.fill("#room", "#lobby");
  await page.click("#join");
  await page_sees("joined", "you joined #lobby");
  check(true, "the browser user logged in on server A and joined #lobby");

  start_term();
  await term_sees(/you joined #lobby/);
  await page_sees("notice", "term joined");
  term_says("hello from the terminal on server B");
  await page_sees("line", "<term> hello from the terminal on server B");
  check(true, "a terminal user's line reached the browser");

  await page_says("hello from the browser on server A");
  await term_sees(/<web> hello from the browser on server A$/m);
  await page_sees("line", "<web> hello from the browser on server A"); // own line echoed
  check(true, "the browser user's line reached the terminal, and was echoed");

  await page_says("/msg term just between us");
  await term_sees(/\*web\* just between us$/m);
  await page_sees("priv", "-> *term* just between us");
  check(true, "a private line from the browser reached the terminal user");

  term_says("/me waves at the browser");
  await page_sees("line", "* term waves at the browser");
  await page_says("/who");
  await page_sees("info", "2 here: web, term");
  check(true, "/me and /who work from both sides");

  await page_says("/nosuch");
  await page_sees("error", "unknown command /nosuch");
  check(errors.length === 0, `no errors in the page (${errors.join("; ")})`);
  await page.screenshot({ path: screenshot });
  check(true, `screenshot saved to ${screenshot}`);
} catch (e) {
  console.error("chat-browser: FAILED:", e.message);
  code = 1;
} finally {
  term_says("/quit");
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
  if (term) setTimeout(() => term.kill(), 2000).unref();
}
console.log(`chat-browser: ${passed} passed, ${code} failed`);
process.exit(code);
