// api — every RPC of every service in proto/, driven by the roles table (so none is missed), against
// the real services: no token → UNAUTHENTICATED; the role just below the one the table gives →
// PERMISSION_DENIED (a viewer method has no role below it: any authenticated caller may read);
// the table's role → past authentication and authorization (a business error such as NOT_FOUND or
// INVALID_ARGUMENT for the empty request is fine: it shows the handler ran).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as core from "@mambalign/core";
import { Metadata } from "@grpc/grpc-js";
import { type ClientSecurity, createClient, METHOD_ROLES, protoMethods, type Role, ROLES, status, streamResponses } from "@mambalign/core";
import { testClientSecurity } from "@mambalign/core/testing";
import { startDatasetsService } from "@mambalign/datasets";
import { startEvaluatorService } from "@mambalign/evaluator";
import { startPipelineService } from "@mambalign/pipeline";
import { startRegistryService } from "@mambalign/registry";
import { startTrainerService } from "@mambalign/trainer";
import { type Harness, startHarness } from "./harness.js";

const DEADLINE_MS = 10_000;
const AUTH_CODES = new Set([status.UNAUTHENTICATED, status.PERMISSION_DENIED]);
const generated = core as unknown as Record<string, any>;
const lowerFirst = (s: string) => s[0]!.toLowerCase() + s.slice(1);

/** Calls one RPC with its empty request as `security`; the status it ended with (OK = 0). */
async function callAs(h: Harness, m: ReturnType<typeof protoMethods>[number], security: ClientSecurity): Promise<{ code: status; message: string }> {
  const Ctor = generated[`${m.service.split(".").pop()}Client`];
  const Request = generated[m.requestType];
  assert.ok(Ctor && Request, `generated client and request for ${m.key}`);
  const client = createClient(Ctor, h.addr, security);
  const fn = client[lowerFirst(m.method)].bind(client);
  const req = Request.fromPartial({});
  const options = { deadline: Date.now() + DEADLINE_MS };
  try {
    if (m.serverStreaming) {
      for await (const _ of streamResponses(fn(req, new Metadata(), options))) break;
    } else {
      await new Promise((resolve, reject) => fn(req, new Metadata(), options, (err: any, res: unknown) => (err ? reject(err) : resolve(res))));
    }
    return { code: status.OK, message: "" };
  } catch (err) {
    const e = err as { code?: number; message?: string };
    return { code: e.code ?? status.UNKNOWN, message: e.message ?? String(err) };
  } finally {
    client.close();
  }
}

describe("api — every RPC three ways, from the roles table", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(async (deps) => [
      await startDatasetsService(deps),
      await startRegistryService(deps),
      await startTrainerService(deps, { workerId: "rpc-auth-test" }),
      await startEvaluatorService(deps),
      await startPipelineService(deps),
    ]);
  });
  after(async () => {
    await h?.stop();
  });

  test("the table covers every RPC the services serve", () => {
    assert.deepEqual(protoMethods().map((m) => m.key).sort(), Object.keys(METHOD_ROLES).sort());
  });

  for (const m of protoMethods()) {
    test(`${m.key} (${METHOD_ROLES[m.key]})`, async () => {
      const need: Role = METHOD_ROLES[m.key]!;
      const anonymous = await callAs(h, m, {});
      assert.equal(anonymous.code, status.UNAUTHENTICATED, `no token: ${status[anonymous.code]} ${anonymous.message}`);
      const below = ROLES[ROLES.indexOf(need) - 1];
      if (below) {
        const denied = await callAs(h, m, testClientSecurity(below));
        assert.equal(denied.code, status.PERMISSION_DENIED, `as ${below}: ${status[denied.code]} ${denied.message}`);
        assert.match(denied.message, new RegExp(`needs role ${need}`));
      } else {
        const forged = await callAs(h, m, { token: "not-a-token-of-ours" });
        assert.equal(forged.code, status.UNAUTHENTICATED, `unknown token: ${status[forged.code]} ${forged.message}`);
      }
      const allowed = await callAs(h, m, testClientSecurity(need));
      assert.ok(!AUTH_CODES.has(allowed.code), `as ${need}: ${status[allowed.code]} ${allowed.message}`);
      assert.notEqual(allowed.code, status.DEADLINE_EXCEEDED, `as ${need}: answered`);
    });
  }
});
