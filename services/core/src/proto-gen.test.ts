import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? walk(p, base) : [path.relative(base, p)];
  });
}

test("generated code — services/core/src/gen matches what scripts/gen-proto.sh makes from proto/", () => {
  const out = mkdtempSync(path.join(tmpdir(), "gen-"));
  try {
    execFileSync("bash", [path.join(root, "scripts/gen-proto.sh"), out], { stdio: "pipe" });
    const committed = path.join(root, "services/core/src/gen");
    const fresh = walk(out).sort();
    assert.deepEqual(walk(committed).sort(), fresh, "file list differs: run `npm run gen`");
    for (const f of fresh) {
      assert.equal(
        readFileSync(path.join(committed, f), "utf8"),
        readFileSync(path.join(out, f), "utf8"),
        `${f} is stale: run \`npm run gen\``,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("contracts — buf lint is clean on proto/", () => {
  const buf = path.join(root, "node_modules/.bin/buf");
  // execFileSync throws with buf's findings in the message when lint fails.
  execFileSync(buf, ["lint"], { cwd: root, stdio: "pipe" });
});
