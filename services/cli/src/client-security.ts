// How the CLI proves who it is and checks the API, resolved once per invocation: --token, else
// MAMBALIGN_TOKEN, else the local token `mambalign up` made; --ca, else MAMBALIGN_CA (then TLS);
// MAMBALIGN_TLS_CERT/_KEY for a cluster that requires mutual TLS.
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ClientSecurity } from "@mambalign/core";
import { CliError, type CliIo } from "./cli-io.js";
import { readLocalToken } from "./local-token.js";

function readPem(what: string, file: string, cwd: string): Buffer {
  try {
    return readFileSync(path.resolve(cwd, file));
  } catch (err) {
    throw new CliError(`${what}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

export function cliClientSecurity(opts: { token?: string; ca?: string }, io: Pick<CliIo, "env" | "cwd">): ClientSecurity {
  const { env } = io;
  const token = opts.token || env.MAMBALIGN_TOKEN || readLocalToken(env);
  const caFile = opts.ca || env.MAMBALIGN_CA;
  const security: ClientSecurity = {};
  if (token) security.token = token;
  if (caFile) Object.assign(security, { tls: true, ca: readPem(opts.ca ? "--ca" : "MAMBALIGN_CA", caFile, io.cwd) });
  if (env.MAMBALIGN_TLS_CERT || env.MAMBALIGN_TLS_KEY) {
    if (!env.MAMBALIGN_TLS_CERT || !env.MAMBALIGN_TLS_KEY) throw new CliError("MAMBALIGN_TLS_CERT and MAMBALIGN_TLS_KEY go together (a client certificate for mutual TLS)");
    Object.assign(security, { tls: true, cert: readPem("MAMBALIGN_TLS_CERT", env.MAMBALIGN_TLS_CERT, io.cwd), key: readPem("MAMBALIGN_TLS_KEY", env.MAMBALIGN_TLS_KEY, io.cwd) });
  }
  if (env.MAMBALIGN_TLS === "true") security.tls = true;
  if (env.MAMBALIGN_ALLOW_PLAINTEXT === "true") security.allowPlaintext = true;
  return security;
}
