// Entry point of the `mambalign` command.
import { Socket } from "node:net";
import { runCli } from "./program.js";

// Started by bin/mambalign.js, which keeps the other end of this pipe: it closes when that process
// dies, even by SIGKILL, and then this one stops as on SIGTERM (`up` shuts its services and NATS down).
const parentFd = Number(process.env.MAMBALIGN_PARENT_PIPE_FD);
delete process.env.MAMBALIGN_PARENT_PIPE_FD;
if (Number.isInteger(parentFd) && parentFd > 2) {
  const pipe = new Socket({ fd: parentFd, readable: true, writable: false });
  pipe.on("error", () => undefined);
  pipe.once("close", () => process.kill(process.pid, "SIGTERM"));
  pipe.resume();
  pipe.unref();
}

const code = await runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env, cwd: process.cwd() });
process.exitCode = code;
