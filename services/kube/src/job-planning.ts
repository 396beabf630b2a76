/**
 * How many Kubernetes Jobs the launcher creates now.
 *
 * `outstanding` counts stage jobs still in the JetStream work queue, delivered-but-unacked ones
 * included: each needs exactly one trainer Job (MAMBALIGN_TRAINER_MAX_JOBS=1), either one already
 * holding it or one that will pull it. `unfinished` counts Jobs not yet Complete/Failed (suspended
 * by Kueue, pending, or running). The result never exceeds the uncovered work, so no Job is ever
 * created that would sit on GPUs with nothing to do, and never lifts `unfinished` above `maxConcurrent`.
 */
export interface JobPlanInput {
  outstanding: number;
  unfinished: number;
  maxConcurrent: number;
}

export function jobsToCreate(input: JobPlanInput): number {
  for (const key of ["outstanding", "unfinished", "maxConcurrent"] as const) {
    const v = input[key];
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${key} must be a non-negative integer, got ${v}`);
  }
  const uncovered = input.outstanding - input.unfinished;
  const room = input.maxConcurrent - input.unfinished;
  return Math.max(0, Math.min(uncovered, room));
}
