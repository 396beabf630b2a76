// repo — self-contained: nothing outside docs/ reads the reading material beside our checkout (a fresh
// clone has nothing beside it). The forbidden spellings are built at run time so this file passes its own check.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "@mambalign/core/testing";

const SCRIPT = "scripts/check-self-contained.sh";
const SHARED = ["..", "shared"].join("/");

function check(cwd: string) {
  return spawnSync("bash", [path.join(cwd, SCRIPT)], { cwd, encoding: "utf8" });
}

test(`repo — self-contained: no tracked file outside docs/ refers to ${SHARED}`, () => {
  const r = check(REPO_ROOT);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test(`repo — self-contained: the check fails on a tracked file that reads ${SHARED}, and names it`, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "self-contained-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  git("init", "-q");
  for (const d of ["scripts", "docs", "tests", "src"]) mkdirSync(path.join(dir, d));
  copyFileSync(path.join(REPO_ROOT, SCRIPT), path.join(dir, SCRIPT));
  writeFileSync(path.join(dir, "docs/notes.txt"), `background: ${SHARED}/data/README.md\n`);
  writeFileSync(path.join(dir, "README.md"), `see ${SHARED}/TOOLING.md\n`);
  git("add", "-A");
  assert.equal(check(dir).status, 0, "docs/ and Markdown may point at it");
  writeFileSync(path.join(dir, "tests/test_x.py"), `DATA = ROOT.parent / "${"shared"}" / "data"\n`);
  writeFileSync(path.join(dir, "src/x.ts"), `const d = path.resolve(root, "${SHARED}/data/mt_bench");\n`);
  git("add", "-A");
  const r = check(dir);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^tests\/test_x\.py:1:/m);
  assert.match(r.stdout, /^src\/x\.ts:1:/m);
});
