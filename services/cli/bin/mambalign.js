#!/usr/bin/env node
// The `mambalign` command. In a source checkout it runs src/ through tsx (so it never lags behind
// the code); where only the build is installed (images, MAMBALIGN_CLI_DIST=1) it runs dist/.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const src = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const dist = new URL("../dist/main.js", import.meta.url);

function tsxLoader() {
  try {
    return import.meta.resolve("tsx");
  } catch {
    return undefined;
  }
}

const loader = existsSync(src) && process.env.MAMBALIGN_CLI_DIST !== "1" ? tsxLoader() : undefined;
if (!loader) {
  await import(dist.href);
} else {
  // Workspace packages resolve to their sources under the "development" condition.
  // fd 3 is a pipe whose end closes when this process dies, even by SIGKILL: the child then stops
  // (src/main.ts), so a killed `mambalign up` never leaves its services and NATS running.
  const child = spawn(process.execPath, ["--conditions=development", "--import", loader, src, ...process.argv.slice(2)], {
    stdio: ["inherit", "inherit", "inherit", "pipe"],
    env: { ...process.env, MAMBALIGN_PARENT_PIPE_FD: "3" },
  });
  // The terminal sends SIGINT to both processes; the child decides how to stop, we wait for it.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
