// dashboard — signing in and what is served without it, against the real HTTP server and the API's own token
// authenticator; the API address points at a closed port (these paths never need it, or must fail cleanly).
import assert from "node:assert/strict";
import https from "node:https";
import { after, before, describe, test } from "node:test";
import { ConfigError, createLogger, freePort, hashToken, Metrics, StaticTokenAuthenticator } from "@mambalign/core";
import { makeTestPki } from "@mambalign/core/testing";
import { startDashboard, type StartedDashboard } from "./dashboard.js";
import { evenlySpaced } from "./run-stream.js";

const TOKEN = "dashboard-unit-viewer";

describe("dashboard — sign-in", () => {
  let dash: StartedDashboard;
  const at = (p: string) => new URL(p, dash.url);
  const login = (body: string) => fetch(at("login"), { method: "POST", redirect: "manual", headers: { "content-type": "application/x-www-form-urlencoded" }, body });

  before(async () => {
    const closed = `127.0.0.1:${await freePort()}`;
    dash = await startDashboard(
      { host: "127.0.0.1", port: 0, addrs: { pipeline: closed, registry: closed, evaluator: closed, trainer: "" } },
      {
        logger: createLogger("test", "silent"),
        metrics: new Metrics({ defaultMetrics: false }),
        authenticator: new StaticTokenAuthenticator([{ name: "ann", role: "viewer", sha256: hashToken(TOKEN) }]),
        clientSecurity: {},
        allowPlaintext: false,
      },
    );
  });
  after(() => dash?.stop());

  test("a known token posted to the login form sets an HttpOnly, SameSite=Strict cookie and goes home; an unknown one gets the form again with 401", async () => {
    const ok = await login(`token=${TOKEN}`);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get("location"), "/");
    assert.equal(ok.headers.get("set-cookie"), `mambalign_token=${TOKEN}; Path=/; HttpOnly; SameSite=Strict`);
    const bad = await login("token=nope");
    assert.equal(bad.status, 401);
    assert.match(await bad.text(), /id="login-error">Not signed in: unauthenticated: unknown token</);
    assert.equal(bad.headers.get("set-cookie"), null);
  });

  test("the cookie signs a page in; without it, or with a wrong one, the page answers 401 with the login form", async () => {
    const page = await fetch(at("/runs/some-run"), { headers: { cookie: `other=1; mambalign_token=${TOKEN}` } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script type="module" src="\/static\/app.js">/);
    for (const cookie of ["", "mambalign_token=wrong", "mambalign_token=%E0%A4%A"]) {
      const res = await fetch(at("/"), { headers: { cookie } });
      assert.equal(res.status, 401, `cookie ${JSON.stringify(cookie)}`);
      assert.match(await res.text(), /name="token"/);
    }
  });

  test("signing out clears the cookie", async () => {
    const res = await fetch(at("logout"), { method: "POST", redirect: "manual" });
    assert.equal(res.status, 303);
    assert.match(res.headers.get("set-cookie") ?? "", /^mambalign_token=; .*Max-Age=0/);
  });

  test("the page's own script and style are served to anyone; no other file is reachable", async () => {
    assert.equal((await fetch(at("/static/app.js"))).status, 200);
    assert.equal((await fetch(at("/static/style.css"))).headers.get("content-type"), "text/css; charset=utf-8");
    for (const p of ["/static/index.html", "/static/../package.json", "/static/%2e%2e/src/main.ts"]) {
      const res = await fetch(at(p), { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 404, p);
    }
  });

  test("a login body over 16 KiB is refused with 400 and the server keeps serving", async () => {
    const res = await login(`token=${"x".repeat(20_000)}`);
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /larger than 16384 bytes/);
    assert.equal((await fetch(at("/login"))).status, 200);
  });

  test("signed in but the API unreachable: a data endpoint answers 503 with the reason, and the server keeps serving", async () => {
    const res = await fetch(at("/api/runs"), { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 503);
    assert.ok(((await res.json()) as { error: string }).error.length > 0);
    assert.equal((await fetch(at("/login"))).status, 200);
  });
});

test("dashboard — the curves draw at most the given number of steps, evenly spaced, first and last kept", () => {
  const rows = Array.from({ length: 10_001 }, (_, i) => i);
  const drawn = evenlySpaced(rows, 2_000);
  assert.equal(drawn.length, 2_000);
  assert.equal(drawn[0], 0);
  assert.equal(drawn.at(-1), 10_000);
  assert.ok(drawn.every((v, i) => i === 0 || v > drawn[i - 1]!));
  assert.equal(evenlySpaced(rows.slice(0, 5), 2_000).length, 5);
});

describe("dashboard — transport", () => {
  const start = (host: string, extra: { tls?: { cert: Buffer; key: Buffer }; allowPlaintext?: boolean }) =>
    startDashboard(
      { host, port: 0, addrs: { pipeline: "127.0.0.1:1", registry: "127.0.0.1:1", evaluator: "127.0.0.1:1", trainer: "" } },
      {
        logger: createLogger("test", "silent"),
        metrics: new Metrics({ defaultMetrics: false }),
        authenticator: new StaticTokenAuthenticator([{ name: "ann", role: "viewer", sha256: hashToken(TOKEN) }]),
        clientSecurity: {},
        allowPlaintext: false,
        ...extra,
      },
    );

  test("tokens never cross plain HTTP off loopback: a non-loopback bind without a certificate is refused, naming the settings", async () => {
    await assert.rejects(start("0.0.0.0", {}), (e: Error) => e instanceof ConfigError && /MAMBALIGN_TLS_CERT/.test(e.message) && e.variable === "MAMBALIGN_ALLOW_PLAINTEXT");
  });

  test("with the API's certificate it serves HTTPS, and the login cookie is Secure", async () => {
    const pki = makeTestPki();
    const dash = await start("127.0.0.1", { tls: { cert: pki.serverCert, key: pki.serverKey } });
    try {
      assert.match(dash.url, /^https:\/\//);
      const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
        const req = https.request(new URL("login", dash.url), { method: "POST", ca: pki.ca, headers: { "content-type": "application/x-www-form-urlencoded" } }, (r) => {
          r.resume();
          resolve({ status: r.statusCode ?? 0, cookie: String(r.headers["set-cookie"] ?? "") });
        });
        req.on("error", reject);
        req.end(`token=${TOKEN}`);
      });
      assert.equal(res.status, 303);
      assert.match(res.cookie, /HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      await dash.stop();
      pki.remove();
    }
  });
});
