import assert from "node:assert/strict";
import { test } from "node:test";
import { redactUrlCredentials } from "./redact.js";

test("redact — URL passwords and tokens are replaced, the rest of the text kept", () => {
  assert.equal(
    redactUrlCredentials("connect to nats://u:s3cret@a:4222,nats://tok@b:4222 failed"),
    "connect to nats://u:<redacted>@a:4222,nats://<redacted>@b:4222 failed",
  );
  assert.equal(redactUrlCredentials("https://judge.example/v1 and user@example.com"), "https://judge.example/v1 and user@example.com");
});
