// Creates or updates the JOBS and EVENTS streams; safe to run from every service at start-up.
import {
  DiscardPolicy,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import { nanos } from "@nats-io/transport-node";
import { BusInvalidArgumentError } from "./errors.js";
import { JetStreamCodes, toBusError } from "./nats-errors.js";
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, JOBS_STREAM } from "./subjects.js";

export interface EnsureStreamsOptions {
  /** Window in which a repeated Nats-Msg-Id is dropped (default 120 000 ms, the server's default). */
  duplicateWindowMs?: number;
  /** How long run events are kept (default 30 days). */
  eventsMaxAgeMs?: number;
}

export const STREAM_DEFAULTS = {
  duplicateWindowMs: 2 * 60_000,
  eventsMaxAgeMs: 30 * 24 * 3_600_000,
} as const;

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) {
    throw new BusInvalidArgumentError(`${name} must be a positive number of milliseconds, got ${v}`, { details: { field: name } });
  }
  return v;
}

export function streamConfigs(opts: EnsureStreamsOptions = {}): (Partial<StreamConfig> & { name: string })[] {
  const dup = positive("duplicateWindowMs", opts.duplicateWindowMs ?? STREAM_DEFAULTS.duplicateWindowMs);
  const maxAge = positive("eventsMaxAgeMs", opts.eventsMaxAgeMs ?? STREAM_DEFAULTS.eventsMaxAgeMs);
  if (maxAge < dup) {
    // The server refuses a duplicate window longer than max_age.
    throw new BusInvalidArgumentError(`eventsMaxAgeMs (${maxAge}) must be >= duplicateWindowMs (${dup})`, {
      details: { field: "eventsMaxAgeMs" },
    });
  }
  return [
    {
      name: JOBS_STREAM,
      subjects: ["jobs.>"],
      // Work queue: a job is removed once acked (or terminated), so each job runs once.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(dup),
    },
    {
      name: EVENTS_STREAM,
      subjects: [`${EVENTS_SUBJECT_PREFIX}>`],
      // Limits: events stay for replay by any number of readers until they age out.
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(maxAge),
      duplicate_window: nanos(dup),
    },
  ];
}

/** Adds each stream, or updates it in place when it exists with other settings. */
export async function ensureStreams(jsm: JetStreamManager, opts: EnsureStreamsOptions = {}): Promise<void> {
  for (const cfg of streamConfigs(opts)) {
    const name = cfg.name;
    try {
      await jsm.streams.add(cfg);
    } catch (err) {
      const mapped = toBusError(err, `create stream ${name}`, { key: name });
      const code = (err as { code?: unknown }).code;
      if (code !== JetStreamCodes.StreamNameInUse) throw mapped;
      try {
        await jsm.streams.update(name, cfg);
      } catch (err2) {
        throw toBusError(err2, `update stream ${name} (retention and storage cannot change in place)`, { key: name });
      }
    }
  }
}
