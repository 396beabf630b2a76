import { createClient, PipelineServiceClient, RegistryServiceClient } from "@mambalign/core";

export function pipelineClient(addr: string): PipelineServiceClient {
  return createClient(PipelineServiceClient, addr);
}

export function registryClient(addr: string): RegistryServiceClient {
  return createClient(RegistryServiceClient, addr);
}
