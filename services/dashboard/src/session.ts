// Who is asking: the `Authorization: Bearer` header (scripts, curl) or the HttpOnly cookie the login form sets
// (browsers; EventSource cannot send headers). Either way the same token the gRPC API takes, checked by the
// same authenticator, and forwarded as is on the dashboard's calls to the API.
import type { IncomingMessage } from "node:http";

export const TOKEN_COOKIE = "mambalign_token";
/** Longest token accepted from a form or cookie; anything longer is not a token of ours. */
const MAX_TOKEN = 4096;

/** The request's credential as an `authorization` header value, or undefined when it carries none. */
export function credentialOf(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (header) return header.length <= MAX_TOKEN + 7 ? header : undefined;
  const token = cookieValue(req.headers.cookie ?? "", TOKEN_COOKIE);
  return token && token.length <= MAX_TOKEN ? `Bearer ${token}` : undefined;
}

function cookieValue(header: string, name: string): string | undefined {
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Secure when the browser reached us over TLS (directly or through an ingress that says so). */
function secure(req: IncomingMessage): boolean {
  return Boolean((req.socket as { encrypted?: boolean }).encrypted) || req.headers["x-forwarded-proto"] === "https";
}

/** Set-Cookie for a signed-in browser: script cannot read it, other sites cannot send it. */
export function sessionCookie(req: IncomingMessage, token: string): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure(req) ? "; Secure" : ""}`;
}

export function clearedSessionCookie(req: IncomingMessage): string {
  return `${TOKEN_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure(req) ? "; Secure" : ""}`;
}

/** The token a login form posted (application/x-www-form-urlencoded `token=...`), trimmed; undefined if none or too long. */
export function tokenFromForm(body: string): string | undefined {
  const token = new URLSearchParams(body).get("token")?.trim();
  return token && token.length <= MAX_TOKEN && /^[\x21-\x7e]+$/.test(token) ? token : undefined;
}
