import {
  credentials,
  Metadata,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  type ServiceError,
} from "@grpc/grpc-js";
import { fromServiceError } from "./errors.js";

type ClientCtor<C> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => C;

/** A client for one of our services. Plaintext inside the cluster; NetworkPolicies bound who can reach it. */
export function createClient<C extends Client>(Ctor: ClientCtor<C>, address: string): C {
  return new Ctor(address, credentials.createInsecure(), {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/** Calls a unary method and resolves with its response; server errors come back as ApiError. */
export function callUnary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  request: Req,
  opts: { deadlineMs?: number } = {},
): Promise<Res> {
  const options: Partial<CallOptions> = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
  return new Promise((resolve, reject) => {
    method(request, new Metadata(), options, (err, res) => (err ? reject(fromServiceError(err)) : resolve(res)));
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
