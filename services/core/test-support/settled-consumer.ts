import type { ConsumerInfo, JetStreamManager } from "@nats-io/jetstream";

/**
 * A JOBS consumer's info once its last job is settled: a worker publishes FAILED before it sends the
 * term, which the server may count a moment later, so poll (bounded, 5 s) while acks are pending.
 */
export async function settledConsumer(jsm: JetStreamManager, durable: string): Promise<ConsumerInfo> {
  let info = await jsm.consumers.info("JOBS", durable);
  for (let i = 0; i < 50 && info.num_ack_pending > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    info = await jsm.consumers.info("JOBS", durable);
  }
  return info;
}
