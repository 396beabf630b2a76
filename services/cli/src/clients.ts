// The CLI's API clients: every one carries the credentials this invocation resolved (useCliSecurity,
// called once before any command runs: --token/--ca, the environment, or the local token).
import {
  type ClientSecurity,
  createClient,
  DatasetServiceClient,
  EvaluatorServiceClient,
  PipelineServiceClient,
  RegistryServiceClient,
} from "@mambalign/core";

let cliSecurity: ClientSecurity = {};

/** Sets the credentials of this invocation's clients. */
export function useCliSecurity(security: ClientSecurity): void {
  cliSecurity = security;
}

export function pipelineClient(addr: string): PipelineServiceClient {
  return createClient(PipelineServiceClient, addr, cliSecurity);
}

export function registryClient(addr: string): RegistryServiceClient {
  return createClient(RegistryServiceClient, addr, cliSecurity);
}

export function datasetsClient(addr: string): DatasetServiceClient {
  return createClient(DatasetServiceClient, addr, cliSecurity);
}

export function evaluatorClient(addr: string): EvaluatorServiceClient {
  return createClient(EvaluatorServiceClient, addr, cliSecurity);
}
