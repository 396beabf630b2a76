// bus — what a failed connect says: where it tried, never the credentials in the URL.
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "node:test";
import { pino } from "pino";
import { freePort } from "../free-port.js";
import { Bus } from "./bus.js";
import { BusUnavailableError } from "./errors.js";

test("connect — a NATS URL's password or token never appears in the connect error", async () => {
  const port = await freePort(); // nothing listens there
  for (const [url, secret] of [
    [`nats://svc-user:sentinel-pa55-Zq9@127.0.0.1:${port}`, "sentinel-pa55-Zq9"],
    [`nats://sentinel-t0ken-Xk2@127.0.0.1:${port}`, "sentinel-t0ken-Xk2"],
  ] as const) {
    const err = await Bus.connect({ servers: url, name: "t", logger: pino({ level: "silent" }) }).then(
      () => assert.fail("connect should fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BusUnavailableError, String(err));
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`), "names the server");
    // The whole error as a log line would print it (message, cause, stack).
    assert.ok(!inspect(err, { depth: 5 }).includes(secret), inspect(err, { depth: 5 }));
  }
});
