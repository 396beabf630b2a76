import type { Writable } from "node:stream";

/** Where a command writes and what it reads from its surroundings (so tests run commands in-process). */
export interface CliIo {
  out: Writable;
  err: Writable;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** An expected failure: the message is printed as is and the process exits with `exitCode`. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export const DEFAULT_ADDR = "127.0.0.1:50051";

/** --addr, else MAMBALIGN_ADDR, else the default of `mambalign up`. */
export function apiAddr(opt: string | undefined, env: NodeJS.ProcessEnv): string {
  return opt || env.MAMBALIGN_ADDR || DEFAULT_ADDR;
}
