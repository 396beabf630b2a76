/**
 * Replica decisions for the trainer pool (pool mode), kept pure so flapping protection is testable
 * without clocks or a cluster. Each replica works one stage job at a time, so the raw target is the
 * number of outstanding jobs (queued + in progress), clamped to [min, max].
 *
 * Flapping protection, as in the HorizontalPodAutoscaler:
 * - scale-down stabilisation: a scale-down goes only to the highest target seen within the window,
 *   so a short dip in the queue does not kill a worker that would be needed again a moment later;
 * - cooldown: after any change, no further change until `cooldownMs` has passed (scale-up excepted
 *   from zero, so queued work never waits on a cooldown while no worker exists).
 */
export interface ScaleBounds {
  min: number;
  max: number;
  scaleDownStabilisationMs: number;
  cooldownMs: number;
}

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface ScaleInput {
  outstanding: number;
  current: number;
  now: number;
  /** Time of the last replica change made by the autoscaler; undefined if none yet. */
  lastChangeAt: number | undefined;
  /** Earlier raw targets; those older than the stabilisation window are ignored. */
  history: readonly Recommendation[];
}

export interface ScaleDecision {
  replicas: number;
  /** The raw (unstabilised) target, to be appended to the history by the caller. */
  target: number;
  reason: "steady" | "scale-up" | "scale-down" | "stabilising" | "cooldown";
}

export function validateBounds(b: ScaleBounds): ScaleBounds {
  for (const key of ["min", "max", "scaleDownStabilisationMs", "cooldownMs"] as const) {
    const v = b[key];
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${key} must be a non-negative integer, got ${v}`);
  }
  if (b.min > b.max) throw new RangeError(`min (${b.min}) must not exceed max (${b.max})`);
  return b;
}

export function decideReplicas(bounds: ScaleBounds, input: ScaleInput): ScaleDecision {
  validateBounds(bounds);
  for (const key of ["outstanding", "current"] as const) {
    const v = input[key];
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${key} must be a non-negative integer, got ${v}`);
  }
  const target = Math.min(bounds.max, Math.max(bounds.min, input.outstanding));
  const { current, now } = input;
  if (target === current) return { replicas: current, target, reason: "steady" };

  const inCooldown = input.lastChangeAt !== undefined && now - input.lastChangeAt < bounds.cooldownMs;
  if (target > current) {
    if (inCooldown && current > 0) return { replicas: current, target, reason: "cooldown" };
    return { replicas: target, target, reason: "scale-up" };
  }

  // Scale down only as far as the highest target seen within the window (the current one included).
  const windowStart = now - bounds.scaleDownStabilisationMs;
  let stabilised = target;
  for (const r of input.history) if (r.at > windowStart && r.replicas > stabilised) stabilised = r.replicas;
  const replicas = Math.min(current, stabilised);
  if (replicas === current) return { replicas: current, target, reason: "stabilising" };
  if (inCooldown) return { replicas: current, target, reason: "cooldown" };
  return { replicas, target, reason: "scale-down" };
}

/** Drops recommendations that can no longer affect a decision. */
export function pruneHistory(history: readonly Recommendation[], now: number, windowMs: number): Recommendation[] {
  return history.filter((r) => r.at > now - windowMs);
}
