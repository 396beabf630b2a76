import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import type { Authenticator } from "../auth/principal.js";
import { ConfigError } from "../parse-env.js";
import { authInterceptor } from "./auth.js";
import { isLoopbackHost } from "./loopback.js";
import { addReflection } from "./reflection.js";

/** This server's TLS material (PEM), from mounted Secret files. */
export interface ServerTls {
  cert: Buffer;
  key: Buffer;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: Buffer;
}

/** How a server proves itself and checks its callers. */
export interface ServerSecurity {
  /** Every call but health and reflection must carry a bearer token this accepts (roles: METHOD_ROLES). */
  authenticator: Authenticator;
  /** TLS; without it the server speaks plaintext, which only a loopback address may (unless allowPlaintext). */
  tls?: ServerTls;
  /** MAMBALIGN_ALLOW_PLAINTEXT: a plaintext bind to a non-loopback address (behind a mesh that encrypts). */
  allowPlaintext?: boolean;
}

/** The transport credentials for `host`, or a ConfigError when plaintext is not allowed there. */
function transportFor(host: string, security: ServerSecurity): { creds: ServerCredentials; transport: string } {
  const { tls } = security;
  if (tls) {
    const creds = ServerCredentials.createSsl(tls.clientCa ?? null, [{ private_key: tls.key, cert_chain: tls.cert }], tls.clientCa !== undefined);
    return { creds, transport: tls.clientCa ? "mutual TLS" : "TLS" };
  }
  if (isLoopbackHost(host)) return { creds: ServerCredentials.createInsecure(), transport: "plaintext (loopback only)" };
  if (security.allowPlaintext) return { creds: ServerCredentials.createInsecure(), transport: "plaintext (MAMBALIGN_ALLOW_PLAINTEXT=true)" };
  throw new ConfigError(
    `refusing plaintext gRPC on ${host}, which is not a loopback address: set MAMBALIGN_TLS_CERT and MAMBALIGN_TLS_KEY, ` +
      `bind MAMBALIGN_GRPC_HOST=127.0.0.1, or set MAMBALIGN_ALLOW_PLAINTEXT=true (only where the network already encrypts)`,
    "MAMBALIGN_ALLOW_PLAINTEXT",
  );
}

export interface ServiceBinding {
  /** Fully qualified name reported by the health service, e.g. "mambalign.v1.PipelineService". */
  name: string;
  definition: ServiceDefinition;
  implementation: UntypedServiceImplementation;
}

/**
 * Largest request message a server accepts (grpc.max_receive_message_length): a recipe, a dataset
 * request or an id is kilobytes; anything near this is a mistake or an attack, refused with
 * RESOURCE_EXHAUSTED before it is parsed. MAMBALIGN_GRPC_MAX_MESSAGE_BYTES overrides it.
 */
export const GRPC_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

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
 * lists exactly the services this server serves. Every other call is authenticated and checked against
 * the roles table (grpc/auth.ts); plaintext is refused on a non-loopback address unless allowed.
 */
export async function startGrpcServer(opts: {
  host: string;
  port: number;
  services: ServiceBinding[];
  logger: Logger;
  security: ServerSecurity;
  /** Default GRPC_MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
}): Promise<GrpcServerHandle> {
  const { creds, transport } = transportFor(opts.host, opts.security);
  const maxMessageBytes = opts.maxMessageBytes ?? GRPC_MAX_MESSAGE_BYTES;
  const server = new Server({
    interceptors: [authInterceptor(opts.security.authenticator, opts.logger)],
    "grpc.max_receive_message_length": maxMessageBytes,
  });
  const health = new HealthImplementation({ "": "SERVING" });
  health.addToServer(server);
  addReflection(server, opts.services.map((s) => s.name));
  for (const s of opts.services) {
    server.addService(s.definition, s.implementation);
    health.setStatus(s.name, "SERVING");
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.port}`, creds, (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  opts.logger.info(
    { host: opts.host, port, transport, maxMessageBytes, services: opts.services.map((s) => s.name) },
    `gRPC server listening, ${transport}, bearer tokens required`,
  );
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
