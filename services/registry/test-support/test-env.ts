// Test support for this package: the shared service test environment, named for registry.
import { type ServiceTestEnv, startServiceTestEnv } from "@mambalign/core/testing";

export { listKeys, serveBindings } from "@mambalign/core/testing";
export type TestEnv = ServiceTestEnv;

export function startTestEnv(store: "fs" | "s3"): Promise<TestEnv> {
  return startServiceTestEnv("registry", store);
}
