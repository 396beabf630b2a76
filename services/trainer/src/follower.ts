// Stages over several nodes (a JobSet's pods, see services/kube/src/multi-node.ts): node 0 is an ordinary
// trainer that pulls the stage job from the queue; the other nodes do not touch the queue. Each asks node 0
// (core NATS request/reply on a subject named after the JobSet) for the job it holds and the checkpoint it
// resumes from, stages the same inputs, and runs the runtime as its node rank of torchrun's rendezvous.
// Only node 0 relays events, uploads checkpoints and registers the result (global rank 0 writes them).
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { type Bus, downloadVerified, runRuntime, STAGE_WORKER_DEFAULTS, StageJob, StagePreempted, watchRunEnd } from "@mambalign/core";
import { type JobRunnerDeps, runtimeEnv } from "./run-job.js";
import { buildRuntimeSpec, runtimeCommand } from "./runtime-spec.js";
import { stageInputs } from "./stage-inputs.js";
import type { Rendezvous } from "./trainer-options.js";

/** What node 0 tells its followers. */
export interface LeaderAnswer {
  job: StageJob;
  /** Checkpoint prefix node 0 resumes from ("" for a fresh start): every rank must load the same one. */
  resumePrefix: string;
}

export interface FollowerDeps extends JobRunnerDeps {
  /** The runtime's interpreter (MAMBALIGN_PYTHON). */
  python: string;
}

const subject = (r: Rendezvous) => `mambalign.rendezvous.${r.group}`;
const ASK_EVERY_MS = 2_000;

/** The environment the runtime's launcher reads to join the other nodes (launch.py). */
export function rendezvousEnv(r: Rendezvous, command: string): Record<string, string> {
  if (r.nnodes === 1 || !["sft", "dpo"].includes(command)) return {};
  return { PET_NNODES: String(r.nnodes), PET_NODE_RANK: String(r.nodeRank), PET_MASTER_ADDR: r.masterAddr, PET_MASTER_PORT: String(r.masterPort) };
}

/** Node 0: answers every follower's question until closed. */
export function answerFollowers(bus: Bus, r: Rendezvous, answer: LeaderAnswer, logger: Logger): { close(): void } {
  const body = JSON.stringify({ job: StageJob.toJSON(answer.job), resumePrefix: answer.resumePrefix });
  const sub = bus.nc.subscribe(subject(r), {
    callback: (err, msg) => {
      if (err) return logger.warn({ err }, "rendezvous subscription error");
      msg.respond(body);
    },
  });
  return { close: () => sub.unsubscribe() };
}

/** A follower: asks node 0 until it answers (it may still be pulling the job, or resuming) or `signal` aborts. */
export async function askLeader(bus: Bus, r: Rendezvous, signal: AbortSignal, logger: Logger): Promise<LeaderAnswer> {
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw new StagePreempted("stopped before node 0 handed out a job");
    try {
      const msg = await bus.nc.request(subject(r), "", { timeout: ASK_EVERY_MS });
      const parsed = JSON.parse(msg.string()) as { job: unknown; resumePrefix?: unknown };
      return { job: StageJob.fromJSON(parsed.job), resumePrefix: typeof parsed.resumePrefix === "string" ? parsed.resumePrefix : "" };
    } catch (err) {
      // No responder yet, or a timeout: node 0 has not got its job yet (or is restarting).
      if (attempt % 15 === 0) logger.info({ err, attempt }, "waiting for node 0 of the rendezvous");
      await new Promise((ok) => setTimeout(ok, ASK_EVERY_MS / 2)); // retry interval
    }
  }
}

/**
 * Runs this node's share of the stage node 0 holds; resolves when the runtime finished it, or when the run
 * ended (cancelled: node 0 stops its share too, so this one is stopped within the stage worker's cancel grace).
 */
export async function runAsFollower(d: FollowerDeps, signal: AbortSignal): Promise<void> {
  const r = d.opts.rendezvous;
  const log = d.logger.child({ nodeRank: r.nodeRank, group: r.group });
  const { job, resumePrefix } = await askLeader(d.bus, r, signal, log);
  const command = runtimeCommand(job.stage);
  if (!["sft", "dpo"].includes(command)) {
    log.info({ jobId: job.jobId, command }, "node 0 runs this stage alone");
    return;
  }
  // The job id was validated by node 0 before it answered; a node-rank directory keeps nodes sharing a disk apart.
  const dir = path.join(d.workDir, `node-${r.nodeRank}`, job.jobId);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const stop = new AbortController();
  let runEnded = false;
  const onStop = () => stop.abort();
  signal.addEventListener("abort", onStop, { once: true });
  const watching = new AbortController();
  if (job.runId) {
    const watch = watchRunEnd(d.bus, job.runId, watching.signal, log);
    watch.past.catch(() => undefined); // a failed watch is logged there; this node then follows node 0's exit
    void watch.ended.then(() => {
      runEnded = true;
      log.info({ jobId: job.jobId }, "the run ended; stopping this node's share");
      stop.abort();
    });
  }
  try {
    const inputs = await stageInputs(d.store, d.models, job, path.join(dir, "inputs"));
    let resumeDir = "";
    if (resumePrefix) {
      resumeDir = path.join(dir, "resume");
      await downloadVerified(d.store, resumePrefix, resumeDir);
    }
    if (stop.signal.aborted) throw new StagePreempted("stopped before the runtime started");
    log.info({ jobId: job.jobId, resumePrefix }, "joining node 0's run");
    await runRuntime({
      python: d.python,
      spec: buildRuntimeSpec(job, inputs, path.join(dir, "out")),
      dir,
      resumeDir,
      nproc: d.opts.gpus,
      env: runtimeEnv(d, command),
      logger: log,
      signal: stop.signal,
      graceMs: () => (runEnded ? STAGE_WORKER_DEFAULTS.cancelGraceMs : d.opts.checkpointGraceMs),
      // No onEvent: only global rank 0 emits events, on node 0.
    });
  } catch (err) {
    if (!runEnded) throw err;
    log.info({ jobId: job.jobId, err }, "stopped: the run ended");
  } finally {
    watching.abort();
    signal.removeEventListener("abort", onStop);
    await rm(dir, { recursive: true, force: true });
  }
}
