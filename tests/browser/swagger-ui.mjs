// Swagger UI as a new user meets it, in headless Chromium (Debian's `chromium`, driven by
// playwright-core): the page loads with no request leaving the host; Authorize with a
// tenant's API key; "Try it out" on GET /api/v1/users, POST /api/v1/users/auth/_login and
// InvestSuite's login shows the expected status and body, and each runs the request it
// names. A screenshot is kept at $SCREENSHOT (default target/ci-artifacts/swagger-ui.png).
//
//   node tests/browser/swagger-ui.mjs <path to keyplane binary>

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const binary = process.argv[2];
const screenshot = process.env.SCREENSHOT || "target/ci-artifacts/swagger-ui.png";
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const ADMIN_PASSWORD = "browser-admin-password";
const PASSWORD = "correct horse battery";

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function call(base, method, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const dataDir = mkdtempSync(join(tmpdir(), "keyplane-browser-"));
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const server = spawn(binary, ["serve"], {
  env: {
    ...process.env,
    KEYPLANE_PORT: String(port),
    KEYPLANE_DATA_DIR: dataDir,
    KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    KEYPLANE_LOG: "warn",
    KEYPLANE_HASHING__MEMORY_KIB: "1024",
    KEYPLANE_HASHING__ITERATIONS: "1",
  },
  stdio: ["ignore", "inherit", "inherit"],
});
let browser;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + "/readyz")).ok) break;
    } catch {}
    if (i > 300) throw new Error("keyplane did not become ready");
    await new Promise((r) => setTimeout(r, 100));
  }
  const admin = { authorization: "Basic " + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString("base64") };
  await call(base, "POST", "/api/v1/platform/tenants", { slug: "acme", name: "Acme" }, admin);
  const key = (await call(base, "POST", "/api/v1/platform/tenants/acme/keys", { description: "browser", roles: ["tenant_admin"] }, admin)).key;
  await call(base, "POST", "/api/v1/users", { user_name: "alice", password: PASSWORD }, { "x-api-key": key });

  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 2400 } });
  const leaving = [];
  const sent = [];
  await page.route("**/*", (route) => {
    const url = new URL(route.request().url());
    if (url.hostname !== "127.0.0.1" || url.port !== String(port)) {
      leaving.push(url.href);
      return route.abort();
    }
    sent.push(`${route.request().method()} ${url.pathname}`);
    return route.continue();
  });

  await page.goto(base + "/", { waitUntil: "networkidle" });
  check(page.url() === base + "/swagger-ui/", `/ leads to the Swagger UI, not ${page.url()}`);
  await page.locator(".information-container .title").waitFor();
  check(leaving.length === 0, `requests left the host: ${leaving.join(", ")}`);

  // Authorize with the tenant key (the `api_key` scheme: X-API-Key).
  await page.locator("button.authorize").first().click();
  const section = page.locator(".modal-ux .auth-container").filter({ has: page.locator("h4 code", { hasText: /^api_key$/ }) });
  await section.locator("input").fill(key);
  await section.locator("button.authorize").click();
  await section.locator("button", { hasText: "Logout" }).waitFor();
  await page.locator(".modal-ux .close-modal").click();

  async function tryIt(id, expectPath, fill) {
    const op = page.locator(`#${id}`);
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    if (fill) await fill(op);
    const before = sent.length;
    await op.locator("button.execute").click();
    const status = op.locator(".live-responses-table tr.response .response-col_status").first();
    await status.waitFor();
    const body = await op.locator(".live-responses-table .response-col_description pre").first().innerText();
    const ran = sent.slice(before).filter((r) => !r.includes("/swagger-ui/"));
    check(ran.includes(expectPath), `${id} ran ${ran.join(", ")}, not ${expectPath}`);
    return { status: (await status.innerText()).trim(), body };
  }

  const users = await tryIt("operations-users-list_users", "GET /api/v1/users");
  check(users.status === "200" && users.body.includes('"alice"'), `GET /api/v1/users: ${users.status} ${users.body}`);

  const login = await tryIt("operations-authentication-login", "POST /api/v1/users/auth/_login", async (op) => {
    await op.locator("textarea.body-param__text").fill(JSON.stringify({ username: "alice", password: PASSWORD }));
  });
  check(login.status === "200" && login.body.includes('"token"'), `_login: ${login.status} ${login.body}`);

  const invest = await tryIt("operations-investsuite-investsuite_login", "POST /t/acme/investsuite/auth/login/", async (op) => {
    await op.locator('tr[data-param-name="tenant"] input').fill("acme");
    await op.locator("textarea.body-param__text").fill(JSON.stringify({ username: "alice", password: PASSWORD }));
  });
  check(invest.status === "200" && invest.body.includes('"access_token"'), `InvestSuite login: ${invest.status} ${invest.body}`);

  check(leaving.length === 0, `requests left the host: ${leaving.join(", ")}`);
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log(`swagger-ui: page, Authorize and 3 operations OK; screenshot ${screenshot}`);
} finally {
  if (browser) await browser.close();
  server.kill("SIGTERM");
  rmSync(dataDir, { recursive: true, force: true });
}
