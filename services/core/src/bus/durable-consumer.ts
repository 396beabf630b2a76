// Creates a durable pull consumer, or updates it in place when it exists with other settings.
import type { Consumer, ConsumerConfig, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { BusInvalidArgumentError } from "./errors.js";
import { JetStreamCodes, toBusError } from "./nats-errors.js";

const DURABLE_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function validateDurable(durable: string, field = "durable"): string {
  if (!DURABLE_RE.test(durable)) {
    throw new BusInvalidArgumentError(`invalid ${field} ${JSON.stringify(durable)}: use 1-64 of A-Z a-z 0-9 _ -`, {
      details: { field, key: durable },
    });
  }
  return durable;
}

/** Sets filter_subject for one subject (works on servers before 2.10) or filter_subjects for several. */
export function filterConfig(subjects: readonly string[]): Pick<ConsumerConfig, "filter_subject" | "filter_subjects"> {
  return subjects.length === 1 ? { filter_subject: subjects[0] as string } : { filter_subjects: [...subjects] };
}

export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  js: JetStreamClient,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
): Promise<Consumer> {
  const name = cfg.durable_name;
  try {
    await jsm.consumers.add(stream, cfg);
  } catch (err) {
    // Same name, other settings: adopt the settings this process was started with.
    if ((err as { code?: unknown }).code !== JetStreamCodes.ConsumerAlreadyExists) {
      throw toBusError(err, `create consumer ${name} on ${stream}`, { key: name });
    }
    try {
      await jsm.consumers.update(stream, name, {
        ack_wait: cfg.ack_wait,
        max_deliver: cfg.max_deliver,
        filter_subject: cfg.filter_subject ?? "",
        filter_subjects: cfg.filter_subjects ?? [],
      });
    } catch (err2) {
      throw toBusError(err2, `update consumer ${name} on ${stream}`, { key: name });
    }
  }
  try {
    return await js.consumers.get(stream, name);
  } catch (err) {
    throw toBusError(err, `bind consumer ${name} on ${stream}`, { key: name });
  }
}
