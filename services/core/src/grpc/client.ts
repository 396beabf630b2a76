import {
  credentials,
  InterceptingCall,
  type Interceptor,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { ConfigError } from "../parse-env.js";
import { fromServiceError } from "./errors.js";
import { isLoopbackHost, targetHost } from "./loopback.js";

type ClientCtor<C> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C;

/** How a client proves who it is and checks the server (resolved once at start-up). */
export interface ClientSecurity {
  /** Bearer token sent on every call: the process's own (a service's, or the user's). */
  token?: string;
  /** Speak TLS; the server is verified against `ca`, else the system's roots. Implied by `ca`. */
  tls?: boolean;
  /** PEM CA bundle that signed the servers' certificates. */
  ca?: Buffer;
  /** PEM client certificate and key, for servers that require mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** The name to verify in the server's certificate when the address differs from it. */
  serverName?: string;
  /** Allows sending the token in plaintext to a non-loopback address (a mesh that encrypts). */
  allowPlaintext?: boolean;
}

let processClientSecurity: ClientSecurity = {};

/**
 * Sets what createClient uses when not told otherwise: called once at start-up (connectDeps with
 * the service's own token; the test harnesses with a test token).
 */
export function setDefaultClientSecurity(security: ClientSecurity): void {
  processClientSecurity = security;
}

/** Adds `authorization: Bearer <token>` to every call (works on TLS and loopback plaintext alike). */
function bearerInterceptor(token: string): Interceptor {
  const value = `Bearer ${token}`;
  return (options, nextCall) =>
    new InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set("authorization", value);
        next(metadata, listener);
      },
    });
}

function channelCredentials(address: string, security: ClientSecurity): ChannelCredentials {
  if (security.tls || security.ca || security.cert) {
    if ((security.cert === undefined) !== (security.key === undefined)) {
      throw new ConfigError("a client certificate needs its key and the key its certificate (MAMBALIGN_TLS_CERT, MAMBALIGN_TLS_KEY)", "MAMBALIGN_TLS_KEY");
    }
    return credentials.createSsl(security.ca ?? null, security.key ?? null, security.cert ?? null);
  }
  if (security.token && !security.allowPlaintext && !isLoopbackHost(targetHost(address))) {
    throw new ConfigError(
      `refusing to send a token in plaintext to ${address}: give the CA (--ca or MAMBALIGN_CA) to use TLS, or set MAMBALIGN_ALLOW_PLAINTEXT=true`,
      "MAMBALIGN_CA",
    );
  }
  return credentials.createInsecure();
}

/**
 * A client for one of our services: TLS when configured (plaintext only to loopback), the bearer
 * token on every call. `security` defaults to the process's (setDefaultClientSecurity).
 */
export function createClient<C extends Client>(Ctor: ClientCtor<C>, address: string, security: ClientSecurity = processClientSecurity): C {
  return new Ctor(address, channelCredentials(address, security), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    ...(security.serverName ? { "grpc.ssl_target_name_override": security.serverName, "grpc.default_authority": security.serverName } : {}),
    ...(security.token ? { interceptors: [bearerInterceptor(security.token)] } : {}),
  });
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/**
 * Calls a unary method and resolves with its response; server errors come back as ApiError. `metadata`: sent with
 * the call (the dashboard forwards its user's `authorization` this way, so the API checks the user's role).
 */
export function callUnary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  opts: { deadlineMs?: number; metadata?: Metadata } = {},
): Promise<Res> {
  const options: Partial<CallOptions> = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  return new Promise((resolve, reject) => {
    method(request, opts.metadata ?? new Metadata(), options, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res)));
  });
}

/** Waits until the channel is connected (a peer started in the same test or process). */
export function waitForReady(client: Client, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
  );
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number" && "metadata" in err;
}

/** Iterates a server stream's responses; a failed stream throws the ApiError the server sent (status kept). */
export async function* streamResponses<Res>(call: AsyncIterable<unknown>): AsyncGenerator<Res> {
  try {
    for await (const res of call) yield res as Res;
  } catch (err) {
    throw isServiceError(err) ? fromServiceError(err) : err;
  }
}
