// Test helper: the whole control plane as `mambalign up` runs it (real NATS, fs store) in a temp
// state directory, for running CLI commands in-process against it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "@mambalign/core";
import { testTokenEntries } from "@mambalign/core/testing";
import { runCli } from "../src/program.js";
import { type EmbeddedOptions, type EmbeddedSystem, startEmbedded } from "../src/embedded/embedded-system.js";
import { collect } from "./collect-output.js";

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

export interface TestSystem {
  system: EmbeddedSystem;
  stateDir: string;
  /** Runs `mambalign ARGS` in this process against the system. */
  cli(args: string[], cwd?: string): Promise<CliResult>;
  stop(): Promise<void>;
}

/**
 * `env`: the services' environment (default process.env), e.g. a judge endpoint. The local token goes
 * to a config directory inside the state directory (never the user's), where the CLI finds it as a
 * user's would; the API also accepts TEST_TOKENS, for tests' own clients.
 */
export async function startTestSystem(
  env?: NodeJS.ProcessEnv,
  opts: Pick<EmbeddedOptions, "logger" | "s3"> = {},
): Promise<TestSystem> {
  const stateDir = await mkdtemp(path.join(tmpdir(), "mambalign-cli-system-"));
  const configHome = path.join(stateDir, "config");
  const system = await startEmbedded({
    stateDir,
    grpcPort: 0,
    metricsPort: 0,
    host: "127.0.0.1",
    logger: opts.logger ?? createLogger("test", process.env.LOG_LEVEL ?? "silent"),
    inspectBus: true,
    ...(opts.s3 ? { s3: opts.s3 } : {}),
    env: { ...(env ?? process.env), XDG_CONFIG_HOME: configHome },
    acceptTokens: testTokenEntries(),
  });
  return {
    system,
    stateDir,
    cli: async (args, cwd = stateDir) => {
      const out = collect();
      const err = collect();
      const code = await runCli(["--addr", system.addr, ...args], { out, err, env: { XDG_CONFIG_HOME: configHome }, cwd });
      return { code, out: out.text(), err: err.text() };
    },
    stop: async () => {
      await system.stop();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}
