// Security settings of a service, resolved once at start-up from the environment (mounted Secret files):
// who may call its gRPC server (tokens file, OIDC), its TLS, and how it calls its peers (its own token).
import * as fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { anyOf, type Authenticator } from "./auth/principal.js";
import { OidcAuthenticator, type OidcSettings } from "./auth/oidc.js";
import { loadTokensFile, StaticTokenAuthenticator, type TokenEntry } from "./auth/static-tokens.js";
import type { ClientSecurity } from "./grpc/client.js";
import type { ServerSecurity, ServerTls } from "./grpc/server.js";
import { ConfigError, parseEnv } from "./parse-env.js";

export interface SecurityConfig {
  /** Static tokens (MAMBALIGN_TOKENS_FILE), hashed. */
  tokens: TokenEntry[];
  /** OIDC verification (MAMBALIGN_OIDC_*), when an identity provider is configured. */
  oidc?: OidcSettings;
  /** This server's certificate (MAMBALIGN_TLS_CERT/_KEY); client CA when mutual TLS is required. */
  tls?: ServerTls;
  allowPlaintext: boolean;
  /** How this process calls its peers: its own token, the CA, its certificate for mutual TLS. */
  client: ClientSecurity;
}

const flag = (name: string) =>
  z
    .enum(["true", "false", "1", "0", ""], { error: `${name} must be true or false` })
    .default("")
    .transform((v) => v === "true" || v === "1");

const SecurityEnv = z.object({
  MAMBALIGN_TOKENS_FILE: z.string().default(""),
  MAMBALIGN_TOKEN: z.string().default(""),
  MAMBALIGN_OIDC_ISSUER: z.string().default(""),
  MAMBALIGN_OIDC_AUDIENCE: z.string().default(""),
  MAMBALIGN_OIDC_JWKS_URL: z.string().default(""),
  MAMBALIGN_OIDC_ROLE_CLAIM: z.string().min(1).default("mambalign_role"),
  MAMBALIGN_OIDC_NAME_CLAIM: z.string().min(1).default("sub"),
  MAMBALIGN_TLS_CERT: z.string().default(""),
  MAMBALIGN_TLS_KEY: z.string().default(""),
  MAMBALIGN_CA: z.string().default(""),
  MAMBALIGN_TLS_CLIENT_AUTH: z.enum(["none", "require"], { error: "MAMBALIGN_TLS_CLIENT_AUTH must be 'none' or 'require'" }).default("none"),
  MAMBALIGN_TLS_SERVER_NAME: z.string().default(""),
  MAMBALIGN_ALLOW_PLAINTEXT: flag("MAMBALIGN_ALLOW_PLAINTEXT"),
});

/** The file a variable names, read now; a ConfigError naming the variable when it cannot be. */
function readSetting(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`, variable);
  }
}

/**
 * The entries of every tokens file in `list` (separated by ":"; ";" on Windows): the chart mounts the
 * services' own and the users' from separate Secrets. A name in two files is an error naming both.
 */
function loadTokenFiles(list: string): TokenEntry[] {
  const seen = new Map<string, string>();
  const all: TokenEntry[] = [];
  for (const file of list.split(path.delimiter).filter(Boolean)) {
    for (const entry of loadTokensFile(file)) {
      const other = seen.get(entry.name);
      if (other) throw new ConfigError(`MAMBALIGN_TOKENS_FILE: token name ${JSON.stringify(entry.name)} is in both ${other} and ${file}`, "MAMBALIGN_TOKENS_FILE");
      seen.set(entry.name, file);
      all.push(entry);
    }
  }
  return all;
}

export function loadSecurityConfig(env: NodeJS.ProcessEnv): SecurityConfig {
  const e = parseEnv(SecurityEnv, env);
  if (Boolean(e.MAMBALIGN_TLS_CERT) !== Boolean(e.MAMBALIGN_TLS_KEY)) {
    const missing = e.MAMBALIGN_TLS_CERT ? "MAMBALIGN_TLS_KEY" : "MAMBALIGN_TLS_CERT";
    throw new ConfigError(`${missing} is required with ${missing === "MAMBALIGN_TLS_KEY" ? "MAMBALIGN_TLS_CERT" : "MAMBALIGN_TLS_KEY"}`, missing);
  }
  const cert = e.MAMBALIGN_TLS_CERT ? readSetting("MAMBALIGN_TLS_CERT", e.MAMBALIGN_TLS_CERT) : undefined;
  const key = e.MAMBALIGN_TLS_KEY ? readSetting("MAMBALIGN_TLS_KEY", e.MAMBALIGN_TLS_KEY) : undefined;
  const ca = e.MAMBALIGN_CA ? readSetting("MAMBALIGN_CA", e.MAMBALIGN_CA) : undefined;
  const mutual = e.MAMBALIGN_TLS_CLIENT_AUTH === "require";
  if (mutual && (!cert || !ca)) {
    throw new ConfigError("MAMBALIGN_TLS_CLIENT_AUTH=require needs MAMBALIGN_TLS_CERT, MAMBALIGN_TLS_KEY and MAMBALIGN_CA", "MAMBALIGN_TLS_CLIENT_AUTH");
  }
  let oidc: OidcSettings | undefined;
  if (e.MAMBALIGN_OIDC_ISSUER || e.MAMBALIGN_OIDC_JWKS_URL) {
    for (const v of ["MAMBALIGN_OIDC_ISSUER", "MAMBALIGN_OIDC_AUDIENCE", "MAMBALIGN_OIDC_JWKS_URL"] as const) {
      if (!e[v]) throw new ConfigError(`${v} is required for OIDC (with MAMBALIGN_OIDC_ISSUER/_JWKS_URL)`, v);
    }
    if (!URL.canParse(e.MAMBALIGN_OIDC_JWKS_URL)) throw new ConfigError("MAMBALIGN_OIDC_JWKS_URL must be a URL", "MAMBALIGN_OIDC_JWKS_URL");
    oidc = {
      issuer: e.MAMBALIGN_OIDC_ISSUER,
      audience: e.MAMBALIGN_OIDC_AUDIENCE,
      jwksUrl: e.MAMBALIGN_OIDC_JWKS_URL,
      roleClaim: e.MAMBALIGN_OIDC_ROLE_CLAIM,
      nameClaim: e.MAMBALIGN_OIDC_NAME_CLAIM,
    };
  }
  return {
    tokens: loadTokenFiles(e.MAMBALIGN_TOKENS_FILE),
    oidc,
    tls: cert && key ? { cert, key, ...(mutual ? { clientCa: ca } : {}) } : undefined,
    allowPlaintext: e.MAMBALIGN_ALLOW_PLAINTEXT,
    client: {
      ...(e.MAMBALIGN_TOKEN ? { token: e.MAMBALIGN_TOKEN } : {}),
      ...(ca ? { ca, tls: true } : {}),
      ...(mutual ? { cert, key } : {}),
      ...(e.MAMBALIGN_TLS_SERVER_NAME ? { serverName: e.MAMBALIGN_TLS_SERVER_NAME } : {}),
      allowPlaintext: e.MAMBALIGN_ALLOW_PLAINTEXT,
    },
  };
}

/** The authenticator the settings describe: static tokens and/or OIDC; none configured is an error. */
export function authenticatorFor(security: SecurityConfig): Authenticator {
  const all: Authenticator[] = [];
  if (security.tokens.length > 0) all.push(new StaticTokenAuthenticator(security.tokens));
  if (security.oidc) all.push(new OidcAuthenticator(security.oidc));
  if (all.length === 0) {
    throw new ConfigError(
      "no caller could ever be authenticated: set MAMBALIGN_TOKENS_FILE (static tokens) and/or MAMBALIGN_OIDC_ISSUER, _AUDIENCE, _JWKS_URL",
      "MAMBALIGN_TOKENS_FILE",
    );
  }
  return all.length === 1 ? all[0]! : anyOf(all);
}

/** What startGrpcServer needs from the settings. */
export function serverSecurityFor(security: SecurityConfig): ServerSecurity {
  return { authenticator: authenticatorFor(security), tls: security.tls, allowPlaintext: security.allowPlaintext };
}
