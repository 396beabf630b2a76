// What operators watch on a trainer: jobs by outcome, where the running job is, and checkpoint traffic.
import type { Counter, Gauge, Histogram } from "prom-client";
import type { Metrics } from "@mambalign/core";

export interface TrainerMetrics {
  jobs: Counter<"service" | "outcome">;
  step: Gauge<"service">;
  totalSteps: Gauge<"service">;
  tokensPerSecond: Gauge<"service">;
  uploadBytes: Counter<"service" | "kind">;
  uploadSeconds: Histogram<"service" | "kind">;
  uploadFailures: Counter<"service" | "kind">;
}

export function trainerMetrics(m: Metrics): TrainerMetrics {
  return {
    jobs: m.counter("mambalign_trainer_jobs_total", "Stage jobs finished by this trainer, by outcome", ["service", "outcome"]),
    step: m.gauge("mambalign_trainer_step", "Optimiser step of the running job (0 when idle)", ["service"]),
    totalSteps: m.gauge("mambalign_trainer_total_steps", "Total steps of the running job (0 when idle)", ["service"]),
    tokensPerSecond: m.gauge("mambalign_trainer_tokens_per_second", "Training throughput reported by the runtime", ["service"]),
    uploadBytes: m.counter("mambalign_trainer_upload_bytes_total", "Bytes uploaded (checkpoints and final artifacts)", [
      "service",
      "kind",
    ]),
    uploadSeconds: m.histogram(
      "mambalign_trainer_upload_seconds",
      "Wall time of one checkpoint or artifact upload, manifest included",
      ["service", "kind"],
      [0.1, 0.5, 2, 10, 30, 120, 600],
    ),
    uploadFailures: m.counter("mambalign_trainer_upload_failures_total", "Checkpoint or artifact uploads that failed after retries", [
      "service",
      "kind",
    ]),
  };
}
