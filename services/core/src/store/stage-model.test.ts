import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { ApiError } from "../errors.js";
import { type AdapterVersion, ArtifactKind } from "../gen/index.js";
import { LocalRoots } from "../local-roots.js";
import { FsObjectStore } from "./fs-object-store.js";
import { uploadDirWithManifest } from "./manifest.js";
import { ModelStager } from "./stage-model.js";

describe("store/stage-model — the models a job names", () => {
  let tmp: string;
  let store: FsObjectStore;
  let roots: LocalRoots;
  let stager: ModelStager;

  before(async () => {
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "stage-model-"));
    store = new FsObjectStore({ root: path.join(tmp, "objects") });
    roots = new LocalRoots([path.join(tmp, "data")], "MAMBALIGN_DATA_ROOTS", "read");
    stager = new ModelStager(store, roots, path.join(tmp, "cache"));
    for (const d of ["data/model", "elsewhere/model", "files/adapter"]) await fsp.mkdir(path.join(tmp, d), { recursive: true });
    await fsp.writeFile(path.join(tmp, "files/adapter/adapter_config.json"), "{}");
    await fsp.writeFile(path.join(tmp, "files/adapter/adapter_model.safetensors"), "weights");
  });
  after(() => fsp.rm(tmp, { recursive: true, force: true }));

  test("presets and Hub ids pass through; a local model directory under the data roots is its real path", async () => {
    assert.equal(await stager.ref("preset:tiny-mamba-char", "baseModel.uri"), "preset:tiny-mamba-char");
    assert.equal(await stager.ref("state-spaces/mamba-130m-hf", "baseModel.uri"), "state-spaces/mamba-130m-hf");
    assert.equal(await stager.ref(path.join(tmp, "data/model"), "baseModel.uri"), await fsp.realpath(path.join(tmp, "data/model")));
  });

  test("a local model directory outside the data roots is refused, naming the field and the setting", async () => {
    await assert.rejects(stager.ref(path.join(tmp, "elsewhere/model"), "baseModel.uri"), (err: unknown) => {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.code, status.PERMISSION_DENIED);
      assert.equal(err.field, "baseModel.uri");
      assert.match(err.message, /^baseModel\.uri: .*outside the local directories .*MAMBALIGN_DATA_ROOTS/);
      assert.equal(err.retryable, false);
      return true;
    });
  });

  test("a version's files are downloaded once (manifest-checked) and reused; a store prefix with no files names the field", async () => {
    const uploaded = await uploadDirWithManifest(store, "adapters/a/1", path.join(tmp, "files/adapter"), {});
    const version = {
      id: "a/v1",
      kind: ArtifactKind.ARTIFACT_KIND_ADAPTER,
      uri: store.uri("adapters/a/1"),
      manifest: uploaded.manifest.files,
      manifestSha256: uploaded.manifestSha256,
    } as unknown as AdapterVersion;
    const dir = await stager.version(version, "inputVersion");
    assert.equal(await fsp.readFile(path.join(dir, "adapter_model.safetensors"), "utf8"), "weights");
    await fsp.writeFile(path.join(dir, "marker"), "cached");
    assert.equal(await stager.version(version, "inputVersion"), dir, "the second job reuses the staged copy");
    await assert.rejects(stager.ref(store.uri("adapters/none"), "baseModel.uri"), /^ApiError: baseModel\.uri: .*holds no files/);
  });
});
