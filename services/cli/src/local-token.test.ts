// cli — the local token of `mambalign up`: made once in the user's config directory, readable by the
// user only, and what the CLI uses when given no --token; without any token a command says what to do.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { StaticTokenAuthenticator, type TokenEntry } from "@mambalign/core";
import { runCli } from "./program.js";
import { configDir, ensureLocalToken, localTokenFile, readLocalToken } from "./local-token.js";
import { collect } from "../test-support/collect-output.js";
import { startTestSystem, type TestSystem } from "../test-support/embedded-system.js";

test("local token — made on first start under $XDG_CONFIG_HOME/mambalign, mode 0600 in a 0700 directory, then reused", async () => {
  const home = await mkdtemp(path.join(tmpdir(), "mambalign-token-"));
  try {
    const env = { XDG_CONFIG_HOME: path.join(home, "xdg") };
    assert.equal(readLocalToken(env), undefined);
    const token = ensureLocalToken(env);
    const file = localTokenFile(env);
    assert.equal(file, path.join(home, "xdg", "mambalign", "token"));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.equal(ensureLocalToken(env), token, "a second start keeps the token");
    assert.match(token, /^mbl_[A-Za-z0-9_-]{43}$/);
    // Without XDG_CONFIG_HOME (or with a relative one, which the spec says to ignore): ~/.config/mambalign.
    assert.equal(configDir({ HOME: home }), path.join(home, ".config", "mambalign"));
    assert.equal(configDir({ HOME: home, XDG_CONFIG_HOME: "rel" }), path.join(home, ".config", "mambalign"));
  } finally {
    await rm(home, { recursive: true, force: true });
  }
});

describe("cli — tokens against a running control plane", () => {
  let sys: TestSystem;
  before(async () => {
    sys = await startTestSystem();
  });
  after(async () => {
    await sys?.stop();
  });

  const cliWith = async (env: NodeJS.ProcessEnv, ...args: string[]) => {
    const out = collect();
    const err = collect();
    const code = await runCli(["--addr", sys.system.addr, ...args], { out, err, env, cwd: sys.stateDir });
    return { code, out: out.text(), err: err.text() };
  };

  test("the CLI uses the local token with no flag; no token at all is refused with what to do; a wrong --token is refused without echo", async () => {
    const withLocal = await sys.cli(["status"]);
    assert.equal(withLocal.code, 0, withLocal.err);
    const empty = await mkdtemp(path.join(tmpdir(), "mambalign-no-token-"));
    try {
      const none = await cliWith({ XDG_CONFIG_HOME: empty }, "status");
      assert.equal(none.code, 1);
      assert.match(none.err, /unauthenticated: no bearer token.*pass --token or set MAMBALIGN_TOKEN.*mambalign up/);
      const wrong = await cliWith({ XDG_CONFIG_HOME: empty }, "--token", "mbl_wrong-secret", "status");
      assert.equal(wrong.code, 1);
      assert.match(wrong.err, /unknown token/);
      assert.ok(!wrong.err.includes("mbl_wrong-secret"));
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  test("MAMBALIGN_TOKEN is used when set (no local token file needed)", async () => {
    const token = readLocalToken({ XDG_CONFIG_HOME: path.join(sys.stateDir, "config") })!;
    assert.ok(token);
    const env = { MAMBALIGN_TOKEN: token, XDG_CONFIG_HOME: "/nonexistent" };
    const r = await cliWith(env, "status");
    assert.equal(r.code, 0, r.err);
  });
});

test("mambalign token new — the printed entry authenticates the printed token with its name and role; bad input names the flag", async () => {
  const out = collect();
  const err = collect();
  assert.equal(await runCli(["-o", "json", "token", "new", "--name", "alice", "--role", "operator"], { out, err, env: {}, cwd: "/" }), 0, err.text());
  const { token, entry } = JSON.parse(out.text()) as { token: string; entry: TokenEntry };
  assert.notEqual(entry.sha256, token);
  assert.deepEqual(await new StaticTokenAuthenticator([entry]).authenticate(`Bearer ${token}`), { name: "alice", role: "operator", via: "token" });
  const bad = collect();
  assert.equal(await runCli(["token", "new", "--name", "alice", "--role", "root"], { out: collect(), err: bad, env: {}, cwd: "/" }), 1);
  assert.match(bad.text(), /--role: one of viewer, operator, admin/);
});
