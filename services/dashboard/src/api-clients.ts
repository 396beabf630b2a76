// The APIs the dashboard reads, through core's client factory and the proto contracts only. Every call carries
// the signed-in user's own `authorization`, so the API checks the user's role: the dashboard holds no
// credentials of its own and decides nothing about who may see what beyond "signed in".
import { Metadata } from "@grpc/grpc-js";
import { type ClientSecurity, createClient, EvaluatorServiceClient, PipelineServiceClient, RegistryServiceClient, TrainerServiceClient } from "@mambalign/core";
import type { DashboardOptions } from "./dashboard-options.js";

export interface ApiClients {
  pipeline: PipelineServiceClient;
  registry: RegistryServiceClient;
  evaluator: EvaluatorServiceClient;
  /** Absent when no trainer address is configured (a cluster's trainers have no Service). */
  trainer: TrainerServiceClient | undefined;
  close(): void;
}

/** `security`: the channel's TLS settings; a token in it is dropped, so that every call carries its user's only. */
export function connectApis(addrs: DashboardOptions["addrs"], security: ClientSecurity): ApiClients {
  const { token: _own, ...channel } = security;
  const pipeline = createClient(PipelineServiceClient, addrs.pipeline, channel);
  const registry = createClient(RegistryServiceClient, addrs.registry, channel);
  const evaluator = createClient(EvaluatorServiceClient, addrs.evaluator, channel);
  const trainer = addrs.trainer ? createClient(TrainerServiceClient, addrs.trainer, channel) : undefined;
  return {
    pipeline,
    registry,
    evaluator,
    trainer,
    close: () => [pipeline, registry, evaluator, trainer].forEach((c) => c?.close()),
  };
}

/** Call metadata carrying the user's credential (an `authorization` header value, "Bearer <token>"). */
export function userMetadata(authorization: string): Metadata {
  const md = new Metadata();
  md.set("authorization", authorization);
  return md;
}
