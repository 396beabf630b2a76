// mlflow-link — the registry version reaches a run on a real MLflow tracking server (loopback, sqlite).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type MlflowServer, startMlflowServer } from "@mambalign/core/testing";
import { registryTags, tagMlflowRun } from "./mlflow-link.js";

async function rest(uri: string, pathAndQuery: string, body?: unknown): Promise<any> {
  const res = await fetch(`${uri}/api/2.0/mlflow/${pathAndQuery}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  assert.ok(res.ok, `${pathAndQuery}: ${res.status}`);
  return res.json();
}

describe("mlflow-link", () => {
  let mlflow: MlflowServer;
  before(async () => {
    mlflow = await startMlflowServer();
  });
  after(async () => {
    await mlflow?.stop();
  });

  test("a run gets the registered version's id and uri as tags", async () => {
    const { experiment_id } = await rest(mlflow.uri, "experiments/create", { name: "link" });
    const { run } = await rest(mlflow.uri, "runs/create", { experiment_id, start_time: Date.now() });
    await tagMlflowRun(mlflow.uri, run.info.run_id, registryTags({ id: "zephyr-sft/v3", uri: "s3://b/adapters/zephyr-sft/3" }), null);
    const got = await rest(mlflow.uri, `runs/get?run_id=${run.info.run_id}`);
    const tags = Object.fromEntries(got.run.data.tags.map((t: { key: string; value: string }) => [t.key, t.value]));
    assert.equal(tags["mambalign.registry.version"], "zephyr-sft/v3");
    assert.equal(tags["mambalign.registry.uri"], "s3://b/adapters/zephyr-sft/3");
  });

  test("a run the server does not know is an error naming the answer and the tag", async () => {
    await assert.rejects(
      tagMlflowRun(mlflow.uri, "0123456789abcdef0123456789abcdef", { "mambalign.registry.version": "x/v1" }, null),
      /MLflow answered 404 to set-tag mambalign\.registry\.version/,
    );
  });

  test("a tracking URI that is not an HTTP server is refused before any request", async () => {
    await assert.rejects(tagMlflowRun("file:///tmp/mlruns", "r", { a: "b" }, null), /not an MLflow server/);
  });
});
