import { test } from "node:test";
import assert from "node:assert/strict";
import { decideReplicas, pruneHistory, type ScaleBounds } from "./pool-scaling.js";

const bounds: ScaleBounds = { min: 0, max: 4, scaleDownStabilisationMs: 300_000, cooldownMs: 60_000 };
const T = 10_000_000;

test("pool scaling — scales up to the outstanding work at once", () => {
  const d = decideReplicas(bounds, { outstanding: 3, current: 1, now: T, lastChangeAt: undefined, history: [] });
  assert.deepEqual(d, { replicas: 3, target: 3, reason: "scale-up" });
});

test("pool scaling — scale-up is capped at max", () => {
  const d = decideReplicas(bounds, { outstanding: 50, current: 0, now: T, lastChangeAt: undefined, history: [] });
  assert.equal(d.replicas, 4);
});

test("pool scaling — min keeps warm workers even with an empty queue", () => {
  const d = decideReplicas({ ...bounds, min: 1 }, { outstanding: 0, current: 3, now: T, lastChangeAt: T - 600_000, history: [] });
  assert.deepEqual(d, { replicas: 1, target: 1, reason: "scale-down" });
});

test("pool scaling — scales to zero once the queue has been empty for the whole window", () => {
  const history = [{ at: T - 400_000, replicas: 2 }, { at: T - 200_000, replicas: 0 }, { at: T - 100_000, replicas: 0 }];
  const d = decideReplicas(bounds, { outstanding: 0, current: 2, now: T, lastChangeAt: T - 600_000, history });
  assert.deepEqual(d, { replicas: 0, target: 0, reason: "scale-down" });
});

test("pool scaling — a brief dip does not scale down (stabilisation window)", () => {
  const history = [{ at: T - 120_000, replicas: 3 }, { at: T - 60_000, replicas: 3 }];
  const d = decideReplicas(bounds, { outstanding: 0, current: 3, now: T, lastChangeAt: T - 600_000, history });
  assert.deepEqual(d, { replicas: 3, target: 0, reason: "stabilising" });
});

test("pool scaling — scale-down stops at the highest target within the window", () => {
  const history = [{ at: T - 120_000, replicas: 2 }, { at: T - 60_000, replicas: 1 }];
  const d = decideReplicas(bounds, { outstanding: 0, current: 4, now: T, lastChangeAt: T - 600_000, history });
  assert.deepEqual(d, { replicas: 2, target: 0, reason: "scale-down" });
});

test("pool scaling — cooldown blocks a change right after the previous one", () => {
  const down = decideReplicas(bounds, { outstanding: 0, current: 3, now: T, lastChangeAt: T - 10_000, history: [] });
  assert.deepEqual(down, { replicas: 3, target: 0, reason: "cooldown" });
  const up = decideReplicas(bounds, { outstanding: 4, current: 2, now: T, lastChangeAt: T - 10_000, history: [] });
  assert.deepEqual(up, { replicas: 2, target: 4, reason: "cooldown" });
});

test("pool scaling — from zero, queued work starts a worker despite the cooldown", () => {
  const d = decideReplicas(bounds, { outstanding: 1, current: 0, now: T, lastChangeAt: T - 1_000, history: [] });
  assert.deepEqual(d, { replicas: 1, target: 1, reason: "scale-up" });
});

test("pool scaling — an oscillating queue does not make replicas oscillate", () => {
  // The queue alternates 3 / 0 every 30 s for 10 minutes; replicas must change only once (the first scale-up).
  let current = 0;
  let lastChangeAt: number | undefined;
  let history: { at: number; replicas: number }[] = [];
  let changes = 0;
  for (let i = 0; i < 20; i++) {
    const now = T + i * 30_000;
    const d = decideReplicas(bounds, { outstanding: i % 2 === 0 ? 3 : 0, current, now, lastChangeAt, history });
    history = pruneHistory([...history, { at: now, replicas: d.target }], now, bounds.scaleDownStabilisationMs);
    if (d.replicas !== current) {
      changes++;
      current = d.replicas;
      lastChangeAt = now;
    }
  }
  assert.equal(changes, 1);
  assert.equal(current, 3);
});

test("pool scaling — contradictory bounds are refused with the field named", () => {
  assert.throws(() => decideReplicas({ ...bounds, min: 5, max: 2 }, { outstanding: 0, current: 0, now: T, lastChangeAt: undefined, history: [] }), /min \(5\) must not exceed max \(2\)/);
  assert.throws(() => decideReplicas(bounds, { outstanding: -2, current: 0, now: T, lastChangeAt: undefined, history: [] }), /outstanding/);
});
