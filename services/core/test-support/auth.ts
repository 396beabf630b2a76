// Auth for tests: fixed tokens of each role, the server security that accepts them, and the client
// security every test client uses unless told otherwise (set when "@mambalign/core/testing" loads),
// so the services' tests run with authentication on, as production does.
import { hashToken, StaticTokenAuthenticator } from "../src/auth/static-tokens.js";
import type { Role } from "../src/auth/roles.js";
import { type ClientSecurity, setDefaultClientSecurity } from "../src/grpc/client.js";
import type { ServerSecurity } from "../src/grpc/server.js";

/** One token per role, plus the services' own (an operator, as in the chart). */
export const TEST_TOKENS = {
  viewer: "test-token-viewer",
  operator: "test-token-operator",
  admin: "test-token-admin",
  service: "test-token-service",
} as const;

const ROLE_OF: Record<keyof typeof TEST_TOKENS, Role> = { viewer: "viewer", operator: "operator", admin: "admin", service: "operator" };

/** The tokens file entries for TEST_TOKENS (hashed, as a real tokens Secret holds them). */
export function testTokenEntries() {
  return Object.entries(TEST_TOKENS).map(([name, token]) => ({ name: `test-${name}`, role: ROLE_OF[name as keyof typeof TEST_TOKENS], sha256: hashToken(token) }));
}

/** What a test server requires: a bearer token of TEST_TOKENS (plaintext on loopback). */
export function testServerSecurity(): ServerSecurity {
  return { authenticator: new StaticTokenAuthenticator(testTokenEntries()) };
}

/** A test client calling as `who`. */
export function testClientSecurity(who: keyof typeof TEST_TOKENS = "admin"): ClientSecurity {
  return { token: TEST_TOKENS[who] };
}

/** The environment giving a service under test its own token for calls to its peers. */
export function testSecurityEnv(): Record<string, string> {
  return { MAMBALIGN_TOKEN: TEST_TOKENS.service };
}

setDefaultClientSecurity(testClientSecurity("admin"));
