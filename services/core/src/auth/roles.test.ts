import assert from "node:assert/strict";
import { test } from "node:test";
import { protoMethods } from "./protos.js";
import { isOpenMethod, METHOD_ROLES, roleAllows, roleFor } from "./roles.js";

test("roles table — names every RPC of every service in proto/, and nothing else", () => {
  const rpcs = protoMethods().map((m) => m.key);
  assert.ok(rpcs.length >= 20, `found ${rpcs.length} RPCs in the descriptors`);
  const missing = rpcs.filter((k) => !Object.hasOwn(METHOD_ROLES, k));
  assert.deepEqual(missing, [], "RPCs without a role in METHOD_ROLES (services/core/src/auth/roles.ts)");
  const stale = Object.keys(METHOD_ROLES).filter((k) => !rpcs.includes(k));
  assert.deepEqual(stale, [], "METHOD_ROLES entries for RPCs no longer in proto/");
});

test("roles table — reads are viewer; start, cancel and alias operator; export admin", () => {
  assert.equal(roleFor("/mambalign.v1.PipelineService/GetRun"), "viewer");
  assert.equal(roleFor("/mambalign.v1.PipelineService/WatchRun"), "viewer");
  assert.equal(roleFor("/mambalign.v1.PipelineService/StartRun"), "operator");
  assert.equal(roleFor("/mambalign.v1.PipelineService/CancelRun"), "operator");
  assert.equal(roleFor("/mambalign.v1.RegistryService/SetAlias"), "operator");
  assert.equal(roleFor("/mambalign.v1.RegistryService/ExportVersion"), "admin");
  assert.equal(roleFor("/mambalign.v1.NoSuchService/Method"), undefined, "unknown methods have no role (refused)");
});

test("roles — ordered viewer < operator < admin", () => {
  assert.ok(roleAllows("admin", "viewer") && roleAllows("admin", "operator") && roleAllows("admin", "admin"));
  assert.ok(roleAllows("operator", "viewer") && roleAllows("operator", "operator") && !roleAllows("operator", "admin"));
  assert.ok(roleAllows("viewer", "viewer") && !roleAllows("viewer", "operator") && !roleAllows("viewer", "admin"));
});

test("roles — only health and reflection are open", () => {
  assert.ok(isOpenMethod("/grpc.health.v1.Health/Check"));
  assert.ok(isOpenMethod("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
  assert.ok(!isOpenMethod("/mambalign.v1.PipelineService/GetRun"));
  assert.ok(!isOpenMethod("/grpc.health.v1.HealthX/Check"));
});
