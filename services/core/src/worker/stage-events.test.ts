// stage events — what a stage job tells its run arrives once, even across a nats-server restart.
import assert from "node:assert/strict";
import { test } from "node:test";
import { pino } from "pino";
import { Bus } from "../bus/bus.js";
import { Stage, StageJob, StageStatus } from "../gen/index.js";
import { startNatsServer } from "../../test-support/nats-server.js";
import { StageEvents } from "./stage-events.js";

test("stage events — lines and a transition published while nats-server restarts arrive after it, each once and in order", async () => {
  const nats = await startNatsServer();
  const logger = pino({ level: "silent" });
  const bus = await Bus.connect({ servers: nats.url, name: "test", logger });
  try {
    await bus.ensureStreams();
    const job = StageJob.fromPartial({ jobId: "r1.sft.1", runId: "r1", stage: Stage.STAGE_SFT, attempt: 1 });
    const events = new StageEvents(bus, job, logger);
    await events.line("info", "before");
    const restarting = nats.restart();
    // Published while the server is going away and coming back.
    const lines = [events.line("info", "during 1"), events.line("info", "during 2")];
    const transition = events.transition(StageStatus.STAGE_STATUS_RUNNING, "delivery 1");
    await restarting;
    await Promise.all(lines);
    await transition;
    await events.line("info", "after");

    const seen: string[] = [];
    const ac = new AbortController();
    for await (const { event } of bus.watchEvents("r1", { signal: ac.signal })) {
      const k = event.kind;
      seen.push(k?.$case === "log" ? k.value.message : k?.$case === "transition" ? `transition ${k.value.message}` : "?");
      if (seen.at(-1) === "after") ac.abort();
    }
    assert.deepEqual(seen, ["before", "during 1", "during 2", "transition delivery 1", "after"]);
  } finally {
    await bus.close();
    await nats.stop();
  }
});
