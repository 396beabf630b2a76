import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { addReflection } from "./reflection.js";

export interface ServiceBinding {
  /** Fully qualified name reported by the health service, e.g. "mambalign.v1.PipelineService". */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

export interface GrpcServerHandle {
  port: number;
  server: Server;
  health: HealthImplementation;
  /** Marks every service NOT_SERVING, lets in-flight calls finish for up to graceMs, then forces. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts a gRPC server with the standard health service (grpc.health.v1) and server reflection
 * (grpc.reflection.v1 and v1alpha, for grpcurl and Postman) next to the given services; reflection
 * lists exactly the services this server serves.
 */
export async function startGrpcServer(opts: {
  host: string;
  port: number;
  services: ServiceBinding[];
  logger: Logger;
}): Promise<GrpcServerHandle> {
  const server = new Server();
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  addReflection(server, opts.services.map((s) => s.name));
  for (const s of opts.services) {
    server.addService(s.definition, s.implementation);
    health.setStatus(s.name, "SERVING");
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  opts.logger.info({ port, services: opts.services.map((s) => s.name) }, "gRPC server listening");
  return {
    port,
    server,
    health,
    close: async (graceMs = 10_000) => {
      health.setStatus("", "NOT_SERVING");
      for (const s of opts.services) health.setStatus(s.name, "NOT_SERVING");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
