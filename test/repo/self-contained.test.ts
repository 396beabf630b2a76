// repo — self-contained: nothing outside docs/ reads ../shared (a fresh clone has nothing beside it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "@mambalign/core/testing";

const SCRIPT = "scripts/check-self-contained.sh";

function check(cwd: string) {
  return spawnSync("bash", [path.join(cwd, SCRIPT)], { cwd, encoding: "utf8" });
}

test("repo — self-contained: no tracked file outside docs/ refers to ../shared", () => {
  const r = check(REPO_ROOT);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("repo — self-contained: the check fails on a tracked file that reads ../shared, and names it", (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), "self-contained-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const git = (...args: string[]) => spawnSync("git", ["-C", dir, ...args], { encoding: "utf8" });
  git("init", "-q");
  mkdirSync(path.join(dir, "scripts"));
  mkdirSync(path.join(dir, "docs"));
  mkdirSync(path.join(dir, "tests"));
  copyFileSync(path.join(REPO_ROOT, SCRIPT), path.join(dir, SCRIPT));
  writeFileSync(path.join(dir, "docs/notes.txt"), "background: ../shared/data/README.md\n");
  writeFileSync(path.join(dir, "README.md"), "see ../shared/TOOLING.md\n");
  git("add", "-A");
  assert.equal(check(dir).status, 0, "docs/ and Markdown may point at ../shared");
  writeFileSync(path.join(dir, "tests/test_x.py"), 'DATA = ROOT.parent / "shared" / "data"\n');
  git("add", "-A");
  const r = check(dir);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^tests\/test_x\.py:1:/m);
});
