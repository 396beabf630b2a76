import { test } from "node:test";
import assert from "node:assert/strict";
import { jobsToCreate } from "./job-planning.js";

test("job planning — one Job per queued stage when nothing runs", () => {
  assert.equal(jobsToCreate({ outstanding: 3, unfinished: 0, maxConcurrent: 8 }), 3);
});

test("job planning — Jobs already created cover their stages, so none are duplicated", () => {
  assert.equal(jobsToCreate({ outstanding: 3, unfinished: 3, maxConcurrent: 8 }), 0);
  assert.equal(jobsToCreate({ outstanding: 5, unfinished: 2, maxConcurrent: 8 }), 3);
});

test("job planning — an empty queue creates nothing (no idle reserved GPUs)", () => {
  assert.equal(jobsToCreate({ outstanding: 0, unfinished: 0, maxConcurrent: 8 }), 0);
  // Jobs still finishing after the queue drained must not cause negative or extra work.
  assert.equal(jobsToCreate({ outstanding: 0, unfinished: 2, maxConcurrent: 8 }), 0);
});

test("job planning — bounded by maxConcurrent", () => {
  assert.equal(jobsToCreate({ outstanding: 10, unfinished: 0, maxConcurrent: 4 }), 4);
  assert.equal(jobsToCreate({ outstanding: 10, unfinished: 3, maxConcurrent: 4 }), 1);
  assert.equal(jobsToCreate({ outstanding: 10, unfinished: 4, maxConcurrent: 4 }), 0);
  assert.equal(jobsToCreate({ outstanding: 10, unfinished: 6, maxConcurrent: 4 }), 0);
  assert.equal(jobsToCreate({ outstanding: 10, unfinished: 0, maxConcurrent: 0 }), 0);
});

test("job planning — bad input names the field", () => {
  assert.throws(() => jobsToCreate({ outstanding: -1, unfinished: 0, maxConcurrent: 1 }), /outstanding/);
  assert.throws(() => jobsToCreate({ outstanding: 1, unfinished: 0.5, maxConcurrent: 1 }), /unfinished/);
  assert.throws(() => jobsToCreate({ outstanding: 1, unfinished: 0, maxConcurrent: NaN }), /maxConcurrent/);
});
