import { EventEmitter } from "node:events";
import http from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";

/**
 * A small local stand-in for the kube-apiserver, for tests only (no kube-apiserver or envtest can run
 * here). It speaks just what the launcher and autoscaler use, over real HTTP, in the API's own JSON
 * shapes: batch/v1 Jobs (create with generateName, get, list with equality label selectors, watch,
 * delete) and apps/v1 deployments/scale (get, merge-patch). It does not run controllers, admission,
 * RBAC or schema validation; tests drive Job status themselves with `setJobStatus`.
 * Emits "job" (type, job) on every Job change and "scale" (replicas) on every scale patch.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  contentType: string | undefined;
}

type Obj = Record<string, any>;

interface Watcher {
  namespace: string;
  selector: Map<string, string>;
  res: http.ServerResponse;
}

const JOBS = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs(?:\/([^/]+))?$/;
const SCALE = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/deployments\/([^/]+)\/scale$/;

export class KubeApiSubstitute extends EventEmitter {
  readonly requests: RecordedRequest[] = [];
  private readonly jobs = new Map<string, Obj>();
  private readonly scales = new Map<string, number>();
  private readonly watchers = new Set<Watcher>();
  private rv = 1;
  private server: http.Server | undefined;

  /** Base URL (http://127.0.0.1:<port>) once started. */
  url = "";

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        try {
          this.handle(req, res, body);
        } catch (err) {
          this.status(res, 500, "InternalError", String(err));
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Registers a Deployment whose scale subresource can be read and patched. */
  addDeployment(namespace: string, name: string, replicas: number): void {
    this.scales.set(`${namespace}/${name}`, replicas);
  }

  replicas(namespace: string, name: string): number | undefined {
    return this.scales.get(`${namespace}/${name}`);
  }

  listJobs(namespace: string): Obj[] {
    return [...this.jobs.values()].filter((j) => j.metadata.namespace === namespace);
  }

  /** Plays the Job controller: replaces a Job's status and notifies watchers (MODIFIED). */
  setJobStatus(namespace: string, name: string, status: Obj): void {
    const job = this.jobs.get(`${namespace}/${name}`);
    if (!job) throw new Error(`no job ${namespace}/${name}`);
    job.status = status;
    job.metadata.resourceVersion = String(++this.rv);
    this.notify("MODIFIED", job);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const url = new URL(req.url ?? "/", "http://substitute");
    const method = req.method ?? "GET";
    this.requests.push({ method, path: url.pathname, contentType: req.headers["content-type"] });

    const jobs = JOBS.exec(url.pathname);
    if (jobs) {
      const [, ns, name] = jobs as unknown as [string, string, string | undefined];
      if (!name && method === "POST") return this.createJob(res, ns, JSON.parse(body) as Obj);
      if (!name && method === "GET") {
        const selector = parseSelector(url.searchParams.get("labelSelector"));
        if (url.searchParams.get("watch") === "true") return this.watch(req, res, ns, selector);
        const items = this.listJobs(ns).filter((j) => matches(j, selector));
        return this.json(res, 200, { apiVersion: "batch/v1", kind: "JobList", metadata: { resourceVersion: String(this.rv) }, items });
      }
      const job = name ? this.jobs.get(`${ns}/${name}`) : undefined;
      if (name && !job) return this.status(res, 404, "NotFound", `jobs.batch "${name}" not found`);
      if (job && method === "GET") return this.json(res, 200, job);
      if (job && method === "DELETE") {
        this.jobs.delete(`${ns}/${name}`);
        job.metadata.resourceVersion = String(++this.rv);
        this.notify("DELETED", job);
        return this.json(res, 200, job);
      }
      return this.status(res, 405, "MethodNotAllowed", `${method} not supported on ${url.pathname}`);
    }

    const scale = SCALE.exec(url.pathname);
    if (scale) {
      const [, ns, name] = scale as unknown as [string, string, string];
      const key = `${ns}/${name}`;
      if (!this.scales.has(key)) return this.status(res, 404, "NotFound", `deployments.apps "${name}" not found`);
      if (method === "PATCH") {
        // The real API refuses a patch without a patch content type; so do we, to catch a client misuse.
        if (req.headers["content-type"] !== "application/merge-patch+json") {
          return this.status(res, 415, "UnsupportedMediaType", `unsupported patch type ${req.headers["content-type"]}`);
        }
        const replicas = (JSON.parse(body) as Obj).spec?.replicas;
        if (!Number.isInteger(replicas) || replicas < 0) return this.status(res, 422, "Invalid", "spec.replicas must be a non-negative integer");
        this.scales.set(key, replicas);
        this.rv++;
        this.emit("scale", replicas);
      } else if (method !== "GET") {
        return this.status(res, 405, "MethodNotAllowed", `${method} not supported on ${url.pathname}`);
      }
      const replicas = this.scales.get(key)!;
      return this.json(res, 200, {
        apiVersion: "autoscaling/v1",
        kind: "Scale",
        metadata: { name, namespace: ns, resourceVersion: String(this.rv) },
        spec: { replicas },
        status: { replicas },
      });
    }
    return this.status(res, 404, "NotFound", `no route for ${method} ${url.pathname}`);
  }

  private createJob(res: http.ServerResponse, ns: string, job: Obj): void {
    const meta = (job.metadata ??= {});
    if (meta.namespace && meta.namespace !== ns) return this.status(res, 400, "BadRequest", "metadata.namespace does not match the request");
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    if (!meta.name) return this.status(res, 422, "Invalid", "metadata.name or metadata.generateName is required");
    const key = `${ns}/${meta.name}`;
    if (this.jobs.has(key)) return this.status(res, 409, "AlreadyExists", `jobs.batch "${meta.name}" already exists`);
    Object.assign(meta, { namespace: ns, uid: randomUUID(), resourceVersion: String(++this.rv), creationTimestamp: new Date().toISOString() });
    job.status ??= {};
    this.jobs.set(key, job);
    this.notify("ADDED", job);
    this.json(res, 201, job);
  }

  private watch(req: http.IncomingMessage, res: http.ServerResponse, ns: string, selector: Map<string, string>): void {
    // Headers must go out at once: the client waits for them before it reads any event.
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const w: Watcher = { namespace: ns, selector, res };
    this.watchers.add(w);
    // res, not req: a request emits "close" as soon as its (empty) body is read.
    res.on("close", () => this.watchers.delete(w));
  }

  private notify(type: string, job: Obj): void {
    this.emit("job", type, job);
    for (const w of this.watchers) {
      if (w.namespace === job.metadata.namespace && matches(job, w.selector)) w.res.write(`${JSON.stringify({ type, object: job })}\n`);
    }
  }

  private json(res: http.ServerResponse, code: number, obj: unknown): void {
    res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(obj));
  }

  private status(res: http.ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { apiVersion: "v1", kind: "Status", status: "Failure", message, reason, code });
  }
}

function parseSelector(s: string | null): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (s ?? "").split(",").filter(Boolean)) {
    const m = /^([^=!]+)=([^=]*)$/.exec(part);
    if (!m) throw new Error(`label selector term "${part}" is not supported by the substitute (equality only)`);
    out.set(m[1]!, m[2]!);
  }
  return out;
}

function matches(obj: Obj, selector: Map<string, string>): boolean {
  const labels = (obj.metadata?.labels ?? {}) as Record<string, string>;
  for (const [k, v] of selector) if (labels[k] !== v) return false;
  return true;
}
