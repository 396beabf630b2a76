import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  type AdapterVersion,
  type ApiError,
  ArtifactKind,
  callUnary,
  createClient,
  type GrpcServerHandle,
  readManifest,
  type RegisterVersionRequest,
  RegistryServiceClient,
  sha256File,
  Stage,
  type DownloadVersionResponse,
  streamResponses,
  uploadDirWithManifest,
} from "@mambalign/core";
import { DOWNLOAD_CHUNK_BYTES } from "./download-version.js";
import { registryServiceBinding } from "./registry-service.js";
import { listKeys, serveBindings, startTestEnv, type TestEnv } from "../test-support/test-env.js";

/** A valid safetensors file holding one F32 tensor (8-byte header length, JSON header, data). */
function safetensors(values: number[]): Buffer {
  const data = Buffer.from(new Float32Array(values).buffer);
  const header = Buffer.from(JSON.stringify({ "lora_A.weight": { dtype: "F32", shape: [values.length], data_offsets: [0, data.length] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, data]);
}

/** A trainer-style checkpoint directory: adapter/ (PEFT files + tokenizer) next to training state. */
async function writeCheckpoint(dir: string, seed: number): Promise<void> {
  await fsp.mkdir(path.join(dir, "adapter"), { recursive: true });
  const files: Record<string, string | Buffer> = {
    "adapter/adapter_config.json": JSON.stringify({ peft_type: "LORA", r: 8, target_modules: ["x_proj", "in_proj", "out_proj"] }),
    "adapter/adapter_model.safetensors": safetensors([seed, seed + 0.5, -seed]),
    "adapter/tokenizer.json": JSON.stringify({ model: { vocab: { a: 0 } } }),
    "adapter/tokenizer_config.json": JSON.stringify({ eos_token: "<eos>" }),
    "optimizer.pt": Buffer.from(`optimizer state ${seed}`),
    "trainer_state.json": JSON.stringify({ step: seed }),
  };
  for (const [p, body] of Object.entries(files)) await fsp.writeFile(path.join(dir, p), body);
}

function rejectsWith(code: status, check: (e: ApiError) => void = () => {}) {
  return (err: ApiError) => {
    assert.equal(err.code, code, err.message);
    check(err);
    return true;
  };
}

async function withRegistry(env: TestEnv) {
  const server: GrpcServerHandle = await serveBindings(env.deps, [await registryServiceBinding(env.deps)]);
  const c = createClient(RegistryServiceClient, `127.0.0.1:${server.port}`);
  const base: RegisterVersionRequest = {
    name: "",
    kind: ArtifactKind.ARTIFACT_KIND_ADAPTER,
    stage: Stage.STAGE_SFT,
    baseModel: { uri: "preset:tiny-mamba-char", revision: "", resolved: "" },
    parent: "",
    runId: "run1",
    sourceUri: "",
    metrics: {},
    datasets: [],
  };
  const call = {
    register: (req: Partial<RegisterVersionRequest>) =>
      callUnary(c.registerVersion.bind(c), { ...base, ...req }).then((r) => r.version as AdapterVersion),
    get: (id: string) => callUnary(c.getVersion.bind(c), { id }).then((r) => r.version as AdapterVersion),
    list: (name = "") => callUnary(c.listVersions.bind(c), { name }).then((r) => r.versions),
    setAlias: (name: string, alias: string, versionId: string) => callUnary(c.setAlias.bind(c), { name, alias, versionId }),
    resolve: (name: string, alias: string) => callUnary(c.resolveAlias.bind(c), { name, alias }).then((r) => r.version as AdapterVersion),
    attachEval: (versionId: string, evalId: string, metrics: Record<string, number>) =>
      callUnary(c.attachEval.bind(c), { versionId, result: { evalId, metrics, reportKey: `evals/${evalId}/results.json`, createdAt: undefined } }).then(
        (r) => r.version as AdapterVersion,
      ),
    export: (id: string, destination: string) => callUnary(c.exportVersion.bind(c), { id, destination }),
    download: async (id: string) => {
      const out: DownloadVersionResponse[] = [];
      for await (const r of streamResponses<DownloadVersionResponse>(c.downloadVersion({ id }))) out.push(r);
      return out;
    },
  };
  return {
    call,
    close: async () => {
      c.close();
      await server.close(1000);
    },
  };
}

describe("registry service — on MinIO over gRPC", () => {
  let env: TestEnv;
  let reg: Awaited<ReturnType<typeof withRegistry>>;
  before(async () => {
    env = await startTestEnv("s3");
    reg = await withRegistry(env);
  });
  after(async () => {
    await reg?.close();
    await env?.stop();
  });

  /** Uploads a checkpoint the way the trainer does (files, then manifest.json last); returns its s3:// uri. */
  async function checkpoint(prefix: string, seed: number): Promise<string> {
    const dir = path.join(env.tmp, prefix.replaceAll("/", "_"));
    await writeCheckpoint(dir, seed);
    await uploadDirWithManifest(env.deps.store, prefix, dir);
    return `${env.deps.store.uri(prefix)}/`;
  }

  it("registers a checkpoint as v1 with lineage, copies it with its manifest, and moves latest", async () => {
    const uri = await checkpoint("checkpoints/run1/sft/10", 1);
    const ds = "a".repeat(64);
    const v = await reg.call.register({ name: "zephyr-sft", sourceUri: uri, metrics: { "train/loss": 1.5 }, datasets: [ds] });
    assert.equal(v.id, "zephyr-sft/v1");
    assert.equal(v.version, 1);
    assert.equal(v.kind, ArtifactKind.ARTIFACT_KIND_ADAPTER);
    assert.equal(v.stage, Stage.STAGE_SFT);
    assert.equal(v.baseModel?.uri, "preset:tiny-mamba-char");
    assert.equal(v.runId, "run1");
    assert.deepEqual(v.datasets, [ds]);
    assert.deepEqual(v.aliases, ["latest"]);
    assert.equal(v.uri, `s3://${env.deps.config.store.s3.bucket}/adapters/zephyr-sft/v1/`);
    assert.match(v.manifestSha256, /^[0-9a-f]{64}$/);
    const copied = await readManifest(env.deps.store, "adapters/zephyr-sft/v1");
    assert.deepEqual(copied?.files.map((f) => [f.path, f.sha256]), v.manifest.map((f) => [f.path, f.sha256]));
    assert.deepEqual(await reg.call.get("zephyr-sft/v1"), v);
    assert.deepEqual(await reg.call.get("zephyr-sft"), v);
    assert.deepEqual(await reg.call.resolve("zephyr-sft", "latest"), v);

    // Same content again (another prefix, same files): the existing version, no new number.
    const again = await reg.call.register({ name: "zephyr-sft", sourceUri: await checkpoint("checkpoints/run1-retry/sft/10", 1) });
    assert.equal(again.id, "zephyr-sft/v1");

    // Lineage: a DPO adapter whose parent is the SFT version.
    const dpo = await reg.call.register({ name: "zephyr-dpo", stage: Stage.STAGE_DPO, parent: v.id, sourceUri: await checkpoint("checkpoints/run1/dpo/5", 2) });
    assert.equal(dpo.parent, "zephyr-sft/v1");
    await assert.rejects(
      reg.call.register({ name: "zephyr-dpo", parent: "zephyr-sft/v9", sourceUri: uri }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "parent")),
    );
  });

  it("identical bytes registered by another run get a new version with that run's lineage; a retry of one registration gets its version back", async () => {
    // Run A: sft/v1 -> merged/v1. Run B trains sft/v2, and its merge reproduces run A's bytes.
    const sftA = await reg.call.register({ name: "lin-sft", runId: "run-a", sourceUri: await checkpoint("checkpoints/run-a/sft/1", 41) });
    const mergedA = await reg.call.register({ name: "lin-merged", runId: "run-a", stage: Stage.STAGE_MERGE, parent: sftA.id, sourceUri: await checkpoint("checkpoints/run-a/merge/1", 42) });
    const sftB = await reg.call.register({ name: "lin-sft", runId: "run-b", sourceUri: await checkpoint("checkpoints/run-b/sft/1", 43) });
    const mergeB = { name: "lin-merged", runId: "run-b", stage: Stage.STAGE_MERGE, parent: sftB.id, sourceUri: await checkpoint("checkpoints/run-b/merge/1", 42) };
    const mergedB = await reg.call.register(mergeB);
    assert.equal(sftB.id, "lin-sft/v2");
    assert.equal(mergedB.id, "lin-merged/v2", "a new version, not run A's");
    assert.deepEqual([mergedB.parent, mergedB.runId], ["lin-sft/v2", "run-b"], "lineage of this run");
    assert.equal(mergedB.manifestSha256, mergedA.manifestSha256, "same content");
    const files = async (v: string) => (await readManifest(env.deps.store, `adapters/lin-merged/${v}`))?.files;
    assert.deepEqual(await files("v2"), await files("v1"), "its own complete copy of the files");
    assert.equal((await reg.call.resolve("lin-merged", "latest")).id, "lin-merged/v2");
    // The next stage of run B records a parent whose chain is run B's: dpo -> merged/v2 -> sft/v2.
    const dpoB = await reg.call.register({ name: "lin-dpo", runId: "run-b", stage: Stage.STAGE_DPO, parent: mergedB.id, sourceUri: await checkpoint("checkpoints/run-b/dpo/1", 44) });
    assert.equal((await reg.call.get((await reg.call.get(dpoB.parent)).parent)).id, "lin-sft/v2");
    // A retried registration (same run, parent and bytes; job redelivered) is the same version.
    assert.equal((await reg.call.register({ ...mergeB, sourceUri: await checkpoint("checkpoints/run-b/merge/1-retry", 42) })).id, "lin-merged/v2");
    assert.deepEqual((await reg.call.list("lin-merged")).map((v) => v.id), ["lin-merged/v1", "lin-merged/v2"]);
  });

  it("a source without a manifest is rejected with FAILED_PRECONDITION naming the uri; bad names and keys with INVALID_ARGUMENT", async () => {
    await env.deps.store.put("checkpoints/run2/sft/20/adapter/adapter_config.json", "{}");
    const uri = `${env.deps.store.uri("checkpoints/run2/sft/20")}/`;
    await assert.rejects(
      reg.call.register({ name: "half", sourceUri: uri }),
      rejectsWith(status.FAILED_PRECONDITION, (e) => {
        assert.equal(e.details.key, uri);
        assert.ok(e.message.includes(uri), e.message);
      }),
    );
    const ok = await checkpoint("checkpoints/run2/sft/30", 3);
    await assert.rejects(reg.call.register({ name: "../x", sourceUri: ok }), rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "name")));
    await assert.rejects(
      reg.call.register({ name: "ok", sourceUri: `s3://${env.deps.config.store.s3.bucket}/../x/` }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "source_uri")),
    );
    await assert.rejects(
      reg.call.register({ name: "ok", sourceUri: "s3://other-bucket/checkpoints/x/" }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "source_uri")),
    );
    await assert.rejects(
      reg.call.register({ name: "ok", kind: ArtifactKind.ARTIFACT_KIND_MODEL, sourceUri: ok }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "kind")),
    );
    await assert.rejects(reg.call.get("../x/v1"), rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "id")));
    await assert.rejects(reg.call.get("nobody/v1"), rejectsWith(status.NOT_FOUND, (e) => assert.match(e.message, /nobody\/v1/)));
    assert.deepEqual(await listKeys(env.deps, "adapters/half/"), []);
    assert.deepEqual(await listKeys(env.deps, "adapters/ok/"), []);
    assert.deepEqual(await reg.call.list("half"), []);
  });

  it("concurrent registrations of different content get distinct, consecutive versions", async () => {
    const uris = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => checkpoint(`checkpoints/conc/sft/${i}`, 100 + i)));
    const versions = await Promise.all(uris.map((sourceUri) => reg.call.register({ name: "conc", sourceUri })));
    assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2, 3, 4, 5, 6]);
    const listed = await reg.call.list("conc");
    assert.deepEqual(listed.map((v) => v.id), ["conc/v1", "conc/v2", "conc/v3", "conc/v4", "conc/v5", "conc/v6"]);
    assert.deepEqual((await reg.call.resolve("conc", "latest")).id, "conc/v6");
    // The same content raced from two callers still gets one number.
    const same = await checkpoint("checkpoints/conc/sft/99", 999);
    const [a, b] = await Promise.all([reg.call.register({ name: "conc", sourceUri: same }), reg.call.register({ name: "conc", sourceUri: same })]);
    assert.equal(a.id, b.id);
    assert.equal(a.id, "conc/v7");
  });

  it("aliases move while versions stay; attach-eval appends results and merges metrics", async () => {
    const v1 = await reg.call.register({ name: "aliased", sourceUri: await checkpoint("checkpoints/al/sft/1", 11), metrics: { "train/loss": 2 } });
    const v2 = await reg.call.register({ name: "aliased", sourceUri: await checkpoint("checkpoints/al/sft/2", 12) });
    const set = await reg.call.setAlias("aliased", "prod", v1.id);
    assert.deepEqual(set.alias, { name: "aliased", alias: "prod", versionId: v1.id });
    assert.equal((await reg.call.resolve("aliased", "prod")).id, v1.id);
    assert.deepEqual((await reg.call.get(v1.id)).aliases, ["prod"]);
    assert.deepEqual((await reg.call.get(v2.id)).aliases, ["latest"]);
    await reg.call.setAlias("aliased", "prod", v2.id);
    assert.deepEqual((await reg.call.resolve("aliased", "prod")).aliases, ["latest", "prod"]);
    assert.equal((await reg.call.get("aliased@prod")).id, v2.id);
    await assert.rejects(reg.call.setAlias("aliased", "latest", v1.id), rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "alias")));
    await assert.rejects(reg.call.setAlias("aliased", "prod", "other/v1"), rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "version_id")));
    await assert.rejects(reg.call.setAlias("aliased", "prod", "aliased/v9"), rejectsWith(status.NOT_FOUND));
    await assert.rejects(reg.call.resolve("aliased", "staging"), rejectsWith(status.NOT_FOUND));

    const e1 = await reg.call.attachEval(v1.id, "eval-1", { "eval/exact_match": 0.5 });
    const e2 = await reg.call.attachEval(v1.id, "eval-2", { "eval/exact_match": 0.75, "eval/preference_accuracy": 0.9 });
    assert.deepEqual(e1.evals.map((e) => e.evalId), ["eval-1"]);
    assert.deepEqual(e2.evals.map((e) => e.evalId), ["eval-1", "eval-2"]);
    assert.deepEqual(e2.metrics, { "train/loss": 2, "eval/exact_match": 0.75, "eval/preference_accuracy": 0.9 });
    assert.equal(e2.evals[1]?.reportKey, "evals/eval-2/results.json");
    // Content and lineage are untouched.
    assert.deepEqual({ ...e2, evals: [], metrics: {} }, { ...v1, aliases: [], evals: [], metrics: {} });
    await assert.rejects(reg.call.attachEval("aliased/v9", "eval-x", {}), rejectsWith(status.NOT_FOUND));
  });

  it("exports the PEFT directory (adapter_config.json, adapter_model.safetensors, tokenizer) to a local dir and an s3:// prefix", async () => {
    const src = path.join(env.tmp, "export-src");
    await writeCheckpoint(src, 7);
    await uploadDirWithManifest(env.deps.store, "checkpoints/exp/sft/7", src);
    const v = await reg.call.register({ name: "exported", sourceUri: `${env.deps.store.uri("checkpoints/exp/sft/7")}/` });
    const dest = path.join(env.tmp, "exported-adapter");
    const out = await reg.call.export(v.id, dest);
    const peft = ["adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json"];
    assert.equal(out.destination, dest);
    assert.deepEqual([...out.files].sort(), peft);
    assert.deepEqual((await fsp.readdir(dest)).sort(), peft);
    for (const f of peft) {
      assert.equal((await sha256File(path.join(dest, f))).sha256, (await sha256File(path.join(src, "adapter", f))).sha256, f);
    }
    const s3 = await reg.call.export("exported@latest", `s3://${env.deps.config.store.s3.bucket}/exports/exported-v1/`);
    assert.deepEqual([...s3.files].sort(), peft);
    const m = await readManifest(env.deps.store, "exports/exported-v1");
    assert.deepEqual(m?.files.map((f) => f.path).sort(), peft);
    await assert.rejects(
      reg.call.export(v.id, `s3://${env.deps.config.store.s3.bucket}/adapters/x/`),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "destination")),
    );
  });

  it("DownloadVersion streams the exported directory's files in chunks that add up to the manifest's sha256, without training state", async () => {
    const src = path.join(env.tmp, "download-src");
    await writeCheckpoint(src, 9);
    // Bigger than one message (DOWNLOAD_CHUNK_BYTES), not a multiple of it.
    const big = Buffer.alloc(DOWNLOAD_CHUNK_BYTES * 2 + 12345, 7);
    await fsp.writeFile(path.join(src, "adapter", "big.bin"), big);
    await uploadDirWithManifest(env.deps.store, "checkpoints/dl/sft/9", src);
    const v = await reg.call.register({ name: "downloaded", sourceUri: `${env.deps.store.uri("checkpoints/dl/sft/9")}/` });
    const chunks = await reg.call.download("downloaded@latest");
    const files = new Map<string, { hash: ReturnType<typeof createHash>; bytes: number; size: bigint; sha256: string; chunks: number }>();
    for (const c of chunks) {
      const f = files.get(c.path) ?? { hash: createHash("sha256"), bytes: 0, size: c.size, sha256: c.sha256, chunks: 0 };
      f.hash.update(c.data);
      f.bytes += c.data.length;
      f.chunks += 1;
      files.set(c.path, f);
    }
    assert.deepEqual([...files.keys()].sort(), ["adapter_config.json", "adapter_model.safetensors", "big.bin", "tokenizer.json", "tokenizer_config.json"]);
    for (const [p, f] of files) {
      assert.equal(BigInt(f.bytes), f.size, p);
      assert.equal(f.hash.digest("hex"), f.sha256, p);
      assert.equal(f.sha256, v.manifest.find((m) => m.path === `adapter/${p}`)!.sha256, p);
    }
    assert.equal(files.get("big.bin")!.chunks, 3);
    await assert.rejects(reg.call.download("nobody/v1"), rejectsWith(status.NOT_FOUND));
  });
});

describe("registry service — embedded fs store", () => {
  let env: TestEnv;
  let reg: Awaited<ReturnType<typeof withRegistry>>;
  before(async () => {
    env = await startTestEnv("fs");
    reg = await withRegistry(env);
  });
  after(async () => {
    await reg?.close();
    await env?.stop();
  });

  it("registers from a local directory inside the store and exports to a local directory", async () => {
    const src = path.join(env.tmp, "ckpt");
    await writeCheckpoint(src, 5);
    await uploadDirWithManifest(env.deps.store, "checkpoints/local/sft/5", src);
    const dir = path.join(env.deps.config.store.fsRoot, "checkpoints", "local", "sft", "5");
    const v = await reg.call.register({ name: "local", sourceUri: dir });
    assert.equal(v.id, "local/v1");
    assert.ok(v.uri.startsWith("file://"));
    const dest = path.join(env.tmp, "out");
    const out = await reg.call.export(v.id, dest);
    assert.ok(out.files.includes("adapter_model.safetensors"));
    assert.equal(
      (await sha256File(path.join(dest, "adapter_model.safetensors"))).sha256,
      (await sha256File(path.join(src, "adapter", "adapter_model.safetensors"))).sha256,
    );
    await assert.rejects(
      reg.call.register({ name: "local", sourceUri: path.join(env.tmp, "elsewhere") }),
      rejectsWith(status.INVALID_ARGUMENT, (e) => assert.equal(e.details.field, "source_uri")),
    );
  });

  it("ExportVersion writes only under the export roots: outside, through .. or a symbolic link out is refused and nothing is written", async () => {
    const src = path.join(env.tmp, "ckpt-confined");
    await writeCheckpoint(src, 3);
    await uploadDirWithManifest(env.deps.store, "checkpoints/confined/sft/3", src);
    const v = await reg.call.register({ name: "confined", sourceUri: `${env.deps.store.uri("checkpoints/confined/sft/3")}/` });
    // A directory of the host outside the service's export root (env.tmp), e.g. someone's ~/.ssh.
    const outside = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-not-a-root-"));
    try {
      await fsp.symlink(outside, path.join(env.tmp, "link-out"));
      for (const [destination, code] of [
        [path.join(outside, ".ssh"), status.PERMISSION_DENIED],
        [`file://${path.join(outside, "x")}`, status.PERMISSION_DENIED],
        [`${env.tmp}/../${path.basename(outside)}/y`, status.INVALID_ARGUMENT],
        [path.join(env.tmp, "link-out"), status.PERMISSION_DENIED],
        [path.join(env.tmp, "link-out", "deeper"), status.PERMISSION_DENIED],
      ] as const) {
        await assert.rejects(reg.call.export(v.id, destination), rejectsWith(code, (e) => assert.equal(e.details.field, "destination", e.message)), destination);
      }
      assert.deepEqual(await fsp.readdir(outside), [], "nothing written outside the root");
      const inside = await reg.call.export(v.id, path.join(env.tmp, "exports", "confined"));
      assert.ok(inside.files.includes("adapter_model.safetensors"));
    } finally {
      await fsp.rm(outside, { recursive: true, force: true });
    }
  });
});
