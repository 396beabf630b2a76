// What the worker a recipe runs on carries beyond the base runtime, so `recipe check` names a missing
// package only when that worker really lacks it.

/** A worker's optional capabilities, as its image or environment declares them. */
export interface WorkerCapabilities {
  /** Names the worker in messages ("the GPU trainer image"). */
  name: string;
  /** CUDA GPUs are present. */
  cuda: boolean;
  /** Optional Python packages installed besides services/runtime/requirements.txt. */
  packages: readonly string[];
}

/**
 * The GPU trainer image (docker/trainer.Dockerfile), which the chart deploys: requirements.txt plus
 * requirements-gpu.txt (= the runtime's `gpu` extras). A test keeps `packages` equal to those files.
 */
export const GPU_IMAGE_WORKER: WorkerCapabilities = Object.freeze({ name: "the GPU trainer image", cuda: true, packages: Object.freeze(["bitsandbytes"]) });

/** A CPU worker with the base runtime only: `mambalign up` and the demo on a machine without a GPU. */
export const CPU_WORKER: WorkerCapabilities = Object.freeze({ name: "a CPU worker with the base runtime", cuda: false, packages: Object.freeze([]) });

/** Workers by the name `mambalign recipe check --worker` takes. */
export const WORKERS: Readonly<Record<string, WorkerCapabilities>> = Object.freeze({ "gpu-image": GPU_IMAGE_WORKER, cpu: CPU_WORKER });

/** What a feature needs from the worker. */
export interface WorkerNeeds {
  cuda?: boolean;
  packages?: readonly string[];
}

/** What `worker` lacks of `needs` ("CUDA", package names); empty when it has everything. */
export function workerLacks(worker: WorkerCapabilities, needs: WorkerNeeds): string[] {
  const lacking = (needs.packages ?? []).filter((p) => !worker.packages.includes(p));
  if (needs.cuda && !worker.cuda) lacking.push("CUDA");
  return lacking;
}
