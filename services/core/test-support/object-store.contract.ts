// One behavioural contract for every ObjectStore: fs-object-store.test.ts and
// s3-object-store.test.ts run it against FsObjectStore and S3ObjectStore (real MinIO).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { ChecksumMismatchError, InvalidKeyError, ObjectExistsError, ObjectNotFoundError } from "../src/store/errors.js";
import {
  copyPrefixWithManifest,
  downloadVerified,
  latestCompletePrefix,
  manifestKey,
  readManifest,
  sha256Hex,
  uploadDirWithManifest,
} from "../src/store/manifest.js";
import type { ObjectStore } from "../src/store/object-store.js";

export interface StoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

async function collect(it: AsyncIterable<{ key: string }>): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of it) keys.push(o.key);
  return keys;
}

async function writeTree(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, body] of Object.entries(files)) {
    const p = path.join(dir, ...rel.split("/"));
    await fsp.mkdir(path.dirname(p), { recursive: true });
    await fsp.writeFile(p, body);
  }
}

export function objectStoreContract(name: string, makeStore: () => Promise<StoreFixture>): void {
  describe(`${name} — ObjectStore contract`, () => {
    let fx: StoreFixture;
    let store: ObjectStore;
    let tmp: string;
    let n = 0;
    // Every test works under its own prefix so they never see each other's objects.
    const fresh = () => `t${++n}-${randomBytes(3).toString("hex")}`;

    before(async () => {
      fx = await makeStore();
      store = fx.store;
      tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "store-contract-"));
    });
    after(async () => {
      await fx?.cleanup();
      if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
    });

    it("put / get / stat round-trip strings, buffers and streams", async () => {
      const p = fresh();
      const bin = randomBytes(70_000);
      await store.put(`${p}/a.txt`, "héllo", { contentType: "text/plain" });
      await store.put(`${p}/b.bin`, bin);
      await store.put(`${p}/c.jsonl`, Readable.from([Buffer.from("{}\n"), Buffer.from("[]\n")]));
      assert.equal((await store.get(`${p}/a.txt`)).toString("utf8"), "héllo");
      assert.deepEqual(await store.get(`${p}/b.bin`), bin);
      assert.equal((await store.get(`${p}/c.jsonl`)).toString(), "{}\n[]\n");
      const st = await store.stat(`${p}/b.bin`);
      assert.equal(st?.key, `${p}/b.bin`);
      assert.equal(st?.size, bin.length);
      assert.ok(st?.lastModified instanceof Date);
      const chunks: Buffer[] = [];
      for await (const c of await store.getStream(`${p}/b.bin`)) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), bin);
      // A plain put overwrites.
      await store.put(`${p}/a.txt`, "v2");
      assert.equal((await store.get(`${p}/a.txt`)).toString(), "v2");
      await store.put(`${p}/empty`, "");
      assert.equal((await store.stat(`${p}/empty`))?.size, 0);
    });

    it("missing objects: get / getStream / copy throw ObjectNotFoundError naming the key, stat is null", async () => {
      const key = `${fresh()}/nope.txt`;
      assert.equal(await store.stat(key), null);
      for (const op of [() => store.get(key), () => store.getStream(key), () => store.copy(key, `${key}.copy`)]) {
        await assert.rejects(op, (err: unknown) => {
          assert.ok(err instanceof ObjectNotFoundError, String(err));
          assert.equal(err.key, key);
          assert.equal(err.retryable, false);
          assert.match(err.message, /nope\.txt/);
          return true;
        });
      }
      await store.delete(key); // deleting a missing key is fine
    });

    it("list is recursive, key-ordered and uses plain string prefixes", async () => {
      const p = fresh();
      for (const k of ["a/b/c.txt", "a/b.txt", "a/bc/d.txt", "z.txt", "a/a.txt"]) await store.put(`${p}/${k}`, k);
      assert.deepEqual(await collect(store.list(`${p}/a/`)), [
        `${p}/a/a.txt`,
        `${p}/a/b.txt`,
        `${p}/a/b/c.txt`,
        `${p}/a/bc/d.txt`,
      ]);
      assert.deepEqual(await collect(store.list(`${p}/a/b`)), [`${p}/a/b.txt`, `${p}/a/b/c.txt`, `${p}/a/bc/d.txt`]);
      assert.deepEqual(await collect(store.list(`${fresh()}/`)), []);
      const infos = [];
      for await (const o of store.list(`${p}/z`)) infos.push(o);
      assert.deepEqual(
        infos.map((o) => [o.key, o.size]),
        [[`${p}/z.txt`, 5]],
      );
    });

    it("copy duplicates an object; delete removes it", async () => {
      const p = fresh();
      await store.put(`${p}/src`, "payload");
      await store.copy(`${p}/src`, `${p}/dst/copy`);
      assert.equal((await store.get(`${p}/dst/copy`)).toString(), "payload");
      await store.delete(`${p}/src`);
      assert.equal(await store.stat(`${p}/src`), null);
      assert.deepEqual(await collect(store.list(`${p}/`)), [`${p}/dst/copy`]);
    });

    it("putFile / getFile move local files; getFile of a missing key leaves no file", async () => {
      const p = fresh();
      const src = path.join(tmp, `${p}-src.bin`);
      const body = randomBytes(200_000);
      await fsp.writeFile(src, body);
      await store.putFile(`${p}/f.bin`, src);
      const dst = path.join(tmp, p, "nested", "f.bin");
      await store.getFile(`${p}/f.bin`, dst);
      assert.deepEqual(await fsp.readFile(dst), body);
      const missing = path.join(tmp, p, "missing.bin");
      await assert.rejects(store.getFile(`${p}/missing.bin`, missing), ObjectNotFoundError);
      assert.deepEqual(await fsp.readdir(path.join(tmp, p)), ["nested"]);
    });

    it("ifNoneMatch is create-only: the second write fails and the first content stays", async () => {
      const key = `${fresh()}/once.json`;
      await store.put(key, "first", { ifNoneMatch: true });
      await assert.rejects(store.put(key, "second", { ifNoneMatch: true }), (err: unknown) => {
        assert.ok(err instanceof ObjectExistsError, String(err));
        assert.equal(err.key, key);
        return true;
      });
      const file = path.join(tmp, `${fresh()}.txt`);
      await fsp.writeFile(file, "third");
      await assert.rejects(store.putFile(key, file, { ifNoneMatch: true }), ObjectExistsError);
      assert.equal((await store.get(key)).toString(), "first");
    });

    it("ifNoneMatch: of racing create-only writers exactly one wins", async () => {
      const key = `${fresh()}/race`;
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => store.put(key, `writer-${i}`, { ifNoneMatch: true })),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => r.status)));
      for (const r of results) if (r.status === "rejected") assert.ok(r.reason instanceof ObjectExistsError, String(r.reason));
      assert.equal((await store.get(key)).toString(), `writer-${won[0]}`);
    });

    it("keys that could escape a prefix are rejected with InvalidKeyError and nothing is written", async () => {
      const p = fresh();
      const bad = [
        "",
        "../x",
        `${p}/../../etc/passwd`,
        `${p}/./x`,
        `/${p}/abs`,
        `${p}\\win`,
        `${p}//double`,
        `${p}/trailing/`,
        `${p}/ctl\u0000nul`,
        `${p}/line\nbreak`,
        `${p}/${"x".repeat(1100)}`,
      ];
      const file = path.join(tmp, `${p}.txt`);
      await fsp.writeFile(file, "x");
      const before = await collect(store.list(""));
      for (const key of bad) {
        for (const op of [() => store.put(key, "x"), () => store.putFile(key, file), () => store.copy(`${p}/src`, key)]) {
          await assert.rejects(op, (err: unknown) => {
            assert.ok(err instanceof InvalidKeyError, `${JSON.stringify(key)}: ${String(err)}`);
            assert.equal(err.retryable, false);
            return true;
          });
        }
        await assert.rejects(store.get(key), InvalidKeyError);
      }
      const err = await store.put(`${p}/../x`, "x").catch((e: unknown) => e);
      assert.ok(err instanceof InvalidKeyError);
      assert.equal(err.field, "key");
      assert.match(err.message, /key/);
      assert.ok(err.message.includes(`${p}/../x`));
      assert.deepEqual(await collect(store.list("")), before);
    });

    it("uri() and keyFromUri() round-trip; a foreign uri is refused by name", async () => {
      const key = `${fresh()}/dir/file name+ü.txt`;
      await store.put(key, "u");
      const uri = store.uri(key);
      assert.match(uri, store.kind === "s3" ? /^s3:\/\// : /^file:\/\//);
      assert.equal(store.keyFromUri(uri), key);
      const foreign = store.kind === "s3" ? "s3://some-other-bucket/x" : "file:///definitely/elsewhere/x";
      assert.throws(() => store.keyFromUri(foreign), (e: unknown) => e instanceof InvalidKeyError && e.message.includes(foreign));
      assert.throws(() => store.keyFromUri("http://example.com/x"), InvalidKeyError);
      for await (const o of store.list(key)) assert.equal(o.key, key);
    });

    describe("manifests", () => {
      const files = {
        "config.json": '{"d_model": 64}',
        "model.safetensors": randomBytes(150_000),
        "tokenizer/vocab.txt": "a\nb\n",
        "optimizer/state.pt": randomBytes(1000),
      };

      it("upload -> readManifest -> downloadVerified reproduces the directory", async () => {
        const p = `${fresh()}/ckpt/100`;
        const dir = path.join(tmp, `${p.replaceAll("/", "_")}-up`);
        await writeTree(dir, files);
        const { manifest, manifestSha256 } = await uploadDirWithManifest(store, p, dir, { run: "r1" });
        assert.deepEqual(
          manifest.files.map((f) => f.path),
          ["config.json", "model.safetensors", "optimizer/state.pt", "tokenizer/vocab.txt"],
        );
        assert.equal(manifest.files[1]?.sha256, sha256Hex(files["model.safetensors"]));
        assert.equal(manifest.files[1]?.size, 150_000);
        assert.equal(sha256Hex(await store.get(manifestKey(p))), manifestSha256);
        assert.deepEqual(await readManifest(store, p), manifest);
        assert.deepEqual(manifest.meta, { run: "r1" });

        const down = path.join(tmp, `${p.replaceAll("/", "_")}-down`);
        assert.deepEqual(await downloadVerified(store, `${p}/`, down), manifest);
        for (const [rel, body] of Object.entries(files)) {
          assert.deepEqual(await fsp.readFile(path.join(down, rel)), Buffer.from(body));
        }
        assert.equal(await readManifest(store, `${fresh()}/none`), null);
        await assert.rejects(downloadVerified(store, `${fresh()}/none`, down), ObjectNotFoundError);
      });

      it("re-uploading the same files is idempotent; different files never overwrite a complete prefix", async () => {
        const p = `${fresh()}/ckpt/5`;
        const dir = path.join(tmp, `${p.replaceAll("/", "_")}`);
        await writeTree(dir, files);
        const first = await uploadDirWithManifest(store, p, dir);
        const again = await uploadDirWithManifest(store, p, dir);
        assert.equal(again.manifestSha256, first.manifestSha256);
        await fsp.writeFile(path.join(dir, "config.json"), '{"d_model": 128}');
        await assert.rejects(uploadDirWithManifest(store, p, dir), ObjectExistsError);
        assert.equal((await store.get(`${p}/config.json`)).toString(), files["config.json"]);
      });

      it("a corrupted object is detected, named, and not left in the target dir", async () => {
        const p = `${fresh()}/ckpt/7`;
        const dir = path.join(tmp, `${p.replaceAll("/", "_")}-up`);
        await writeTree(dir, files);
        await uploadDirWithManifest(store, p, dir);
        const good = await store.get(`${p}/tokenizer/vocab.txt`);
        await store.put(`${p}/tokenizer/vocab.txt`, Buffer.from("a\nc\n")); // same size, different bytes
        const down = path.join(tmp, `${p.replaceAll("/", "_")}-down`);
        await assert.rejects(downloadVerified(store, p, down), (err: unknown) => {
          assert.ok(err instanceof ChecksumMismatchError, String(err));
          assert.equal(err.path, "tokenizer/vocab.txt");
          assert.match(err.message, /tokenizer\/vocab\.txt/);
          assert.equal(err.retryable, false);
          return true;
        });
        await assert.rejects(fsp.stat(path.join(down, "tokenizer", "vocab.txt")), { code: "ENOENT" });
        assert.equal(good.toString(), files["tokenizer/vocab.txt"]);
      });

      it("a failed upload leaves no manifest, so the prefix never looks complete", async () => {
        const parent = `${fresh()}/ckpt`;
        const dir = path.join(tmp, `${parent.replaceAll("/", "_")}`);
        await writeTree(dir, files);
        await uploadDirWithManifest(store, `${parent}/1`, dir);
        // The same store, except that one file's upload always fails.
        const failing: ObjectStore = Object.create(store, {
          putFile: {
            value: (key: string, local: string, opts?: object) =>
              key.endsWith("model.safetensors") ? Promise.reject(new Error("disk on fire")) : store.putFile(key, local, opts),
          },
        });
        await assert.rejects(uploadDirWithManifest(failing, `${parent}/2`, dir), /disk on fire/);
        assert.equal(await store.stat(manifestKey(`${parent}/2`)), null);
        assert.equal((await latestCompletePrefix(store, parent))?.step, 1);
      });

      it("latestCompletePrefix picks the numerically newest step with a valid manifest", async () => {
        const parent = `${fresh()}/run/sft`;
        const dir = path.join(tmp, `${parent.replaceAll("/", "_")}`);
        await writeTree(dir, files);
        assert.equal(await latestCompletePrefix(store, parent), null);
        await uploadDirWithManifest(store, `${parent}/100`, dir);
        const best = await uploadDirWithManifest(store, `${parent}/2000`, dir, { step: "2000" });
        await uploadDirWithManifest(store, `${parent}/300`, dir);
        await store.put(`${parent}/3000/model.safetensors`, "half-written, no manifest");
        await store.put(`${parent}/4000/manifest.json`, "{not json");
        await store.put(`${parent}/notastep/manifest.json`, "{}");
        const latest = await latestCompletePrefix(store, `${parent}/`);
        assert.deepEqual(latest, { prefix: `${parent}/2000`, step: 2000, manifest: best.manifest });
      });

      it("copyPrefixWithManifest copies server-side, manifest last with identical bytes", async () => {
        const src = `${fresh()}/ckpt/9`;
        const dst = `${fresh()}/adapters/a/1`;
        const dir = path.join(tmp, `${src.replaceAll("/", "_")}`);
        await writeTree(dir, files);
        const up = await uploadDirWithManifest(store, src, dir);
        const copied = await copyPrefixWithManifest(store, src, dst);
        assert.equal(copied.manifestSha256, up.manifestSha256);
        assert.deepEqual(copied.manifest, up.manifest);
        const down = path.join(tmp, `${dst.replaceAll("/", "_")}-down`);
        await downloadVerified(store, dst, down);
        assert.deepEqual(await fsp.readFile(path.join(down, "model.safetensors")), files["model.safetensors"]);
        assert.equal((await copyPrefixWithManifest(store, src, dst)).manifestSha256, up.manifestSha256);
        await assert.rejects(copyPrefixWithManifest(store, `${fresh()}/nothing`, dst), ObjectNotFoundError);
      });
    });
  });
}
