// Open a Nova console URL in headless Chromium as a user would, press
// noVNC's Connect button (vnc.html; vnc_lite.html connects by itself), wait
// until noVNC reports the connection, and save a screenshot.
//
//   node novnc.mjs <console url> <screenshot.png> [line to type]
//
// With a line to type, it clicks the console and types it followed by Enter,
// as a user at the keyboard would, after the screenshot.
// Prints one JSON line: {"status": ..., "canvas": [w, h], "colors": n} (n:
// distinct colours in the canvas, so a blank screen shows as 1); exits 1 on
// failure.
import { chromium } from "playwright-core";

const [url, shot, line] = process.argv.slice(2);
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
  // Give the guest's text a moment to arrive after the first update.
  await page.waitForTimeout(1500);
  const colors = await page.evaluate(() => {
    const c = document.querySelector("canvas");
    if (!c || !c.width) return 0;
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length && seen.size < 64; i += 4) {
      seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    }
    return seen.size;
  });
  await page.screenshot({ path: shot });
  if (line) {
    await page.locator("canvas").click();
    await page.keyboard.type(line, { delay: 30 });
    await page.keyboard.press("Enter");
    // Let the last key events leave the websocket before the browser closes.
    await page.waitForTimeout(1000);
  }
  console.log(JSON.stringify({ status, canvas, colors }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e) }));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);
