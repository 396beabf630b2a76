// datasets — Hub downloads resume a partial file with an HTTP Range request (local Hub stand-in).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fsp from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { HubClient } from "./hub-client.js";
import { startHubStandIn } from "../test-support/hub-stand-in.js";

test("hub client — a partial download on disk resumes from its length with Range, and the file is whole", async () => {
  const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));
  const hub = await startHubStandIn({ "org/data": { files: { "data/train-00000-of-00001.parquet": body } } });
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "hub-resume-"));
  try {
    const client = new HubClient({ endpoint: hub.url, token: "", attempts: 2, backoffMs: 1 });
    const rev = await client.resolve("org/data", "main");
    const file = rev.files.find((f) => f.path.endsWith(".parquet"))!;
    const dest = path.join(dir, "part.parquet");
    await fsp.writeFile(dest, body.subarray(0, 1000)); // what an interrupted earlier try left
    await client.download(rev, file, dest);
    const got = await fsp.readFile(dest);
    assert.equal(createHash("sha256").update(got).digest("hex"), createHash("sha256").update(body).digest("hex"));
    const downloads = hub.requests.filter((r) => r.path.endsWith(".parquet"));
    assert.deepEqual(downloads.map((r) => r.range), ["bytes=1000-"]);
  } finally {
    await hub.close();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
