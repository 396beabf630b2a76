import { pino, type Logger } from "pino";

export type { Logger } from "pino";

// Credentials must never reach logs, whatever object they arrive in.
const REDACT = [
  "secretKey",
  "accessKey",
  "apiKey",
  "password",
  "token",
  "authorization",
  "*.secretKey",
  "*.accessKey",
  "*.apiKey",
  "*.password",
  "*.token",
  "*.authorization",
  "*.*.secretKey",
  "*.*.accessKey",
  'headers["authorization"]',
];

/** JSON logger for a service (stderr-friendly; one object per line). */
export function createLogger(service: string, level = "info", destination?: pino.DestinationStream): Logger {
  return pino(
    { name: service, level, redact: { paths: REDACT, censor: "[redacted]" }, base: { service } },
    destination ?? pino.destination(2),
  );
}
