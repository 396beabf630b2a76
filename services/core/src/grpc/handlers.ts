import type {
  handleServerStreamingCall,
  handleUnaryCall,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceError,
} from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.js";
import { boundedApiError, REPORTING_FAILED, toServiceError } from "./errors.js";

/** What every handler wrapper needs: who we are, where to log, where to count. */
export interface HandlerContext {
  service: string;
  logger: Logger;
  metrics: Metrics;
}

function record(ctx: HandlerContext, method: string, started: number, err?: unknown): void {
  const api = err === undefined ? undefined : boundedApiError(err);
  ctx.metrics.rpcTotal.inc({ service: ctx.service, method, code: status[api?.code ?? status.OK] });
  ctx.metrics.rpcSeconds.observe({ service: ctx.service, method }, (performance.now() - started) / 1000);
  if (api) {
    const level = api.code === status.INTERNAL || api.code === status.UNKNOWN ? "error" : "info";
    ctx.logger[level]({ method, code: status[api.code], details: api.details, err: api.cause ?? api }, api.message);
  }
}

/**
 * Records a failed call and converts its error for the wire. Never throws: a failure while
 * reporting (a logger, a metric, a detail grpc-js refuses) still yields an answer for the call.
 */
function failure(ctx: HandlerContext, method: string, started: number, err: unknown): Partial<ServiceError> {
  try {
    record(ctx, method, started, err);
  } catch (recordErr) {
    try {
      ctx.logger.error({ method, err: recordErr }, "could not record a failed call");
    } catch {
      // Nothing more to do: the answer below matters more than the log line.
    }
  }
  try {
    return toServiceError(err);
  } catch {
    return REPORTING_FAILED;
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
        try {
          record(ctx, method, started);
        } catch (err) {
          ctx.logger.warn({ method, err }, "could not record a call");
        }
        callback(null, res);
      },
      (err: unknown) => callback(failure(ctx, method, started, err)),
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
        const answer = failure(ctx, method, started, err);
        // grpc-js sends a stream's status from its 'error' handler (which ends the call);
        // destroy(err) would skip that and leave the client waiting for ever.
        if (!abort.signal.aborted) call.emit("error", answer);
      },
    );
  };
}
