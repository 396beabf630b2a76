// Who may do what on the bus: one NATS user per service, each allowed only the subjects its code uses.
// The one table the bundled nats-server configs are made from (`mambalign up`, the tests' server via
// natsAuthorizationConfig, and the chart's NATS config, which a chart test compares with it).
import { randomBytes } from "node:crypto";
import { EVENTS_STREAM, EVENTS_SUBJECT_PREFIX, JOB_SUBJECTS, JOBS_STREAM } from "./subjects.js";

/** The NATS users: the five services and the kube programs (launcher, autoscaler). */
export const BUS_USERS = ["datasets", "registry", "trainer", "evaluator", "pipeline", "kube"] as const;
export type BusUser = (typeof BUS_USERS)[number];

export interface SubjectPermissions {
  publish: string[];
  subscribe: string[];
  /** May answer the requests it receives (core request/reply), whatever their reply subject. */
  allowResponses?: boolean;
}

/**
 * Each user's replies arrive on its own inbox prefix, so no user can read another's JetStream API
 * answers (KV values, pulled jobs) by subscribing to `_INBOX.>`.
 */
export function inboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}

const api = (...tokens: string[]) => `$JS.API.${tokens.join(".")}`;

/** Create/update/read the JOBS and EVENTS streams: every service ensures them at start-up. */
const ENSURE_STREAMS = [JOBS_STREAM, EVENTS_STREAM].flatMap((s) => ["CREATE", "UPDATE", "INFO"].map((op) => api("STREAM", op, s)));

/** A KV bucket the user owns: open (create) it, read, write, list and watch it. */
function kvBucket(bucket: string): string[] {
  const stream = `KV_${bucket}`;
  return [
    ...["CREATE", "UPDATE", "INFO"].map((op) => api("STREAM", op, stream)),
    api("STREAM", "MSG", "GET", stream),
    api("DIRECT", "GET", stream),
    api("DIRECT", "GET", stream, ">"),
    // keys(), values(), watch(): ordered consumers on the bucket's stream
    ...["CREATE", "INFO", "DELETE", "MSG.NEXT"].flatMap((op) => [api("CONSUMER", op, stream), api("CONSUMER", op, stream, ">")]),
    `$JS.FC.${stream}.>`,
    `$KV.${bucket}.>`,
  ];
}

/**
 * A durable pull consumer: create or update it, pull from it, ack what it got, and reset it (a
 * filter that gained subjects is rewound past what the old filter skipped: durable-consumer.ts).
 */
function durable(stream: string, name: string): string[] {
  return [
    api("CONSUMER", "CREATE", stream, name),
    api("CONSUMER", "CREATE", stream, name, ">"),
    api("CONSUMER", "DURABLE", "CREATE", stream, name),
    api("CONSUMER", "INFO", stream, name),
    api("CONSUMER", "RESET", stream, name),
    api("CONSUMER", "MSG", "NEXT", stream, name),
    `$JS.ACK.${stream}.${name}.>`,
  ];
}

/**
 * Publishes run events and follows a run's events (how a worker learns the run ended): its last
 * event, then an ordered consumer (a generated name) filtered to the run. No acks: it cannot take
 * events from the pipeline's durables.
 */
const STAGE_EVENTS = [
  `${EVENTS_SUBJECT_PREFIX}>`,
  api("STREAM", "MSG", "GET", EVENTS_STREAM),
  api("DIRECT", "GET", EVENTS_STREAM),
  api("DIRECT", "GET", EVENTS_STREAM, ">"),
  api("CONSUMER", "CREATE", EVENTS_STREAM, "*", `${EVENTS_SUBJECT_PREFIX}*`),
  ...["INFO", "DELETE", "MSG.NEXT"].map((op) => api("CONSUMER", op, EVENTS_STREAM, "*")),
  `$JS.FC.${EVENTS_STREAM}.>`,
];

/** Any consumer over EVENTS: the pipeline's durables and the ordered consumers WatchRun reads through. */
const READ_ALL_EVENTS = [
  ...["CREATE", "DURABLE.CREATE", "INFO", "DELETE", "MSG.NEXT"].map((op) => api("CONSUMER", op, EVENTS_STREAM, ">")),
  `$JS.ACK.${EVENTS_STREAM}.>`,
  `$JS.FC.${EVENTS_STREAM}.>`,
];

/** Subjects each user publishes on (JetStream API calls are publishes too) besides its own inbox. */
const PUBLISH: Record<BusUser, string[]> = {
  datasets: [...ENSURE_STREAMS, ...kvBucket("datasets")],
  registry: [...ENSURE_STREAMS, ...kvBucket("adapters")],
  // Pulls jobs.train and jobs.merge and publishes its stages' events; it cannot publish a job.
  trainer: [...ENSURE_STREAMS, ...kvBucket("workers"), ...durable(JOBS_STREAM, "trainer"), ...STAGE_EVENTS, "mambalign.rendezvous.>"],
  evaluator: [...ENSURE_STREAMS, ...kvBucket("evals"), ...durable(JOBS_STREAM, "evaluator"), ...STAGE_EVENTS],
  // The only publisher of jobs; reads every run's events.
  pipeline: [
    ...ENSURE_STREAMS,
    ...kvBucket("runs"),
    ...kvBucket("run-requests"),
    ...Object.values(JOB_SUBJECTS),
    ...STAGE_EVENTS,
    ...READ_ALL_EVENTS,
  ],
  // Reads the job queue's depth, nothing else.
  kube: [api("STREAM", "INFO", JOBS_STREAM)],
};

/** The subjects `user` may publish and subscribe to. */
export function busPermissions(user: BusUser): SubjectPermissions {
  const inbox = `${inboxPrefix(user)}.>`;
  // Every JetStream client first asks for the account's JetStream info.
  const publish = [api("INFO"), ...PUBLISH[user]];
  if (user === "trainer") {
    // Multi-node stages: node 0 answers its followers' requests on the rendezvous subject.
    return { publish, subscribe: [inbox, "mambalign.rendezvous.>"], allowResponses: true };
  }
  return { publish, subscribe: [inbox] };
}

/** The table as the chart reads it (charts/mambalign/files/nats-permissions.json): nats-server's permissions per user. */
export function chartNatsPermissions(): string {
  const table = Object.fromEntries(BUS_USERS.map((u) => [u, serverPermissions(busPermissions(u))]));
  return `${JSON.stringify(table, null, 2)}\n`;
}

/** nats-server's form of a user's permissions. */
function serverPermissions(p: SubjectPermissions): object {
  return { publish: { allow: p.publish }, subscribe: { allow: p.subscribe }, ...(p.allowResponses ? { allow_responses: true } : {}) };
}

export interface BusCredential {
  user: BusUser;
  password: string;
}

/** A fresh random password for every bus user (the embedded system and the tests' servers). */
export function generateBusCredentials(): Record<BusUser, BusCredential> {
  return Object.fromEntries(BUS_USERS.map((user) => [user, { user, password: randomBytes(24).toString("base64url") }])) as Record<BusUser, BusCredential>;
}

/**
 * The `authorization` block of a nats-server configuration (JSON is valid NATS config) with only
 * these users (and `unrestricted`, allowed every subject, where given): an anonymous client is refused.
 */
export function natsAuthorizationConfig(users: readonly BusCredential[], unrestricted?: { user: string; password: string }): string {
  const entries: object[] = users.map(({ user, password }) => ({ user, password, permissions: serverPermissions(busPermissions(user)) }));
  // Tests that inspect or tamper with the bus state (never a deployment) connect as this user.
  if (unrestricted) entries.push({ user: unrestricted.user, password: unrestricted.password });
  return `${JSON.stringify({ authorization: { users: entries } }, null, 2)}\n`;
}
