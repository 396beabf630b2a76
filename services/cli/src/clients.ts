import { createClient, DatasetServiceClient, PipelineServiceClient, RegistryServiceClient } from "@mambalign/core";

export function pipelineClient(addr: string): PipelineServiceClient {
  return createClient(PipelineServiceClient, addr);
}

export function registryClient(addr: string): RegistryServiceClient {
  return createClient(RegistryServiceClient, addr);
}

export function datasetsClient(addr: string): DatasetServiceClient {
  return createClient(DatasetServiceClient, addr);
}
