// Drives headless Chromium (Debian's /usr/bin/chromium, through playwright-core) through a plan
// of steps, for controller/tests/ui.rs. Usage:
//   node drive.mjs PLAN.json      (prints one JSON result on stdout)
// PLAN: {"browserDir": "...", "chromium": "/usr/bin/chromium", "sessions": [
//          {"name": "...", "viewport": {"width": 1280, "height": 800}, "scale": 1,
//           "steps": [ {"goto": URL}, {"fill": SEL, "value": TEXT}, {"click": SEL},
//                      {"check": SEL}, {"files": SEL, "path": FILE}, {"seal": "KEY"},
//                      {"read": SEL, "as": KEY}, {"waitText": SEL, "match": REGEX},
//                      {"screenshot": PATH} ]}]}
// Result: {"values": {KEY: ...}, "requests": [{"url","method","body"}], "pageErrors": [...],
//          "console": [...]}; a failed step ends the run with exit code 1 and its message.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const require = createRequire(`${plan.browserDir}/npm/`);
const { chromium } = require("playwright-core");

const values = {};
const requests = [];
const pageErrors = [];
const consoleLines = [];

async function sealStep(page, key) {
  await page.click("#seal");
  // Done when there is a result or the error list is shown.
  await page.waitForFunction(() => {
    const out = document.getElementById("output").value;
    const errors = document.getElementById("errors");
    return out !== "" || !errors.hidden;
  }, null, { timeout: 30000 });
  values[key] = await page.evaluate(() => ({
    output: document.getElementById("output").value,
    errors: document.getElementById("errors").hidden ? "" : document.getElementById("errors").innerText,
  }));
}

async function run(page, step) {
  if (step.goto) {
    await page.goto(step.goto);
    await page.waitForSelector("body[data-ready=true]");
  } else if (step.fill) await page.fill(step.fill, step.value);
  else if (step.click) await page.click(step.click);
  else if (step.check) await page.check(step.check);
  else if (step.press) await page.keyboard.press(step.press);
  else if (step.files) await page.setInputFiles(step.files, step.path);
  else if (step.seal) await sealStep(page, step.seal);
  else if (step.read) {
    values[step.as] = await page.$eval(step.read, (el) =>
      ("value" in el && el.tagName !== "BUTTON" ? el.value : el.innerText));
  } else if (step.eval) values[step.as] = await page.evaluate(step.eval);
  else if (step.waitText) {
    await page.waitForFunction(([sel, re]) => {
      const el = document.querySelector(sel);
      return el && new RegExp(re).test(el.innerText || el.value || "");
    }, [step.waitText, step.match], { timeout: 30000 });
  } else if (step.screenshot) await page.screenshot({ path: step.screenshot, fullPage: !!step.fullPage });
  else throw new Error(`unknown step ${JSON.stringify(step)}`);
}

const browser = await chromium.launch({
  executablePath: plan.chromium,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = null;
try {
  for (const session of plan.sessions) {
    const context = await browser.newContext({
      viewport: session.viewport || { width: 1280, height: 800 },
      deviceScaleFactor: session.scale || 1,
      acceptDownloads: false,
    });
    const page = await context.newPage();
    page.on("request", (r) => requests.push({
      session: session.name, url: r.url(), method: r.method(), body: r.postData() || "",
    }));
    page.on("pageerror", (e) => pageErrors.push(`${session.name}: ${e.message}`));
    page.on("console", (m) => consoleLines.push(`${session.name}: ${m.type()}: ${m.text()}`));
    for (const [i, step] of session.steps.entries()) {
      try {
        await run(page, step);
      } catch (e) {
        failed = `session ${session.name}, step ${i} ${JSON.stringify(step).slice(0, 200)}: ${e.message}`;
        break;
      }
    }
    await context.close();
    if (failed) break;
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ values, requests, pageErrors, console: consoleLines, failed }) + "\n");
process.exit(failed ? 1 : 0);
