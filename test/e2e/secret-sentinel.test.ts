// No secret anywhere it should not be: a whole run (tiny Mamba on CPU: SFT -> merge -> DPO -> eval with
// MT-Bench and AlpacaEval against the local judge) through the embedded control plane on MinIO, with a
// recognisable value in every secret (S3 keys, judge key, HF token, NATS passwords, API tokens). None may
// appear in a log line (pino's and anything on stderr), a run event or job, a record of any KV bucket,
// an object in the store (stored recipe, run histories, evaluations), the CLI's run/status/logs/report
// output or its error messages, or the report page.
import assert from "node:assert/strict";
import { mkdir, readFile, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createLogger, RunStatus, S3ObjectStore } from "@mambalign/core";
import { type MinioServer, startMinioServer, TEST_TOKENS } from "@mambalign/core/testing";
import { startLocalJudgeServer, type LocalJudgeServer } from "@mambalign/evaluator/testing";
import { startTestSystem, type TestSystem } from "../../services/cli/test-support/embedded-system.js";
import { writeTinyRun } from "../../services/cli/test-support/tiny-run.js";

const JUDGE_KEY = "sk-SENTINEL-judge-Qm4v8Tz1";
const HF_TOKEN = "hf_SENTINELtoken7Rk2Wp9x";

/** A writable that keeps every line written to it. */
function lineSink(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
}

describe("no secret anywhere it should not be", () => {
  let judge: LocalJudgeServer;
  let minio: MinioServer;
  let sys: TestSystem;
  const logLines: string[] = [];
  const stderrLines: string[] = [];
  const writeStderr = process.stderr.write.bind(process.stderr);

  before(async () => {
    // Whatever any part of this process prints on stderr (the runtime's stderr is relayed there or into events).
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      stderrLines.push(String(chunk));
      return writeStderr(chunk, ...rest);
    }) as typeof process.stderr.write;
    judge = await startLocalJudgeServer();
    minio = await startMinioServer();
    sys = await startTestSystem(
      {
        ...process.env,
        MAMBALIGN_JUDGE_BASE_URL: judge.baseUrl,
        MAMBALIGN_JUDGE_MODEL: "judge-1",
        MAMBALIGN_JUDGE_API_KEY: JUDGE_KEY,
        HF_TOKEN,
        MAMBALIGN_ALPACA_EVAL_LC_DATASET: "off",
      },
      // Debug: the most a deployment would log.
      { logger: createLogger("sentinel", "debug", lineSink(logLines)), s3: minio },
    );
  });
  after(async () => {
    process.stderr.write = writeStderr;
    await sys?.stop();
    await minio?.stop();
    await judge?.close();
  });

  test("the judge key, HF token, S3 keys, NATS passwords and API tokens appear in no log, event, record, object, CLI output or report", { timeout: 20 * 60_000 }, async () => {
    const dir = path.join(sys.stateDir, "work-dir");
    await mkdir(dir);
    await writeTinyRun(dir, "sentinel");

    // Every secret this run holds, by name.
    const natsConfFile = path.join(sys.stateDir, "nats-auth.conf");
    assert.equal((await stat(natsConfFile)).mode & 0o777, 0o600, "the NATS passwords' file is the user's alone");
    const natsConf = JSON.parse(await readFile(natsConfFile, "utf8")) as { authorization: { users: { user: string; password: string }[] } };
    const secrets: Record<string, string> = {
      "judge API key": JUDGE_KEY,
      "HF token": HF_TOKEN,
      "S3 secret key": minio.secretKey,
      "MinIO root password": minio.root.secretKey,
      "local API token": sys.system.clientSecurity.token!,
      ...Object.fromEntries(Object.entries(TEST_TOKENS).map(([k, v]) => [`test API token ${k}`, v])),
      ...Object.fromEntries(natsConf.authorization.users.map((u) => [`NATS password of ${u.user}`, u.password])),
    };
    assert.ok(natsConf.authorization.users.length >= 5, "each service has a NATS user");

    const found: string[] = [];
    const scan = (where: string, text: string) => {
      for (const [name, value] of Object.entries(secrets)) if (text.includes(value)) found.push(`${name} in ${where}`);
    };
    // The scan finds what it looks for: the NATS passwords are in their one place, the state directory's 0600 file.
    scan("nats-auth.conf", JSON.stringify(natsConf));
    assert.equal(found.length, natsConf.authorization.users.length, found.join("; "));
    found.length = 0;

    // The run, and what a user asks about it.
    const ran = await sys.cli(["-o", "json", "run", "--watch", "recipe.yaml"], dir);
    const runId = (JSON.parse(ran.out.split("\n")[0]!) as { id: string }).id;
    const final = JSON.parse(ran.out.trim().split("\n").filter((l) => l.includes('"run"')).at(-1)!) as { run: { status: string; message?: string } };
    assert.equal(final.run.status, RunStatus[RunStatus.RUN_STATUS_SUCCEEDED], `${final.run.message} ${ran.err}`);
    const outputs = [
      ["run --watch", ran],
      ["status", await sys.cli(["status", runId], dir)],
      ["status -o json", await sys.cli(["-o", "json", "status", runId], dir)],
      ["logs", await sys.cli(["logs", runId], dir)],
      ["report", await sys.cli(["report", runId, "--out", "report"], dir)],
      // Errors too: an unknown run, and a call with a wrong token.
      ["status of an unknown run", await sys.cli(["status", "no-such-run"], dir)],
      ["a wrong token", await sys.cli(["--token", `${TEST_TOKENS.admin}x`, "status", runId], dir)],
    ] as const;
    for (const [what, r] of outputs) {
      scan(`\`mambalign ${what}\` output`, r.out);
      scan(`\`mambalign ${what}\` errors`, r.err);
    }
    for (const f of await readdir(path.join(dir, "report"))) scan(`report file ${f}`, (await readFile(path.join(dir, "report", f))).toString("latin1"));

    // Every message of every stream: run events, jobs, and each KV bucket (all revisions).
    const jsm = sys.system.inspector!.jsm;
    const streams: string[] = [];
    for await (const si of jsm.streams.list()) streams.push(si.config.name);
    for (const name of ["EVENTS", "JOBS", "KV_runs", "KV_adapters", "KV_datasets", "KV_evals"]) assert.ok(streams.includes(name), `stream ${name} exists`);
    for (const name of streams) {
      const { state } = await jsm.streams.info(name);
      for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(name, { seq }).catch(() => null);
        if (m) scan(`${name} message ${seq} (${m.subject})`, `${m.subject} ${new TextDecoder().decode(m.data)}`);
      }
    }

    // Every object in the store (read as the root user: the services' user sees its bucket only).
    const store = new S3ObjectStore({ endPoint: minio.endPoint, bucket: minio.bucket, ...minio.root });
    let objects = 0;
    for await (const o of store.list("")) {
      objects++;
      scan(`object ${o.key}`, (await store.get(o.key)).toString("latin1"));
    }
    assert.ok(objects > 10, `the run stored its artifacts (${objects} objects)`);

    assert.ok(logLines.length > 50, `logs were captured (${logLines.length} lines)`);
    for (const [i, l] of logLines.entries()) scan(`log line ${i}: ${l.slice(0, 200)}`, l);
    for (const [i, l] of stderrLines.entries()) scan(`stderr write ${i}: ${l.slice(0, 200)}`, l);

    assert.deepEqual(found, []);
  });
});
