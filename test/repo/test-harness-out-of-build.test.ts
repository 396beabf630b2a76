// repo — test harness out of the build: production tsconfigs compile no test or harness file, production
// sources import none, and a package's test exports resolve only under the "development" condition.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "@mambalign/core/testing";

const SERVICES = path.join(REPO_ROOT, "services");
const packages = readdirSync(SERVICES).filter((p) => readdirSync(path.join(SERVICES, p)).includes("tsconfig.json"));
const TEST_FILE = /\.test\.ts$|\/test-support\//;
const TEST_IMPORT = /from\s+["'](?:[^"']*\/test-support\/[^"']*|@mambalign\/[a-z]+\/testing[^"']*)["']/;

test("repo — test harness out of the build: no production tsconfig compiles a test or harness file, nor imports one", () => {
  const tsc = path.join(REPO_ROOT, "node_modules/.bin/tsc");
  for (const p of packages) {
    const r = spawnSync(tsc, ["--showConfig", "-p", path.join(SERVICES, p, "tsconfig.json")], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const files = (JSON.parse(r.stdout) as { files: string[] }).files.map((f) => path.resolve(SERVICES, p, f));
    assert.ok(files.length > 0, `${p}: no files`);
    assert.deepEqual(files.filter((f) => TEST_FILE.test(f)), [], `${p}: test files in the production build`);
    const importers = files.filter((f) => TEST_IMPORT.test(readFileSync(f, "utf8")));
    assert.deepEqual(importers, [], `${p}: production sources importing a test harness`);
  }
});

test("repo — test harness out of the build: test-only package exports resolve only under the development condition", () => {
  for (const p of packages) {
    const { exports = {} } = JSON.parse(readFileSync(path.join(SERVICES, p, "package.json"), "utf8")) as { exports?: Record<string, Record<string, string>> };
    for (const [key, target] of Object.entries(exports)) {
      const testOnly = Object.values(target).some((t) => t.includes("test-support/"));
      if (key.includes("testing") || testOnly) assert.deepEqual(Object.keys(target), ["development"], `${p} exports ${key}`);
    }
  }
});
