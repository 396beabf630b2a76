// cli — the command line itself: --version and shell completion generated from the commands.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { CLI_VERSION, runCli } from "./program.js";
import { collect } from "../test-support/collect-output.js";

async function cli(args: string[]) {
  const out = collect();
  const err = collect();
  const code = await runCli(args, { out, err, env: {}, cwd: "/" });
  return { code, out: out.text(), err: err.text() };
}

test("mambalign --version prints the package's version", async () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  assert.equal(CLI_VERSION, pkg.version);
  const r = await cli(["--version"]);
  assert.equal(r.code, 0);
  assert.match(r.out, new RegExp(`^mambalign ${pkg.version.replaceAll(".", "\\.")} `));
});

test("mambalign completion bash completes commands, subcommands and options in a real bash", { skip: spawnSync("bash", ["--version"]).status !== 0 }, async () => {
  const script = (await cli(["completion", "bash"])).out;
  const complete = (...words: string[]) => {
    const r = spawnSync(
      "bash",
      ["-c", `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _mambalign; echo "\${COMPREPLY[@]}"`],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim().split(/\s+/);
  };
  assert.ok(["up", "run", "status", "cancel", "adapters", "completion"].every((c) => complete("mambalign", "").includes(c)));
  assert.deepEqual(complete("mambalign", "adapters", "s"), ["show"]);
  assert.ok(complete("mambalign", "-o", "json", "adapters", "").includes("list"), "option values do not move down the tree");
  assert.ok(complete("mambalign", "run", "--").includes("--watch"));
  const zsh = await cli(["completion", "zsh"]);
  assert.match(zsh.out, /bashcompinit/);
  const bad = await cli(["completion", "fish"]);
  assert.equal(bad.code, 2);
});
