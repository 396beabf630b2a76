// cli — the embedded control plane's API explored with grpcurl through gRPC server reflection (no
// .proto files on the client side): list every service, describe a method and a message, make calls.
// Real processes: grpcurl (scripts/grpcurl.sh install) against startEmbedded's NATS and services.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createLogger } from "@mambalign/core";
import { REPO_ROOT } from "@mambalign/core/testing";
import { type EmbeddedSystem, startEmbedded } from "./embedded/embedded-system.js";

const run = promisify(execFile);

/** GRPCURL_BIN, else <repo>/.cache/bin/grpcurl, else grpcurl on PATH. */
function findGrpcurl(): string {
  const dirs = [path.join(REPO_ROOT, ".cache", "bin"), ...(process.env.PATH ?? "").split(path.delimiter)].filter(Boolean);
  const found = process.env.GRPCURL_BIN ?? dirs.map((d) => path.join(d, "grpcurl")).find((p) => existsSync(p));
  if (!found || !existsSync(found)) throw new Error("grpcurl not found (GRPCURL_BIN, .cache/bin, PATH); run `bash scripts/grpcurl.sh install`");
  return found;
}

/** grpcurl's exit code for a call that ended with a gRPC status is 64 + the status code. */
const GRPCURL_NOT_FOUND = 64 + 5;

describe("gRPC server reflection — grpcurl against the embedded control plane", () => {
  let stateDir: string;
  let sys: EmbeddedSystem;
  let grpcurl: string;
  const call = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await run(grpcurl, ["-plaintext", "-max-time", "20", ...args], { timeout: 30_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== "number") throw err;
      return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
    }
  };

  before(async () => {
    grpcurl = findGrpcurl();
    stateDir = await mkdtemp(path.join(tmpdir(), "mambalign-reflection-"));
    const env = { ...process.env, XDG_CONFIG_HOME: path.join(stateDir, "config") };
    sys = await startEmbedded({ stateDir, grpcPort: 0, metricsPort: 0, host: "127.0.0.1", logger: createLogger("test", "silent"), env });
  });
  after(async () => {
    await sys?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  test("list shows every mambalign service the server serves", { timeout: 30_000 }, async () => {
    const r = await call(sys.addr, "list");
    assert.equal(r.code, 0, r.stderr);
    const services = r.stdout.trim().split("\n").filter((s) => s.startsWith("mambalign."));
    assert.deepEqual(services.sort(), [
      "mambalign.v1.DatasetService",
      "mambalign.v1.EvaluatorService",
      "mambalign.v1.PipelineService",
      "mambalign.v1.RegistryService",
      "mambalign.v1.TrainerService",
    ]);
  });

  test("describe shows a method's signature and a message's fields", { timeout: 30_000 }, async () => {
    const method = await call(sys.addr, "describe", "mambalign.v1.PipelineService.WatchRun");
    assert.equal(method.code, 0, method.stderr);
    assert.match(method.stdout, /rpc WatchRun \( \.mambalign\.v1\.WatchRunRequest \) returns \( stream \.mambalign\.v1\.WatchRunResponse \)/);
    const message = await call(sys.addr, "describe", "mambalign.v1.StartRunRequest");
    assert.equal(message.code, 0, message.stderr);
    assert.match(message.stdout, /string recipe_yaml = 1;/);
    assert.match(message.stdout, /string request_id = 2;/);
  });

  test("calls work with the bearer token: ListRuns answers, GetRun of an unknown id is NotFound naming it; no token is Unauthenticated", { timeout: 30_000 }, async () => {
    const bearer = ["-H", `authorization: Bearer ${sys.clientSecurity.token}`];
    const list = await call(...bearer, sys.addr, "mambalign.v1.PipelineService/ListRuns");
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), {});
    const anonymous = await call(sys.addr, "mambalign.v1.PipelineService/ListRuns");
    assert.equal(anonymous.code, 64 + 16, anonymous.stderr); // grpcurl exits 64 + the status code
    assert.match(anonymous.stderr, /Code: Unauthenticated/);
    const get = await call(...bearer, "-d", '{"id": "no-such-run"}', sys.addr, "mambalign.v1.PipelineService/GetRun");
    assert.equal(get.code, GRPCURL_NOT_FOUND, get.stderr);
    assert.match(get.stderr, /Code: NotFound/);
    assert.match(get.stderr, /no-such-run/);
  });
});
