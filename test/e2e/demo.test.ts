// demo — `mambalign demo` end to end on CPU: every service in one process over real NATS JetStream
// and the filesystem store, the Python runtime training a tiny Mamba (SFT -> merge -> DPO -> eval).
// Slow (about 5 minutes on 2 cores); deterministic: fixed data seed, training seeds, greedy decoding.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import { ArtifactKind, RunStatus, Stage } from "@mambalign/core";
import { runDemo } from "@mambalign/cli";

describe("demo", () => {
  let stateDir: string | undefined;
  after(async () => {
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  test("SFT beats the base on held-out exact match, DPO beats SFT on preference accuracy, lineage is listed", { timeout: 20 * 60_000 }, async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), "mambalign-demo-"));
    let printed = "";
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        printed += chunk.toString();
        cb();
      },
    });
    const result = await runDemo({ stateDir, out, tty: false });

    assert.equal(result.run.status, RunStatus.RUN_STATUS_SUCCEEDED, result.run.message);
    const [base, sft, dpo] = result.rows;
    assert.ok(base && sft && dpo);
    assert.ok(sft.exactMatch! > base.exactMatch!, `exact match: after SFT ${sft.exactMatch} > base ${base.exactMatch}`);
    assert.ok(dpo.preferenceAccuracy! > sft.preferenceAccuracy!, `preference accuracy: after DPO ${dpo.preferenceAccuracy} > after SFT ${sft.preferenceAccuracy}`);

    // Progress was shown for every stage and both baseline evaluations.
    for (const label of ["sft", "merge", "dpo", "eval", "eval(base)", "eval(sft)"]) {
      assert.match(printed, new RegExp(`^\\[${label.replace(/[()]/g, "\\$&")}\\] succeeded -> `, "m"), `progress of ${label}`);
    }
    assert.match(printed, /^\[sft\] step 150\/150 /m);
    assert.match(printed, /HELD-OUT EXACT MATCH/);

    // The registry lists the three versions with their lineage down to the base model.
    const byStage = new Map(result.versions.filter((v) => v.runId === result.run.id).map((v) => [v.stage, v]));
    const sftV = byStage.get(Stage.STAGE_SFT)!;
    const merged = byStage.get(Stage.STAGE_MERGE)!;
    const dpoV = byStage.get(Stage.STAGE_DPO)!;
    assert.equal(sftV.kind, ArtifactKind.ARTIFACT_KIND_ADAPTER);
    assert.equal(merged.kind, ArtifactKind.ARTIFACT_KIND_MODEL);
    assert.equal(merged.parent, sftV.id);
    assert.equal(dpoV.parent, merged.id);
    for (const v of [sftV, merged, dpoV]) assert.equal(v.baseModel?.uri, "preset:tiny-mamba-char");
    assert.equal(dpo.version, dpoV.id);
    assert.match(printed, new RegExp(`${dpoV.id}.*${merged.id} <- ${sftV.id} <- preset:tiny-mamba-char`));
  });
});
