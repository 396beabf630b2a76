// OIDC / JWT bearer tokens, verified by jose against the identity provider's JWKS: signature, issuer,
// audience, expiry; the role comes from a claim. No hand-written crypto.
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { ApiError } from "../errors.js";
import { type Authenticator, bearerToken, type Principal, unauthenticated } from "./principal.js";
import { isRole, roleAllows, type Role } from "./roles.js";

export interface OidcSettings {
  issuer: string;
  audience: string;
  /** The JWKS URL (the provider's `jwks_uri`). */
  jwksUrl: string;
  /** The claim holding the role: a role name, or a list of names (the highest counts). */
  roleClaim: string;
  /** The claim naming the principal in records and logs (default "sub"). */
  nameClaim?: string;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The highest role named by the claim's value, if any. */
function roleOf(value: unknown): Role | undefined {
  const names = Array.isArray(value) ? value : [value];
  let best: Role | undefined;
  for (const n of names) if (isRole(n) && (!best || roleAllows(n, best))) best = n;
  return best;
}

export class OidcAuthenticator implements Authenticator {
  readonly #jwks: ReturnType<typeof createRemoteJWKSet>;
  constructor(private readonly settings: OidcSettings) {
    this.#jwks = createRemoteJWKSet(new URL(settings.jwksUrl));
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization);
    if (!JWT_SHAPE.test(token)) throw unauthenticated("unknown token");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#jwks, { issuer: this.settings.issuer, audience: this.settings.audience }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw unauthenticated("token expired");
      // The provider's keys could not be fetched: a retry may succeed, the token may be fine.
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        throw ApiError.unavailable(`cannot fetch the identity provider's keys (${this.settings.jwksUrl})`, err);
      }
      // jose's messages name the check that failed (claim, signature), never the token.
      throw unauthenticated(`invalid token: ${err.code}: ${err.message}`);
    }
    const role = roleOf(payload[this.settings.roleClaim]);
    if (!role) throw unauthenticated(`the token's ${JSON.stringify(this.settings.roleClaim)} claim names no role (viewer, operator, admin)`);
    const name = payload[this.settings.nameClaim ?? "sub"];
    if (typeof name !== "string" || name === "") throw unauthenticated(`the token has no ${JSON.stringify(this.settings.nameClaim ?? "sub")} claim`);
    return { name, role, via: "oidc" };
  }
}
