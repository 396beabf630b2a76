import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { makeUnwritable } from "../../test-support/unwritable-dir.js";
import { isRetryable } from "../errors.js";
import { InvalidKeyError, StoreError, StoreUnavailableError } from "./errors.js";
import { FsObjectStore } from "./fs-object-store.js";
import { objectStoreContract } from "../../test-support/object-store.contract.js";

async function tempStore() {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), "fs-store-"));
  return { root, store: new FsObjectStore({ root }), cleanup: () => fsp.rm(root, { recursive: true, force: true }) };
}

objectStoreContract("FsObjectStore", tempStore);

describe("FsObjectStore — filesystem specifics", () => {
  it("an unwritable store directory fails writes as retryable (unavailable), and the same writes succeed once it is writable again", async (t) => {
    const { root, store, cleanup } = await tempStore();
    try {
      await store.put("runs/r1/a.txt", "a"); // the staging area and a prefix exist
      const restore = await makeUnwritable([root, path.join(root, ".staging"), path.join(root, "runs"), path.join(root, "runs", "r1")]);
      if (!restore) return t.skip("cannot make a directory unwritable here (root without chattr +i)");
      try {
        for (const write of [() => store.put("runs/r1/b.txt", "b"), () => store.put("checkpoints/new/x", Buffer.from("x")), () => store.copy("runs/r1/a.txt", "runs/r1/c.txt")]) {
          await assert.rejects(write(), (e: unknown) => e instanceof StoreUnavailableError && isRetryable(e) && /not usable now|staging/.test(e.message));
        }
      } finally {
        await restore();
      }
      await store.put("runs/r1/b.txt", "b");
      await store.put("checkpoints/new/x", Buffer.from("x"));
      await store.copy("runs/r1/a.txt", "runs/r1/c.txt");
      assert.equal((await store.get("runs/r1/c.txt")).toString(), "a");
    } finally {
      await cleanup();
    }
  });

  it("a missing source file of putFile is the caller's error, not a missing object or a store outage", async () => {
    const { store, cleanup } = await tempStore();
    try {
      await assert.rejects(store.putFile("k", "/nonexistent/mambalign-src"), (e: unknown) => !(e instanceof StoreError) && (e as { code?: string }).code === "ENOENT");
    } finally {
      await cleanup();
    }
  });

  it("keeps in-progress writes out of list() and refuses keys in the staging area", async () => {
    const { root, store, cleanup } = await tempStore();
    try {
      await store.put("a/b.txt", "x");
      await fsp.mkdir(path.join(root, ".staging"), { recursive: true });
      await fsp.writeFile(path.join(root, ".staging", "half"), "partial");
      const keys: string[] = [];
      for await (const o of store.list("")) keys.push(o.key);
      assert.deepEqual(keys, ["a/b.txt"]);
      await assert.rejects(store.put(".staging/x", "y"), InvalidKeyError);
    } finally {
      await cleanup();
    }
  });

  it("uri() is a file:// url of the object's path; uris outside the root are refused", async () => {
    const { root, store, cleanup } = await tempStore();
    try {
      assert.equal(store.uri("a/b c.txt"), pathToFileURL(path.join(root, "a", "b c.txt")).href);
      const outside = pathToFileURL(path.join(root, "..", "other", "x")).href;
      assert.throws(() => store.keyFromUri(outside), (e: unknown) => e instanceof InvalidKeyError && e.message.includes(outside));
    } finally {
      await cleanup();
    }
  });

  it("explains a key that collides with an existing object's directory", async () => {
    const { store, cleanup } = await tempStore();
    try {
      await store.put("a", "file");
      await assert.rejects(store.put("a/b", "x"), (e: unknown) => e instanceof StoreError && /parent of the key is an object/.test(e.message));
    } finally {
      await cleanup();
    }
  });

  it("delete removes directories it empties", async () => {
    const { root, store, cleanup } = await tempStore();
    try {
      await store.put("x/y/z.txt", "1");
      await store.delete("x/y/z.txt");
      assert.deepEqual((await fsp.readdir(root)).filter((n) => n !== ".staging"), []);
    } finally {
      await cleanup();
    }
  });
});
