import http from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * The process's Prometheus registry. One per process, shared by every service in it (`mambalign up`
 * runs all of them in one process), so metrics are get-or-create by name and carry a `service` label.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly rpcTotal: Counter<"service" | "method" | "code">;
  readonly rpcSeconds: Histogram<"service" | "method">;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "mambalign_" });
    this.rpcTotal = this.counter("mambalign_rpc_total", "gRPC calls handled, by method and status code", [
      "service",
      "method",
      "code",
    ]);
    this.rpcSeconds = this.histogram("mambalign_rpc_seconds", "gRPC handler latency in seconds", ["service", "method"], [
      0.005, 0.02, 0.1, 0.5, 2, 10, 60,
    ]);
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return (this.registry.getSingleMetric(name) as Counter<L> | undefined) ??
      new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return (this.registry.getSingleMetric(name) as Gauge<L> | undefined) ??
      new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return (this.registry.getSingleMetric(name) as Histogram<L> | undefined) ??
      new Histogram({ name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }
}

export interface HttpEndpoints {
  port: number;
  close(): Promise<void>;
}

/** Serves /metrics (Prometheus), /healthz (process alive) and /readyz (dependencies reachable). */
export async function startHttpEndpoints(opts: {
  host?: string;
  port: number;
  metrics: Metrics;
  ready: () => Promise<boolean> | boolean;
}): Promise<HttpEndpoints> {
  const reg = opts.metrics.registry;
  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    if (url === "/metrics") {
      reg.metrics().then(
        (body) => res.writeHead(200, { "content-type": reg.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (url === "/readyz") {
      Promise.resolve()
        .then(opts.ready)
        .then(
          (ok) => res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ready\n" : "not ready\n"),
          (err: unknown) => res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: ${String(err)}\n`),
        );
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
