// `mambalign up`: the whole system in this process until SIGINT/SIGTERM.
import path from "node:path";
import type { CliIo } from "../cli-io.js";
import { startEmbedded } from "../embedded/embedded-system.js";
import { localTokenFile } from "../local-token.js";
import { type OutputFormat, printData } from "../output-format.js";

export interface UpOptions {
  port: number;
  metricsPort: number;
  dashboardPort: number;
  host: string;
  stateDir: string;
  output: OutputFormat;
}

export async function upCommand(io: CliIo, opts: UpOptions): Promise<number> {
  const stateDir = path.resolve(io.cwd, opts.stateDir);
  const system = await startEmbedded({ stateDir, grpcPort: opts.port, metricsPort: opts.metricsPort, dashboardPort: opts.dashboardPort, host: opts.host, env: io.env });
  const metricsUrl = `http://${opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host}:${system.metricsPort}/metrics`;
  // As data, for scripts that start `up` and then talk to it.
  const data = { addr: system.addr, metrics: metricsUrl, dashboard: system.dashboardUrl, stateDir, natsUrl: system.natsUrl, pid: process.pid, tokenFile: localTokenFile(io.env) };
  printData(io, opts.output, data, () =>
    [
      `mambalign is up: gRPC API on ${system.addr} (datasets, registry, trainer, evaluator, pipeline + health)`,
      `  dashboard ${system.dashboardUrl} (sign in with the token below)`,
      `  metrics  ${metricsUrl}`,
      `  state    ${stateDir} (objects/, nats/, work/); NATS ${system.natsUrl}`,
      `  token    ${data.tokenFile} (admin; the CLI uses it when no --token or MAMBALIGN_TOKEN is given)`,
      `  clients  export MAMBALIGN_ADDR=${system.addr}   then: mambalign run RECIPE --watch`,
    ].join("\n"),
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  (opts.output === "text" ? io.out : io.err).write("stopping...\n");
  await system.stop();
  return 0;
}
