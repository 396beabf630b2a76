// Creates a durable pull consumer, or updates it in place when it exists with other settings.
import {
  type Consumer,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
} from "@nats-io/jetstream";
import type { Logger } from "pino";
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

function filterSubjects(cfg: Partial<ConsumerConfig>): string[] {
  if (cfg.filter_subjects?.length) return [...cfg.filter_subjects];
  return cfg.filter_subject ? [cfg.filter_subject] : [];
}

export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  js: JetStreamClient,
  stream: string,
  cfg: Partial<ConsumerConfig> & { durable_name: string },
  log?: Logger,
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
      const before = filterSubjects((await jsm.consumers.info(stream, name)).config);
      await jsm.consumers.update(stream, name, {
        ack_wait: cfg.ack_wait,
        max_deliver: cfg.max_deliver,
        filter_subject: cfg.filter_subject ?? "",
        filter_subjects: cfg.filter_subjects ?? [],
      });
      const after = filterSubjects(cfg);
      if (after.some((s) => !before.includes(s))) await rewindPastSkipped(jsm, stream, name, after, log);
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

/**
 * nats-server keeps a consumer's position when its filter changes, so messages on a newly added
 * subject that the consumer scanned past under the old filter are never delivered: on a work queue
 * they sit there for good (also past its last delivery: a pull left waiting scans on). On a work
 * queue every message still stored is unacked, so those skipped are the ones the new filter matches
 * minus what the consumer holds (num_ack_pending) and has yet to reach (num_pending); the counts come
 * from stream and consumer info, read until two consumer infos around the stream's agree. When any
 * is skipped the consumer is reset to the stream's first message. Jobs other replicas hold at that
 * moment are then delivered again (at-least-once, as after an ack_wait expiry): resetting past them
 * instead would strand any of them that fails (nats-server 2.14.5 drops their pending state), hence
 * only when something was skipped. A failed rewind is logged and does not stop the worker.
 */
async function rewindPastSkipped(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  filter: string[],
  log?: Logger,
): Promise<void> {
  const same = (a: ConsumerInfo, b: ConsumerInfo) =>
    a.delivered.stream_seq === b.delivered.stream_seq &&
    a.ack_floor.stream_seq === b.ack_floor.stream_seq &&
    a.num_ack_pending === b.num_ack_pending &&
    a.num_pending === b.num_pending;
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await jsm.consumers.info(stream, name);
      const infos = [];
      for (const subject of filter) infos.push(await jsm.streams.info(stream, { subjects_filter: subject }));
      const [si] = infos;
      // On other retentions acked messages stay stored, so the count says nothing.
      if (si?.config.retention !== RetentionPolicy.Workqueue) return;
      const after = await jsm.consumers.info(stream, name);
      if (!same(before, after)) continue;
      // Keyed by subject: overlapping filters (a wildcard and a subject it covers) count once.
      const counts = new Map(infos.flatMap((i) => Object.entries(i.state.subjects ?? {})));
      const stored = [...counts.values()].reduce((a, b) => a + b, 0);
      const first = si.state.first_seq;
      const skipped = stored - after.num_ack_pending - after.num_pending;
      if (skipped <= 0) return;
      await jsm.consumers.reset(stream, name, first);
      log?.warn(
        { stream, durable: name, filter, skipped, rewoundTo: first, redelivered: after.num_ack_pending },
        "consumer rewound: its new subjects had messages it scanned past under the old filter",
      );
      return;
    }
    log?.warn({ stream, durable: name }, "queue kept changing; skipped messages, if any, wait for the next start");
  } catch (err) {
    log?.error({ err, stream, durable: name }, "could not rewind the consumer past messages its old filter skipped");
  }
}
