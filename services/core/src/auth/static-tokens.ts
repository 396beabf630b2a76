// Static bearer tokens from a file (a mounted Secret): entries of {name, role, sha256}, the token
// itself never stored. A presented token is hashed and compared with every entry in constant time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import * as fs from "node:fs";
import { z } from "zod";
import { ConfigError } from "../parse-env.js";
import { type Authenticator, bearerToken, type Principal, unauthenticated } from "./principal.js";
import { ROLES, type Role } from "./roles.js";

export interface TokenEntry {
  name: string;
  role: Role;
  /** Hex SHA-256 of the token. */
  sha256: string;
  /** When set, the token is refused from this instant on (ISO 8601). */
  expires?: string;
}

const EntrySchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/, "name must be 1-128 of letters, digits and ._@:-"),
  role: z.enum(ROLES as [Role, ...Role[]], { error: `role must be one of ${ROLES.join(", ")}` }),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lower-case hex digits (the token's SHA-256, not the token)"),
  expires: z.iso.datetime({ offset: true, error: "expires must be an ISO 8601 date-time" }).optional(),
});
const FileSchema = z.object({ tokens: z.array(EntrySchema) });

/** A new random token (256 bits); shown once to its holder, stored only as hashToken(token). */
export function generateToken(): string {
  return `mbl_${randomBytes(32).toString("base64url")}`;
}

/** The hex SHA-256 a tokens file stores for `token`. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Parses a tokens file's text ({"tokens": [...]}), naming the file, entry and field at fault. */
export function parseTokensFile(text: string, source: string): TokenEntry[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not JSON (${(err as Error).message.slice(0, 200)})`, source);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${source}: ${issue.path.join(".") || "file"}: ${issue.message}`, source);
  }
  const names = new Set<string>();
  for (const [i, e] of parsed.data.tokens.entries()) {
    if (names.has(e.name)) throw new ConfigError(`${source}: tokens.${i}.name: ${JSON.stringify(e.name)} appears twice`, source);
    names.add(e.name);
  }
  return parsed.data.tokens;
}

/** Reads and parses a tokens file (at start-up). */
export function loadTokensFile(file: string): TokenEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read tokens file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
  return parseTokensFile(text, file);
}

interface StoredEntry {
  entry: TokenEntry;
  digest: Buffer;
  expiresMs?: number;
}

/** Authenticates bearer tokens against hashed entries. */
export class StaticTokenAuthenticator implements Authenticator {
  readonly #entries: StoredEntry[];
  constructor(
    entries: TokenEntry[],
    private readonly opts: { via?: Principal["via"]; now?: () => number } = {},
  ) {
    this.#entries = entries.map((entry) => ({
      entry,
      digest: Buffer.from(entry.sha256, "hex"),
      expiresMs: entry.expires === undefined ? undefined : Date.parse(entry.expires),
    }));
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const digest = createHash("sha256").update(bearerToken(authorization), "utf8").digest();
    // Compare with every entry, no early exit: the time taken says nothing about which entry matched.
    let found: StoredEntry | undefined;
    for (const e of this.#entries) {
      if (timingSafeEqual(e.digest, digest) && !found) found = e;
    }
    if (!found) throw unauthenticated("unknown token");
    if (found.expiresMs !== undefined && (this.opts.now ?? Date.now)() >= found.expiresMs) {
      throw unauthenticated(`token ${JSON.stringify(found.entry.name)} expired at ${found.entry.expires}`);
    }
    return { name: found.entry.name, role: found.entry.role, via: this.opts.via ?? "token" };
  }
}
