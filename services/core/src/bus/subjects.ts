// Stream names and subjects of the bus (docs/architecture.md "NATS").
import { BusInvalidArgumentError } from "./errors.js";

export const JOB_SUBJECTS = { train: "jobs.train", merge: "jobs.merge", eval: "jobs.eval" } as const;
export type JobSubject = (typeof JOB_SUBJECTS)[keyof typeof JOB_SUBJECTS];
export const ALL_JOB_SUBJECTS: readonly JobSubject[] = Object.values(JOB_SUBJECTS);

export const JOBS_STREAM = "JOBS";
export const EVENTS_STREAM = "EVENTS";
export const EVENTS_SUBJECT_PREFIX = "events.";

/** Run ids become one subject token, so they may not hold `.`, `*`, `>` or whitespace. */
const RUN_ID_RE = /^[A-Za-z0-9_-]{1,200}$/;

export function validateRunId(runId: string, field = "runId"): string {
  if (!RUN_ID_RE.test(runId)) {
    throw new BusInvalidArgumentError(
      `invalid ${field} ${JSON.stringify(runId)}: use 1-200 of A-Z a-z 0-9 _ - (it becomes a NATS subject token)`,
      { details: { field, key: runId } },
    );
  }
  return runId;
}

/** Subject carrying one run's events. */
export function eventSubject(runId: string): string {
  return EVENTS_SUBJECT_PREFIX + validateRunId(runId);
}

export function isJobSubject(s: string): s is JobSubject {
  return (ALL_JOB_SUBJECTS as readonly string[]).includes(s);
}

export function validateJobSubjects(subjects: readonly string[], field = "subjects"): JobSubject[] {
  if (subjects.length === 0) {
    throw new BusInvalidArgumentError(`${field} is empty: name at least one of ${ALL_JOB_SUBJECTS.join(", ")}`, {
      details: { field },
    });
  }
  for (const s of subjects) {
    if (!isJobSubject(s)) {
      throw new BusInvalidArgumentError(`${field}: unknown job subject ${JSON.stringify(s)}; valid: ${ALL_JOB_SUBJECTS.join(", ")}`, {
        details: { field, subject: s },
      });
    }
  }
  return [...new Set(subjects)] as JobSubject[];
}
