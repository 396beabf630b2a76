// cli — `mambalign recipe check`: exit codes and messages naming the key, offline.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { runCli } from "./program.js";
import { collect } from "../test-support/collect-output.js";

const REPO = path.resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
const HANDBOOK_RECIPES = path.join(REPO, "examples/recipes/handbook");

async function cli(args: string[], cwd = REPO) {
  const out = collect();
  const err = collect();
  const code = await runCli(args, { out, err, env: {}, cwd });
  return { code, out: out.text(), err: err.text() };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(n) ? [p] : [];
  });
}

describe("mambalign recipe check", () => {
  let tmp: string;
  before(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), "mambalign-cli-"));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  test("accepts every alignment-handbook Zephyr recipe and prints the normalised form", async () => {
    const files = yamlFiles(HANDBOOK_RECIPES);
    assert.ok(files.length >= 6, `recipes in ${HANDBOOK_RECIPES}`);
    for (const f of files) {
      const r = await cli(["recipe", "check", f]);
      assert.equal(r.code, 0, `${f}: ${r.err}`);
      assert.match(r.out, /^name: /m, f);
      assert.match(r.out, /^model_name_or_path: /m, f);
      assert.match(r.err, /: ok/);
    }
  });

  test("--json prints {ok, recipe, issues} with proto3-JSON recipe", async () => {
    const f = path.join(HANDBOOK_RECIPES, "zephyr-7b-beta/dpo/config_qlora.yaml");
    const r = await cli(["recipe", "check", "--json", "--worker", "cpu", f]);
    assert.equal(r.code, 0);
    const doc = JSON.parse(r.out) as { ok: boolean; recipe: { stages: string[]; dpo: { dpo: { beta: number } } }; issues: { key: string; fatal?: boolean }[] };
    assert.equal(doc.ok, true);
    assert.deepEqual(doc.recipe.stages, ["STAGE_DPO"]);
    assert.equal(doc.recipe.dpo.dpo.beta, 0.01);
    assert.ok(doc.issues.some((i) => i.key === "load_in_4bit"), "warnings are listed with their keys");
  });

  test("--worker: a QLoRA recipe names bitsandbytes only for a worker that lacks it", async () => {
    const f = path.join(HANDBOOK_RECIPES, "zephyr-7b-beta/dpo/config_qlora.yaml");
    const image = await cli(["recipe", "check", f]);
    assert.equal(image.code, 0, image.err);
    assert.doesNotMatch(image.err, /bitsandbytes/, "the GPU trainer image (default) carries bitsandbytes");
    const cpu = await cli(["recipe", "check", "--worker", "cpu", f]);
    assert.equal(cpu.code, 0);
    assert.match(cpu.err, /^warning: load_in_4bit: .*needs bitsandbytes and CUDA, which a CPU worker with the base runtime lacks/m);
    assert.match(cpu.err, /^warning: optim: paged_adamw_32bit needs bitsandbytes and CUDA/m);
    const unknown = await cli(["recipe", "check", "--worker", "tpu", f]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /--worker: unknown worker "tpu"; known: gpu-image, cpu/);
  });

  test("the project's example recipes (original Mamba project style) pass with warnings", async () => {
    for (const f of yamlFiles(path.join(REPO, "examples/recipes"))) {
      const r = await cli(["recipe", "check", f]);
      assert.equal(r.code, 0, `${f}: ${r.err}`);
    }
  });

  test("fatal issues exit 1 with messages naming each key", async () => {
    const bad = path.join(tmp, "bad.yaml");
    await writeFile(
      bad,
      ["model_name_or_path: state-spaces/mamba-130m-hf", "dataset_mixer: { ./prefs.jsonl: 1.0 }", "beta: -1", "lora_target_modules: [conv1d]", "use_peft: true", ""].join("\n"),
    );
    const r = await cli(["recipe", "check", bad]);
    assert.equal(r.code, 1);
    assert.equal(r.out, "", "nothing printed on stdout for an invalid recipe");
    assert.match(r.err, /^error: beta: /m);
    assert.match(r.err, /^error: lora_target_modules(\[0\])?: .*conv1d/m);
    assert.match(r.err, /invalid recipe \(2 errors\)/);
    const json = await cli(["recipe", "check", "--json", bad]);
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.out) as { ok: boolean }).ok, false);
  });

  test("malformed YAML and a missing file are errors that say so", async () => {
    const broken = path.join(tmp, "broken.yaml");
    await writeFile(broken, "model_name_or_path: [unclosed\n");
    const r = await cli(["recipe", "check", broken]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: \(yaml\): /m);
    const missing = await cli(["recipe", "check", path.join(tmp, "nope.yaml")]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /cannot read recipe .*nope\.yaml: no such file/);
  });

  test("relative dataset paths resolve against the recipe file's directory", async () => {
    const dir = path.join(tmp, "sub");
    const f = path.join(tmp, "rel.yaml");
    await writeFile(f, "model_name_or_path: preset:tiny-mamba-char\nstages: [sft]\ndatasets: { d: ./sub/data.jsonl }\nsft: { dataset_mixer: { d: 1.0 } }\n");
    const r = await cli(["recipe", "check", "rel.yaml"], tmp);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`d: ${dir}/data.jsonl`));
  });

  test("the installed command exits non-zero on a bad recipe, without a server", () => {
    const bad = path.join(tmpdir(), `mambalign-cli-bin-${process.pid}.yaml`);
    writeFileSync(bad, "model_name_or_path: preset:tiny-mamba-char\nstages: [dpo, sft]\n");
    const r = spawnSync(process.execPath, [path.join(REPO, "services/cli/bin/mambalign.js"), "recipe", "check", bad], { encoding: "utf8", env: { ...process.env, MAMBALIGN_ADDR: "127.0.0.1:1" } });
    rmSync(bad, { force: true });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^error: stages\[1\]: stage sft comes after dpo/m);
  });
});
