// Entry point of the `mambalign` command.
import { runCli } from "./program.js";

const code = await runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env, cwd: process.cwd() });
process.exitCode = code;
