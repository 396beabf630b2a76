import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { status } from "../errors.js";
import type { ApiError } from "../errors.js";
import { OidcAuthenticator } from "./oidc.js";
import { anyOf } from "./principal.js";
import { generateToken, hashToken, parseTokensFile, StaticTokenAuthenticator } from "./static-tokens.js";

const refusedWith = (code: status, pattern: RegExp, secret?: string) => (err: ApiError) => {
  assert.equal(err.code, code, err.message);
  assert.match(err.message, pattern);
  if (secret) assert.ok(!err.message.includes(secret) && !JSON.stringify(err.details).includes(secret), "the token is never echoed");
  return true;
};

test("static tokens — a known token proves its name and role; missing, unknown and expired ones are UNAUTHENTICATED without echo", async () => {
  const alice = generateToken();
  const old = generateToken();
  const auth = new StaticTokenAuthenticator(
    [
      { name: "alice", role: "operator", sha256: hashToken(alice) },
      { name: "old", role: "admin", sha256: hashToken(old), expires: "2026-01-01T00:00:00Z" },
    ],
    { now: () => Date.parse("2026-06-01T00:00:00Z") },
  );
  assert.deepEqual(await auth.authenticate(`Bearer ${alice}`), { name: "alice", role: "operator", via: "token" });
  await assert.rejects(auth.authenticate(undefined), refusedWith(status.UNAUTHENTICATED, /no bearer token/));
  await assert.rejects(auth.authenticate(alice), refusedWith(status.UNAUTHENTICATED, /not 'Bearer <token>'/, alice));
  const stranger = generateToken();
  await assert.rejects(auth.authenticate(`Bearer ${stranger}`), refusedWith(status.UNAUTHENTICATED, /unknown token/, stranger));
  await assert.rejects(auth.authenticate(`Bearer ${old}`), refusedWith(status.UNAUTHENTICATED, /"old" expired/, old));
});

test("tokens file — entries are validated naming the entry and field; a plain token in place of its hash is refused", () => {
  const ok = parseTokensFile(JSON.stringify({ tokens: [{ name: "ci", role: "viewer", sha256: hashToken("t") }] }), "tokens.json");
  assert.equal(ok[0]!.name, "ci");
  assert.throws(() => parseTokensFile("{", "tokens.json"), /tokens\.json: not JSON/);
  assert.throws(
    () => parseTokensFile(JSON.stringify({ tokens: [{ name: "ci", role: "root", sha256: hashToken("t") }] }), "tokens.json"),
    /tokens\.json: tokens\.0\.role: role must be one of viewer, operator, admin/,
  );
  assert.throws(
    () => parseTokensFile(JSON.stringify({ tokens: [{ name: "ci", role: "viewer", sha256: "mbl_plaintext" }] }), "tokens.json"),
    /tokens\.0\.sha256: .*not the token/,
  );
  const dup = { name: "ci", role: "viewer", sha256: hashToken("t") };
  assert.throws(() => parseTokensFile(JSON.stringify({ tokens: [dup, dup] }), "t.json"), /tokens\.1\.name: "ci" appears twice/);
});

/** A JWKS served on loopback for the test's own keys, as an identity provider would. */
async function jwksServer() {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
  const server = http.createServer((_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  const sign = (claims: Record<string, unknown>, opts: { issuer?: string; audience?: string; exp?: string | number; key?: Parameters<SignJWT["sign"]>[0] } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setIssuer(opts.issuer ?? "https://idp.example")
      .setAudience(opts.audience ?? "mambalign")
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? "5m")
      .sign(opts.key ?? privateKey);
  return { url, sign, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test("OIDC — a JWT signed by the provider's JWKS key proves its subject and role claim; wrong issuer, audience, key, expiry or role refused", async () => {
  const idp = await jwksServer();
  try {
    const auth = new OidcAuthenticator({ issuer: "https://idp.example", audience: "mambalign", jwksUrl: idp.url, roleClaim: "mambalign_role" });
    const good = await idp.sign({ sub: "bob@example.org", mambalign_role: "operator" });
    assert.deepEqual(await auth.authenticate(`Bearer ${good}`), { name: "bob@example.org", role: "operator", via: "oidc" });
    // A list of roles: the highest named counts.
    const many = await idp.sign({ sub: "carol", mambalign_role: ["viewer", "admin", "nonsense"] });
    assert.equal((await auth.authenticate(`Bearer ${many}`)).role, "admin");

    const issuer = await idp.sign({ sub: "x", mambalign_role: "admin" }, { issuer: "https://evil.example" });
    await assert.rejects(auth.authenticate(`Bearer ${issuer}`), refusedWith(status.UNAUTHENTICATED, /"iss" claim/, issuer));
    const audience = await idp.sign({ sub: "x", mambalign_role: "admin" }, { audience: "other" });
    await assert.rejects(auth.authenticate(`Bearer ${audience}`), refusedWith(status.UNAUTHENTICATED, /"aud" claim/, audience));
    const expired = await idp.sign({ sub: "x", mambalign_role: "admin" }, { exp: Math.floor(Date.now() / 1000) - 120 });
    await assert.rejects(auth.authenticate(`Bearer ${expired}`), refusedWith(status.UNAUTHENTICATED, /expired/, expired));
    const forged = await idp.sign({ sub: "x", mambalign_role: "admin" }, { key: (await generateKeyPair("ES256")).privateKey });
    await assert.rejects(auth.authenticate(`Bearer ${forged}`), refusedWith(status.UNAUTHENTICATED, /signature/, forged));
    const noRole = await idp.sign({ sub: "x", mambalign_role: "root" });
    await assert.rejects(auth.authenticate(`Bearer ${noRole}`), refusedWith(status.UNAUTHENTICATED, /names no role/, noRole));
  } finally {
    await idp.close();
  }
});

test("anyOf — a static token and an OIDC token both work on one server; the identity provider down is UNAVAILABLE, not a refusal", async () => {
  const idp = await jwksServer();
  const ci = generateToken();
  const oidc = new OidcAuthenticator({ issuer: "https://idp.example", audience: "mambalign", jwksUrl: idp.url, roleClaim: "role" });
  const auth = anyOf([new StaticTokenAuthenticator([{ name: "ci", role: "viewer", sha256: hashToken(ci) }]), oidc]);
  try {
    assert.equal((await auth.authenticate(`Bearer ${ci}`)).name, "ci");
    assert.equal((await auth.authenticate(`Bearer ${await idp.sign({ sub: "dan", role: "viewer" })}`)).name, "dan");
    await assert.rejects(auth.authenticate(`Bearer ${generateToken()}`), refusedWith(status.UNAUTHENTICATED, /unknown token/));
  } finally {
    await idp.close();
  }
  const downAuth = new OidcAuthenticator({ issuer: "https://idp.example", audience: "mambalign", jwksUrl: idp.url, roleClaim: "role" });
  const other = await jwksServer();
  try {
    const token = await other.sign({ sub: "dan", role: "viewer" });
    await assert.rejects(downAuth.authenticate(`Bearer ${token}`), refusedWith(status.UNAVAILABLE, /identity provider's keys/, token));
  } finally {
    await other.close();
  }
});
