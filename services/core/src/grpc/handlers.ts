import type {
  handleServerStreamingCall,
  handleUnaryCall,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import { toApiError, toServiceError } from "./errors.js";

/** What every handler wrapper needs: who we are, where to log, where to count. */
export interface HandlerContext {
  service: string;
  logger: Logger;
  metrics: Metrics;
}

function record(ctx: HandlerContext, method: string, started: number, err?: unknown): void {
  const code = err === undefined ? status.OK : toApiError(err).code;
  ctx.metrics.rpcTotal.inc({ service: ctx.service, method, code: status[code] });
  ctx.metrics.rpcSeconds.observe({ service: ctx.service, method }, (performance.now() - started) / 1000);
  if (err !== undefined) {
    const api = toApiError(err);
    const level = api.code === status.INTERNAL || api.code === status.UNKNOWN ? "error" : "info";
    ctx.logger[level]({ method, code: status[api.code], details: api.details, err: api.cause ?? api }, api.message);
  }
}

/** Adapts an async function to a grpc-js unary handler; every thrown error goes through toServiceError. */
export function unary<Req, Res>(
  ctx: HandlerContext,
  method: string,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Promise<Res>,
): handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = performance.now();
    fn(call.request, call).then(
      (res) => {
        record(ctx, method, started);
        callback(null, res);
      },
      (err: unknown) => {
        record(ctx, method, started, err);
        callback(toServiceError(err));
      },
    );
  };
}

/** Adapts an async generator to a server-streaming handler; the signal aborts when the client goes away. */
export function serverStream<Req, Res>(
  ctx: HandlerContext,
  method: string,
  fn: (req: Req, signal: AbortSignal, call: ServerWritableStream<Req, Res>) => AsyncIterable<Res>,
): handleServerStreamingCall<Req, Res> {
  return (call) => {
    const started = performance.now();
    const abort = new AbortController();
    call.on("cancelled", () => abort.abort());
    call.on("close", () => abort.abort());
    (async () => {
      for await (const item of fn(call.request, abort.signal, call)) {
        if (abort.signal.aborted) break;
        if (!call.write(item)) await new Promise((r) => call.once("drain", r));
      }
    })().then(
      () => {
        record(ctx, method, started);
        call.end();
      },
      (err: unknown) => {
        record(ctx, method, started, err);
        // grpc-js sends a stream's status from its 'error' handler (which ends the call);
        // destroy(err) would skip that and leave the client waiting for ever.
        if (!abort.signal.aborted) call.emit("error", toServiceError(err));
      },
    );
  };
}
