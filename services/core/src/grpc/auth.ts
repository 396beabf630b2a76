// The gRPC side of authentication: a server interceptor that authenticates every call (but health and
// reflection, see OPEN_SERVICES) and checks the role the roles table gives its method, before any
// handler runs; the handler then reads who called with principalOf(call). Mutating calls are logged
// with the principal's name and their outcome (never the token).
import { type Metadata, ServerInterceptingCall, type ServerInterceptor, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ApiError } from "../errors.js";
import { type Authenticator, permissionDenied, type Principal } from "../auth/principal.js";
import { isOpenMethod, methodKey, METHOD_ROLES, type Role, roleAllows, roleFor } from "../auth/roles.js";
import { REPORTING_FAILED, toServiceError } from "./errors.js";

// grpc-js hands the handler the very Metadata object the interceptor passed on.
const principals = new WeakMap<Metadata, Principal>();

/** Who made the call (set by the auth interceptor every server of ours runs). */
export function principalOf(call: { metadata: Metadata }): Principal {
  const p = principals.get(call.metadata);
  if (!p) throw new ApiError(status.INTERNAL, "internal error: the call carries no authenticated principal");
  return p;
}

/** The authenticated principal allowed to call `path`, or the ApiError refusing it. */
export async function authorize(
  authenticator: Authenticator,
  path: string,
  authorization: string | undefined,
  table: Readonly<Record<string, Role>> = METHOD_ROLES,
): Promise<Principal> {
  const principal = await authenticator.authenticate(authorization);
  const need = roleFor(path, table);
  if (need === undefined) {
    throw new ApiError(status.PERMISSION_DENIED, `${methodKey(path)} has no role in the roles table: nobody may call it`);
  }
  if (!roleAllows(principal.role, need)) throw permissionDenied(principal, methodKey(path), need);
  return principal;
}

export function authInterceptor(authenticator: Authenticator, logger: Logger, table: Readonly<Record<string, Role>> = METHOD_ROLES): ServerInterceptor {
  return (descriptor, call) => {
    if (isOpenMethod(descriptor.path)) return new ServerInterceptingCall(call);
    const method = methodKey(descriptor.path);
    const mutating = roleFor(descriptor.path, table) !== "viewer";
    let principal: Principal | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const raw = metadata.get("authorization")[0];
            authorize(authenticator, descriptor.path, typeof raw === "string" ? raw : undefined, table).then(
              (p) => {
                principal = p;
                // The handler needs who, never the credential (nothing downstream can log it).
                metadata.remove("authorization");
                principals.set(metadata, p);
                pass(metadata);
              },
              (err: unknown) => {
                let answer;
                try {
                  answer = toServiceError(err);
                  const code = status[answer.code ?? status.UNKNOWN];
                  logger[answer.code === status.UNAVAILABLE ? "warn" : "info"]({ method, code, peer: call.getPeer() }, `call refused: ${answer.details}`);
                } catch {
                  answer = REPORTING_FAILED;
                }
                call.sendStatus({ code: answer.code ?? status.UNKNOWN, details: answer.details ?? "", metadata: answer.metadata });
              },
            );
          },
        }),
      sendStatus: (s, next) => {
        if (mutating && principal) {
          try {
            logger.info({ method, principal: principal.name, role: principal.role, via: principal.via, code: status[s.code] }, "mutating call");
          } catch {
            // The answer matters more than the log line.
          }
        }
        next(s);
      },
    });
  };
}
