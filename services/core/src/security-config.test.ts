import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { hashToken } from "./auth/static-tokens.js";
import { authenticatorFor, loadSecurityConfig } from "./security-config.js";

const tokensFile = (dir: string, name: string, entries: object[]) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify({ tokens: entries }));
  return f;
};

test("security config — tokens from several files (services' and users' Secrets); a name in two files is refused naming both", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mambalign-sec-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = tokensFile(dir, "services.json", [{ name: "service-pipeline", role: "operator", sha256: hashToken("p") }]);
  const b = tokensFile(dir, "users.json", [{ name: "alice", role: "admin", sha256: hashToken("a") }]);
  const config = loadSecurityConfig({ MAMBALIGN_TOKENS_FILE: [a, b].join(path.delimiter) });
  const auth = authenticatorFor(config);
  assert.equal((await auth.authenticate("Bearer a")).name, "alice");
  assert.equal((await auth.authenticate("Bearer p")).role, "operator");
  const dup = tokensFile(dir, "dup.json", [{ name: "alice", role: "viewer", sha256: hashToken("x") }]);
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_TOKENS_FILE: [b, dup].join(path.delimiter) }), /"alice" is in both .*users\.json and .*dup\.json/);
});

test("security config — no tokens and no identity provider: a server refuses to start, naming the settings", () => {
  assert.throws(() => authenticatorFor(loadSecurityConfig({})), /MAMBALIGN_TOKENS_FILE.*MAMBALIGN_OIDC_ISSUER/);
});

test("security config — half-given TLS or OIDC settings fail naming the missing variable; unreadable files name theirs", () => {
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_TLS_CERT: "/x.crt" }), /MAMBALIGN_TLS_KEY is required/);
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_TLS_CERT: "/nonexistent.crt", MAMBALIGN_TLS_KEY: "/nonexistent.key" }), /MAMBALIGN_TLS_CERT: cannot read \/nonexistent\.crt \(ENOENT\)/);
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_OIDC_ISSUER: "https://idp" }), /MAMBALIGN_OIDC_AUDIENCE is required/);
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_TLS_CLIENT_AUTH: "require" }), /needs MAMBALIGN_TLS_CERT, MAMBALIGN_TLS_KEY and MAMBALIGN_CA/);
  assert.throws(() => loadSecurityConfig({ MAMBALIGN_ALLOW_PLAINTEXT: "yes" }), /MAMBALIGN_ALLOW_PLAINTEXT must be true or false/);
});
