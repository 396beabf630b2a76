// Wire format of bus messages: UTF-8 proto3 JSON of the generated types.
import { RunEvent, StageJob } from "../gen/index.js";
import { BusInvalidArgumentError } from "./errors.js";

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

/** Parses UTF-8 JSON; `what` names the message/key for the error. */
export function decodeJson(data: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(dec.decode(data));
  } catch (cause) {
    throw new BusInvalidArgumentError(`${what}: payload is not UTF-8 JSON`, { cause, details: { key: what } });
  }
}

export function encodeJob(job: StageJob): Uint8Array {
  return encodeJson(StageJob.toJSON(job));
}

export function decodeJob(data: Uint8Array, subject: string): StageJob {
  const json = decodeJson(data, subject);
  try {
    return StageJob.fromJSON(json);
  } catch (cause) {
    throw new BusInvalidArgumentError(`${subject}: payload is not a StageJob`, { cause, details: { subject } });
  }
}

export function encodeEvent(event: RunEvent): Uint8Array {
  return encodeJson(RunEvent.toJSON(event));
}

export function decodeEvent(data: Uint8Array, subject: string): RunEvent {
  const json = decodeJson(data, subject);
  try {
    return RunEvent.fromJSON(json);
  } catch (cause) {
    throw new BusInvalidArgumentError(`${subject}: payload is not a RunEvent`, { cause, details: { subject } });
  }
}
