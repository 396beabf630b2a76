// Who is calling, as every authenticator reports it. Never carries the credential itself.
import { status } from "@grpc/grpc-js";
import { ApiError } from "../errors.js";
import type { Role } from "./roles.js";

export interface Principal {
  /** A name for records and logs (a token's name, an OIDC subject); never the token. */
  name: string;
  role: Role;
  /** How it was proven: a static token, an OIDC/JWT, the local token `mambalign up` made. */
  via: "token" | "oidc" | "local";
}

/** Turns the raw `authorization` value of a call into the principal it proves, or throws UNAUTHENTICATED. */
export interface Authenticator {
  authenticate(authorization: string | undefined): Promise<Principal>;
}

/** UNAUTHENTICATED with a reason; the credential is never part of it. */
export function unauthenticated(reason: string): ApiError {
  return new ApiError(status.UNAUTHENTICATED, `unauthenticated: ${reason}`);
}

/** PERMISSION_DENIED naming who, what, and the role needed. */
export function permissionDenied(principal: Principal, method: string, need: Role): ApiError {
  return new ApiError(
    status.PERMISSION_DENIED,
    `${principal.name} (role ${principal.role}) may not call ${method}: it needs role ${need}`,
    { principal: principal.name, role: principal.role, need },
  );
}

/** The token of a "Bearer <token>" value; UNAUTHENTICATED when missing or of another scheme. */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === "") throw unauthenticated("no bearer token (send 'authorization: Bearer <token>')");
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!m) throw unauthenticated("the authorization value is not 'Bearer <token>'");
  return m[1]!;
}

/** Tries each authenticator in turn; the first that knows the token wins, else the last refusal stands. */
export function anyOf(authenticators: Authenticator[]): Authenticator {
  if (authenticators.length === 0) throw new Error("anyOf: no authenticator given");
  return {
    async authenticate(authorization) {
      let last: unknown;
      for (const a of authenticators) {
        try {
          return await a.authenticate(authorization);
        } catch (err) {
          last = err;
        }
      }
      throw last;
    },
  };
}
