// A headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, one JSON command
// per stdin line, one JSON answer per stdout line: tests/browser/_browser.py speaks to it.
import { readFileSync } from "node:fs";
import readline from "node:readline";
import { chromium } from "playwright-core";

const browser = await chromium.launch({
  executablePath: process.env.CREDITCHAIN_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", acceptDownloads: true });
const page = await context.newPage();
let requests = [];
const messages = [];
page.on("request", (r) => requests.push({ url: r.url(), method: r.method() }));
page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));

const handlers = {
  goto: ({ url }) => page.goto(url, { waitUntil: "load" }).then((r) => r && r.status()),
  viewport: ({ width, height }) => page.setViewportSize({ width, height }),
  fill: ({ selector, value }) => page.fill(selector, value),
  click: ({ selector }) => page.click(selector),
  press: ({ key }) => page.keyboard.press(key),
  setFiles: ({ selector, path }) => page.setInputFiles(selector, path),
  waitFor: ({ selector, state, timeout }) => page.waitForSelector(selector, { state: state || "visible", timeout: timeout || 30000 }).then(() => true),
  // page.evaluate takes a function's source; poll it until it returns something truthy
  waitForFunction: async ({ expr, arg, timeout }) => {
    const until = Date.now() + (timeout || 60000);
    const fn = new Function(`return (${expr});`)(); // a function here, called in the page
    for (;;) {
      if (await page.evaluate(fn, arg)) return true;
      if (Date.now() > until) throw new Error(`timed out waiting for ${expr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  },
  text: ({ selector }) => page.textContent(selector),
  attr: ({ selector, name }) => page.getAttribute(selector, name),
  eval: ({ expr, arg }) => page.evaluate(expr, arg),
  screenshot: ({ path, fullPage }) => page.screenshot({ path, fullPage: fullPage !== false }).then(() => path),
  download: async ({ selector }) => {
    const [d] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
    return { name: d.suggestedFilename(), text: readFileSync(await d.path(), "utf8") };
  },
  requests: () => {
    const out = requests;
    requests = [];
    return out;
  },
  messages: () => messages.splice(0),
  block: ({ pattern }) => page.route(pattern, (route) => route.abort("blockedbyclient")),
  unblock: ({ pattern }) => page.unroute(pattern),
  close: async () => {
    await browser.close();
    return true;
  },
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    continue;
  }
  let answer;
  try {
    const result = await handlers[cmd.op](cmd);
    answer = { ok: true, result: result === undefined ? null : result };
  } catch (e) {
    answer = { ok: false, error: String((e && e.stack) || e) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (cmd.op === "close") break;
}
await browser.close().catch(() => {});
process.exit(0);
