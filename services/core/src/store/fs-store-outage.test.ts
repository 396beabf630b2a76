// fs store outage — a stage whose store is unwritable for a while is retried, not failed for good.
// Real NATS JetStream (job queue, nak with backoff) and the real filesystem store.
import assert from "node:assert/strict";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { Bus } from "../bus/bus.js";
import { JOB_SUBJECTS } from "../bus/subjects.js";
import { Stage, StageJob } from "../gen/index.js";
import { startNatsServer } from "../../test-support/nats-server.js";
import { makeUnwritable } from "../../test-support/unwritable-dir.js";
import { StoreUnavailableError } from "./errors.js";
import { FsObjectStore } from "./fs-object-store.js";
import { readManifest, uploadDirWithManifest } from "./manifest.js";

test("fs store outage — a stage's upload into an unwritable store is nak'ed with backoff and completes once the store is writable again", { timeout: 60_000 }, async (t) => {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "mambalign-outage-"));
  const nats = await startNatsServer();
  const bus = await Bus.connect({ servers: nats.url, name: "test", logger: pino({ level: "silent" }) });
  try {
    await bus.ensureStreams();
    const root = path.join(tmp, "objects");
    const store = new FsObjectStore({ root });
    await store.put("checkpoints/other/1/x", "x"); // the store as a running system has it
    const ckpt = path.join(tmp, "ckpt");
    await fsp.mkdir(ckpt);
    await fsp.writeFile(path.join(ckpt, "adapter_model.safetensors"), Buffer.alloc(4096, 7));
    await fsp.writeFile(path.join(ckpt, "adapter_config.json"), "{}");

    const restore = await makeUnwritable([root, path.join(root, ".staging"), path.join(root, "checkpoints")]);
    if (!restore) return t.skip("cannot make a directory unwritable here (root without chattr +i)");
    const attempts: { delivery: number; error?: unknown }[] = [];
    let firstFailure!: () => void;
    const failed = new Promise<void>((r) => (firstFailure = r));
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const worker = bus.startJobWorker({
      durable: "outage-test",
      subjects: [JOB_SUBJECTS.train],
      retryBackoff: { initialMs: 500, maxMs: 2_000 },
      maxDeliver: 5,
      // The stage's last step, as the trainer does it: upload the checkpoint, manifest last.
      handler: async (job, ctl) => {
        try {
          await uploadDirWithManifest(store, `checkpoints/${job.runId}/1`, ckpt);
          attempts.push({ delivery: ctl.deliveryCount });
          done();
        } catch (err) {
          attempts.push({ delivery: ctl.deliveryCount, error: err });
          firstFailure();
          throw err;
        }
      },
    });
    try {
      await bus.publishJob(JOB_SUBJECTS.train, StageJob.fromPartial({ jobId: "outage.sft.1", runId: "outage", stage: Stage.STAGE_SFT, attempt: 1 }));
      await failed;
      await restore(); // the outage ends
      await finished;
    } finally {
      await restore().catch(() => undefined);
      await worker.stop();
    }
    assert.ok(attempts[0]!.error instanceof StoreUnavailableError, String(attempts[0]!.error));
    const last = attempts.at(-1)!;
    assert.equal(last.error, undefined);
    assert.ok(last.delivery >= 2, "completed on a redelivery");
    const manifest = await readManifest(store, "checkpoints/outage/1");
    assert.deepEqual(manifest?.files.map((f) => f.path).sort(), ["adapter_config.json", "adapter_model.safetensors"]);
    assert.equal(await bus.jobQueueDepth(), 0, "acked, not left or terminated");
  } finally {
    await bus.close();
    await nats.stop();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});
