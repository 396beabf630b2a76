import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "./logging.js";

test("logging — credentials are redacted wherever they appear", () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => (lines.push(String(chunk)), cb()) });
  const log = createLogger("t", "info", sink);
  log.info({ s3: { accessKey: "AKIA123", secretKey: "shh" }, apiKey: "sk-1" }, "connecting");
  const out = lines.join("");
  assert.doesNotMatch(out, /AKIA123|shh|sk-1/);
  assert.match(out, /\[redacted\]/);
});
