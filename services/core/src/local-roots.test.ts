// local roots — the confinement of caller-named local paths, as configured from the environment.
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { status } from "@grpc/grpc-js";
import { loadConfig } from "./config.js";
import type { ApiError } from "./errors.js";

const denied = (e: ApiError) => e.code === status.PERMISSION_DENIED && e.details.field === "f";

test("local roots — none by default: no local path can be read or written", async () => {
  const config = loadConfig("t", { MAMBALIGN_STORE: "fs" });
  assert.deepEqual([config.dataRoots.roots, config.exportRoots.roots], [[], []]);
  await assert.rejects(config.dataRoots.existing("/etc/hostname", "f"), (e: ApiError) => denied(e) && /MAMBALIGN_DATA_ROOTS: none are configured/.test(e.message));
  await assert.rejects(config.exportRoots.directory(os.tmpdir(), "f"), (e: ApiError) => denied(e) && /MAMBALIGN_EXPORT_ROOTS/.test(e.message));
});

test("local roots — configured roots admit their own files and directories only, by real path", async () => {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-roots-"));
  try {
    const [a, b] = [path.join(tmp, "a"), path.join(tmp, "b")];
    await fsp.mkdir(a);
    await fsp.mkdir(b);
    await fsp.writeFile(path.join(a, "x.jsonl"), "{}\n");
    const config = loadConfig("t", { MAMBALIGN_STORE: "fs", MAMBALIGN_DATA_ROOTS: `${a}${path.delimiter}`, MAMBALIGN_EXPORT_ROOTS: a });
    assert.deepEqual(config.dataRoots.roots, [a]);
    assert.equal(await config.dataRoots.existing(path.join(a, "x.jsonl"), "f"), await fsp.realpath(path.join(a, "x.jsonl")));
    await assert.rejects(config.dataRoots.existing(path.join(a, "none.jsonl"), "f"), (e: ApiError) => e.code === status.NOT_FOUND);
    await assert.rejects(config.dataRoots.existing(path.join(b, "x.jsonl"), "f"), denied);
    // A sibling whose name starts like the root is not inside it.
    await assert.rejects(config.dataRoots.existing(`${a}x/y.jsonl`, "f"), denied);
    await assert.rejects(config.exportRoots.directory(path.join(a, "x.jsonl", "sub"), "f"), (e: ApiError) => e.code === status.INVALID_ARGUMENT && e.details.field === "f");
    await assert.rejects(config.exportRoots.directory(path.join(a, "x.jsonl"), "f"), (e: ApiError) => e.code === status.INVALID_ARGUMENT);
    const made = await config.exportRoots.directory(path.join(a, "out", "deep"), "f");
    assert.ok((await fsp.stat(made)).isDirectory());
    await fsp.symlink(b, path.join(a, "to-b"));
    await assert.rejects(config.exportRoots.directory(path.join(a, "to-b", "new"), "f"), denied);
    assert.deepEqual(await fsp.readdir(b), [], "mkdir did not follow the link out");
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});
