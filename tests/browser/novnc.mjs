// Open a Nova console URL in headless Chromium as a user would, press
// noVNC's Connect button (vnc.html; vnc_lite.html connects by itself), wait
// until noVNC reports the connection, and save a screenshot.
//
//   node novnc.mjs <console url> <screenshot.png>
//
// Prints one JSON line: {"status": ..., "canvas": [w, h]}; exits 1 on failure.
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
let code = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1024, height: 768 } });
  await page.goto(url, { waitUntil: "load" });
  const connect = page.locator("#noVNC_connect_button");
  if (await connect.count()) {
    await connect.click();
  }
  // vnc.html marks the document; vnc_lite.html writes "Connected to ..." in #status.
  await page.waitForFunction(
    () =>
      document.documentElement.classList.contains("noVNC_connected") ||
      /Connected/.test(document.querySelector("#status")?.textContent || ""),
    null,
    { timeout: 30000 },
  );
  // The first framebuffer update has sized the canvas.
  await page.waitForFunction(
    () => (document.querySelector("canvas")?.width || 0) > 0,
    null,
    { timeout: 30000 },
  );
  const status = await page.evaluate(
    () =>
      (document.querySelector("#noVNC_status") || document.querySelector("#status"))
        ?.textContent || "",
  );
  const canvas = await page.evaluate(() => {
    const c = document.querySelector("canvas");
    return c ? [c.width, c.height] : [0, 0];
  });
  await page.screenshot({ path: shot });
  console.log(JSON.stringify({ status, canvas }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
