// `mambalign token new`: issues a bearer token for a cluster. The token is printed once, for its
// holder; the entry (name, role, SHA-256) is what goes into the chart's tokens Secret (k8s/README.md).
import { generateToken, hashToken, isRole, ROLES, type TokenEntry } from "@mambalign/core";
import { CliError, type CliIo } from "../cli-io.js";
import { type OutputFormat, printData } from "../output-format.js";

export function tokenNewCommand(io: CliIo, opts: { name: string; role: string; expires?: string; output: OutputFormat }): number {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/.test(opts.name)) throw new CliError("--name: 1-128 of letters, digits and ._@:- (it names the holder in run records and logs)");
  if (!isRole(opts.role)) throw new CliError(`--role: one of ${ROLES.join(", ")}`);
  if (opts.expires !== undefined && Number.isNaN(Date.parse(opts.expires))) throw new CliError("--expires: an ISO 8601 date-time, e.g. 2027-01-01T00:00:00Z");
  const token = generateToken();
  const entry: TokenEntry = { name: opts.name, role: opts.role, sha256: hashToken(token), ...(opts.expires ? { expires: new Date(opts.expires).toISOString() } : {}) };
  printData(io, opts.output, { token, entry }, () =>
    [
      `token  ${token}`,
      `       give it to ${opts.name} only (MAMBALIGN_TOKEN or --token); it is not stored anywhere`,
      `entry  ${JSON.stringify(entry)}`,
      `       add it to the tokens Secret's tokens.json (k8s/README.md, "Tokens")`,
    ].join("\n"),
  );
  return 0;
}
