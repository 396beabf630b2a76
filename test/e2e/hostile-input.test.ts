// api — input no request may use to end a service or wedge a channel: non-ASCII ids, names and paths,
// and a 200 KB id, against the real registry, datasets and pipeline services (real NATS, fs store).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ApiError,
  callUnary,
  createClient,
  DatasetKind,
  DatasetServiceClient,
  PipelineServiceClient,
  RegistryServiceClient,
  status,
} from "@mambalign/core";
import { startDatasetsService } from "@mambalign/datasets";
import { startPipelineService } from "@mambalign/pipeline";
import { startRegistryService } from "@mambalign/registry";
import { type Harness, startHarness } from "./harness.js";

// A rejection for input that is wrong or names nothing: never INTERNAL, never a timeout.
const PROPER = new Set([status.INVALID_ARGUMENT, status.NOT_FOUND, status.FAILED_PRECONDITION, status.PERMISSION_DENIED]);
const DEADLINE = { deadlineMs: 5_000 };

describe("api — hostile input", () => {
  let h: Harness;
  let registry: RegistryServiceClient;
  let datasets: DatasetServiceClient;
  let pipeline: PipelineServiceClient;

  before(async () => {
    h = await startHarness(async (deps) => [await startRegistryService(deps), await startDatasetsService(deps), await startPipelineService(deps)]);
    registry = createClient(RegistryServiceClient, h.addr);
    datasets = createClient(DatasetServiceClient, h.addr);
    pipeline = createClient(PipelineServiceClient, h.addr);
  });
  after(async () => {
    for (const c of [registry, datasets, pipeline]) c?.close();
    await h?.stop();
  });

  async function properError(what: string, call: Promise<unknown>): Promise<ApiError> {
    try {
      await call;
    } catch (err) {
      assert.ok(err instanceof ApiError, `${what}: ${String(err)}`);
      assert.ok(PROPER.has(err.code), `${what}: ${status[err.code]} ${err.message}`);
      return err;
    }
    return assert.fail(`${what} should have been rejected`);
  }

  test("non-ASCII ids, names and paths get a proper error and every service keeps answering", async () => {
    const prepare = (uri: string, name = "") =>
      callUnary(datasets.prepareDataset.bind(datasets), { sources: [{ uri, fraction: 1 }], kind: DatasetKind.DATASET_KIND_SFT, testFraction: 0.1, seed: 1, name, splits: [] }, DEADLINE);
    const calls: [string, () => Promise<unknown>][] = [];
    for (const s of ["é", "ä", "café/v1", "ä/v1"]) {
      calls.push(
        [`GetVersion ${s}`, () => callUnary(registry.getVersion.bind(registry), { id: s }, DEADLINE)],
        [`ListVersions ${s}`, () => callUnary(registry.listVersions.bind(registry), { name: s }, DEADLINE)],
        [`ResolveAlias ${s}`, () => callUnary(registry.resolveAlias.bind(registry), { name: s, alias: "latest" }, DEADLINE)],
        [`ResolveAlias alias ${s}`, () => callUnary(registry.resolveAlias.bind(registry), { name: "demo", alias: s }, DEADLINE)],
        [`GetDataset ${s}`, () => callUnary(datasets.getDataset.bind(datasets), { id: s }, DEADLINE)],
        [`GetDatasetCard ${s}`, () => callUnary(datasets.getDatasetCard.bind(datasets), { id: s }, DEADLINE)],
        [`PrepareDataset name ${s}`, () => prepare(`${h.tmp}/missing.jsonl`, s)],
        [`GetRun ${s}`, () => callUnary(pipeline.getRun.bind(pipeline), { id: s }, DEADLINE)],
        [`CancelRun ${s}`, () => callUnary(pipeline.cancelRun.bind(pipeline), { id: s }, DEADLINE)],
      );
    }
    calls.push(
      ["PrepareDataset café.jsonl", () => prepare(`${h.tmp}/café.jsonl`)],
      ["StartRun name é", () => callUnary(pipeline.startRun.bind(pipeline), { recipeYaml: "name: é\nmodel_name_or_path: preset:tiny-mamba-char\n", requestId: "r1" }, DEADLINE)],
      ["StartRun request id é", () => callUnary(pipeline.startRun.bind(pipeline), { recipeYaml: "name: x\n", requestId: "é" }, DEADLINE)],
    );
    for (const [what, call] of calls) await properError(what, call());
    // The errors came back whole: an echoed non-ASCII key survives the trip in the details.
    const err = await properError("GetVersion café/v1", callUnary(registry.getVersion.bind(registry), { id: "café/v1" }, DEADLINE));
    assert.ok(Object.values(err.details).some((v) => typeof v === "string" && v.includes("café")) || err.message.includes("café"), err.message);
    // Every service still answers.
    await callUnary(registry.listVersions.bind(registry), { name: "demo" }, DEADLINE);
    await callUnary(datasets.listDatasets.bind(datasets), {}, DEADLINE);
    await callUnary(pipeline.listRuns.bind(pipeline), {}, DEADLINE);
  });

  test("a 200 KB id is INVALID_ARGUMENT at once, with a bounded message, and the channel stays usable", async () => {
    const huge = "a".repeat(200 * 1024);
    const cases: [string, () => Promise<unknown>][] = [
      ["GetVersion", () => callUnary(registry.getVersion.bind(registry), { id: `${huge}/v1` }, DEADLINE)],
      ["GetDataset", () => callUnary(datasets.getDataset.bind(datasets), { id: huge }, DEADLINE)],
      ["ListVersions", () => callUnary(registry.listVersions.bind(registry), { name: huge }, DEADLINE)],
      ["ResolveAlias", () => callUnary(registry.resolveAlias.bind(registry), { name: huge, alias: "latest" }, DEADLINE)],
      ["GetDatasetCard", () => callUnary(datasets.getDatasetCard.bind(datasets), { id: huge }, DEADLINE)],
      ["GetRun", () => callUnary(pipeline.getRun.bind(pipeline), { id: huge }, DEADLINE)],
      ["CancelRun", () => callUnary(pipeline.cancelRun.bind(pipeline), { id: huge }, DEADLINE)],
      ["StartRun", () => callUnary(pipeline.startRun.bind(pipeline), { recipeYaml: "name: x\n", requestId: huge }, DEADLINE)],
    ];
    for (const [what, call] of cases) {
      const err = await properError(what, call());
      assert.equal(err.code, status.INVALID_ARGUMENT, `${what}: ${err.message.slice(0, 200)}`);
      assert.ok(err.message.length < 1_000, `${what}: message bounded (${err.message.length} chars)`);
    }
    // The same channels answer the next call.
    await properError("GetVersion after", callUnary(registry.getVersion.bind(registry), { id: "demo/v1" }, DEADLINE));
    await callUnary(datasets.listDatasets.bind(datasets), {}, DEADLINE);
    await callUnary(pipeline.listRuns.bind(pipeline), {}, DEADLINE);
  });
});
