// cli — client commands against the real embedded control plane (NATS, fs store, every service):
// exit codes, -o json|yaml, cancel, and messages that name what the user typed.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ApiError, callUnary, freePort } from "@mambalign/core";
import YAML from "yaml";
import { pipelineClient } from "./clients.js";
import { runCli } from "./program.js";
import { collect } from "../test-support/collect-output.js";
import { startTestSystem, type TestSystem } from "../test-support/embedded-system.js";

const SFT_ROW = JSON.stringify({ messages: [{ role: "user", content: "abc" }, { role: "assistant", content: "cba" }] });

describe("mambalign client commands", () => {
  let sys: TestSystem;
  let dir: string;
  const recipe = async (file: string, mixer: string, datasets = "") => {
    const p = path.join(dir, file);
    await writeFile(p, `name: ${file.replace(/\.yaml$/, "")}\nmodel_name_or_path: preset:tiny-mamba-char\nstages: [sft]\n${datasets}sft: { dataset_mixer: { ${mixer}: 1.0 } }\n`);
    return p;
  };

  before(async () => {
    sys = await startTestSystem();
    dir = path.join(sys.stateDir, "recipes");
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, "sft.jsonl"), Array.from({ length: 20 }, () => SFT_ROW).join("\n") + "\n");
  });
  after(async () => {
    await sys?.stop();
  });

  test("logs -f of an unknown run fails at once naming the run, like status", { timeout: 30_000 }, async () => {
    const status = await sys.cli(["status", "no-such-run"]);
    const logs = await sys.cli(["logs", "-f", "no-such-run"]);
    assert.equal(status.code, 1);
    assert.equal(logs.code, 1);
    assert.match(logs.err, /run "no-such-run" not found/);
  });

  test("an unknown dataset id fails recipe check, run and StartRun naming sft.dataset_mixer", async () => {
    const file = await recipe("unknown-ds.yaml", "no-such-dataset");
    const check = await sys.cli(["recipe", "check", file]);
    assert.equal(check.code, 1);
    assert.match(check.err, /^error: sft\.dataset_mixer\.no-such-dataset: unknown dataset/m);
    const run = await sys.cli(["run", file]);
    assert.equal(run.code, 1);
    assert.match(run.err, /nothing was submitted/);
    // Straight through the API (no CLI check first): INVALID_ARGUMENT naming the recipe key.
    const client = pipelineClient(sys.system.addr);
    try {
      const yaml = "name: x\nmodel_name_or_path: preset:tiny-mamba-char\nstages: [sft]\nsft: { dataset_mixer: { no-such-dataset: 1.0 } }\n";
      await assert.rejects(callUnary(client.startRun.bind(client), { recipeYaml: yaml, requestId: "unknown-ds-1" }), (err: ApiError) => {
        assert.match(err.message, /sft\.dataset_mixer/);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test("a run whose data cannot be prepared fails naming the recipe key, its stages end cancelled, and status exits 1", { timeout: 60_000 }, async () => {
    const file = await recipe("missing-data.yaml", "d", "datasets: { d: ./missing.jsonl }\n");
    const started = await sys.cli(["-o", "json", "run", file]);
    assert.equal(started.code, 0, started.err);
    const id = (JSON.parse(started.out) as { id: string }).id;
    const follow = await sys.cli(["logs", "-f", id]);
    assert.equal(follow.code, 1, "following a failed run exits 1");
    const events = await sys.cli(["logs", "-f", id, "-o", "json"]);
    assert.equal(events.code, 1);
    const lines = events.out.trim().split("\n").map((l) => JSON.parse(l) as { run?: { status: string } });
    assert.equal(lines.at(-1)!.run!.status, "RUN_STATUS_FAILED", "-o json streams the events, one JSON line each");
    const status = await sys.cli(["status", id]);
    assert.equal(status.code, 1, "status of a failed run exits 1");
    assert.match(status.out, /status +failed: .*sft\.dataset_mixer\.d: /);
    assert.doesNotMatch(status.out, /sources\[0\]/);
    const json = await sys.cli(["status", id, "-o", "json"]);
    const run = JSON.parse(json.out) as { status: string; stages: { status: string }[] };
    assert.equal(run.status, "RUN_STATUS_FAILED");
    assert.deepEqual(run.stages.map((s) => s.status), ["STAGE_STATUS_CANCELLED"]);
  });

  test("cancel RUN cancels a run; status then exits 1; an unknown run is not found", async () => {
    const file = await recipe("to-cancel.yaml", "d", "datasets: { d: ./sft.jsonl }\n");
    const started = await sys.cli(["-o", "yaml", "run", file]);
    assert.equal(started.code, 0, started.err);
    const id = (YAML.parse(started.out) as { id: string }).id;
    const cancel = await sys.cli(["cancel", id]);
    assert.equal(cancel.code, 0, cancel.err);
    assert.equal(cancel.out, `run ${id} cancelled\n`);
    const status = await sys.cli(["status", id]);
    assert.equal(status.code, 1);
    assert.match(status.out, /status +cancelled/);
    const unknown = await sys.cli(["cancel", "no-such-run"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /run "no-such-run" not found/);
  });

  test("adapters show of a name nobody registered says so without talking of an alias", async () => {
    const r = await sys.cli(["adapters", "show", "nonsense"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /no adapter or alias named "nonsense"/);
    assert.doesNotMatch(r.err, /@latest/);
  });

  test("-o json and -o yaml print data commands' results as data", async () => {
    const runs = await sys.cli(["status", "-o", "json"]);
    assert.equal(runs.code, 0, runs.err);
    assert.ok(Array.isArray(JSON.parse(runs.out)));
    const versions = await sys.cli(["-o", "yaml", "adapters", "list"]);
    assert.deepEqual(YAML.parse(versions.out), []);
    const datasets = await sys.cli(["datasets", "list", "-o", "json"]);
    assert.ok(Array.isArray(JSON.parse(datasets.out)));
    const bad = await sys.cli(["-o", "xml", "status"]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /text, json, yaml/);
  });
});

describe("mambalign with no API to talk to", () => {
  test("a dropped or absent server is reported as such with what to do, not as an internal error", async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    for (const args of [["logs", "-f", "some-run"], ["status"]]) {
      const out = collect();
      const err = collect();
      const code = await runCli(["--addr", addr, ...args], { out, err, env: {}, cwd: "/" });
      assert.equal(code, 1);
      assert.doesNotMatch(err.text(), /internal error/);
      assert.match(err.text(), new RegExp(`API at ${addr}.*(mambalign up|mambalign logs -f some-run)`));
    }
  });
});
