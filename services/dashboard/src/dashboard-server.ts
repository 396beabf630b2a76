// The dashboard's HTTP server: static pages from this package, JSON data endpoints and a Server-Sent Events
// stream per run, all behind the API's own authentication (a bearer token, or the cookie the login form sets).
import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { ApiError, ConfigError, isLoopbackHost, type Metrics, type Principal, type ServerTls, status, toApiError } from "@mambalign/core";
import type { Logger } from "pino";
import { type ApiClients, userMetadata } from "./api-clients.js";
import { streamRun } from "./run-stream.js";
import { clearedSessionCookie, credentialOf, sessionCookie, tokenFromForm } from "./session.js";
import { evalReportPage, queueView, registryView, runsView, runView } from "./views.js";

export interface DashboardServerOptions {
  host: string;
  port: number;
  apis: ApiClients;
  logger: Logger;
  metrics: Metrics;
  /** The API's check of an `authorization` header value: the principal, or ApiError UNAUTHENTICATED / PERMISSION_DENIED (not a viewer). */
  authenticate(authorization: string): Promise<Principal>;
  /** The API's certificate (MAMBALIGN_TLS_CERT/_KEY): served as HTTPS; browsers present no client certificate. */
  tls?: ServerTls;
  /** MAMBALIGN_ALLOW_PLAINTEXT: plain HTTP on a non-loopback address (behind a mesh or proxy that encrypts). */
  allowPlaintext: boolean;
}

/** Tokens cross this server, so it takes the API's rule: plaintext only on loopback unless allowed. */
function checkTransport(opts: DashboardServerOptions): void {
  if (opts.tls || isLoopbackHost(opts.host) || opts.allowPlaintext) return;
  throw new ConfigError(
    `refusing plain HTTP for the dashboard on ${opts.host}, which is not a loopback address: set MAMBALIGN_TLS_CERT and MAMBALIGN_TLS_KEY, ` +
      `bind it to 127.0.0.1, or set MAMBALIGN_ALLOW_PLAINTEXT=true (only where the network already encrypts)`,
    "MAMBALIGN_ALLOW_PLAINTEXT",
  );
}

export interface DashboardServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

const STATIC_DIR = new URL("../static/", import.meta.url);
const file = (name: string) => readFileSync(new URL(name, STATIC_DIR));
/** Every file the pages need, read once: nothing else on disk is reachable through a URL. */
const ASSETS: Record<string, { type: string; body: Buffer }> = {
  "/static/app.js": { type: "text/javascript; charset=utf-8", body: file("app.js") },
  "/static/style.css": { type: "text/css; charset=utf-8", body: file("style.css") },
};
const APP_PAGE = file("index.html");
const LOGIN_PAGE = file("login.html").toString("utf8");
/** Longest login form body read. */
const MAX_FORM = 16 * 1024;
/** Ids in URLs are passed to the API (which validates them); longer ones are not ids at all. */
const MAX_ID = 256;

const HTTP_OF: Partial<Record<status, number>> = {
  [status.UNAUTHENTICATED]: 401,
  [status.PERMISSION_DENIED]: 403,
  [status.NOT_FOUND]: 404,
  [status.INVALID_ARGUMENT]: 400,
  [status.FAILED_PRECONDITION]: 400,
  [status.UNAVAILABLE]: 503,
  [status.DEADLINE_EXCEEDED]: 504,
};

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  // Scripts only from here; chart SVGs and report pages inline their styles.
  "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
};

function loginPage(message: string): string {
  return LOGIN_PAGE.replace("<!--message-->", message ? `<p class="error" id="login-error">${message}</p>` : "");
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so the refusal still reaches the browser.
      if (size > max) reject(new ApiError(status.INVALID_ARGUMENT, `form body larger than ${max} bytes`));
      else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function idParam(raw: string): string {
  let id: string;
  try {
    id = decodeURIComponent(raw);
  } catch {
    throw ApiError.invalidArgument("id", "not a valid URL component");
  }
  if (!id || id.length > MAX_ID) throw ApiError.invalidArgument("id", `must be 1-${MAX_ID} characters`);
  return id;
}

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  checkTransport(opts);
  const requests = opts.metrics.counter("mambalign_dashboard_requests_total", "Dashboard HTTP requests, by route and status", ["route", "code"]);
  const streams = opts.metrics.gauge("mambalign_dashboard_streams", "Open run streams (Server-Sent Events)");

  const send = (res: ServerResponse, code: number, type: string, body: string | Buffer, headers: Record<string, string> = {}) =>
    res.writeHead(code, { ...SECURITY_HEADERS, "content-type": type, "cache-control": "no-store", ...headers }).end(body);
  const json = (res: ServerResponse, code: number, body: unknown) => send(res, code, "application/json; charset=utf-8", JSON.stringify(body));

  /** The principal of a request that may see the dashboard, or undefined with the reason (401 or 403). */
  async function signedIn(req: IncomingMessage): Promise<{ authorization: string } | { code: number; message: string }> {
    const authorization = credentialOf(req);
    if (!authorization) return { code: 401, message: "sign in: no token (Authorization: Bearer, or the login form)" };
    try {
      await opts.authenticate(authorization);
      return { authorization };
    } catch (err) {
      const e = toApiError(err);
      return { code: HTTP_OF[e.code] === 403 ? 403 : 401, message: e.message.slice(0, 300) };
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<string> {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const path = url.pathname;
    const method = req.method ?? "GET";
    const asset = ASSETS[path];
    if (asset && method === "GET") {
      send(res, 200, asset.type, asset.body, { "cache-control": "no-cache" });
      return "static";
    }
    if (path === "/login") {
      if (method === "GET") {
        send(res, 200, "text/html; charset=utf-8", loginPage(""));
        return "login";
      }
      if (method === "POST") {
        const token = tokenFromForm(await readBody(req, MAX_FORM));
        const check = token ? await opts.authenticate(`Bearer ${token}`).then(() => "", (err: unknown) => toApiError(err).message.slice(0, 200)) : "enter a token";
        if (check) send(res, 401, "text/html; charset=utf-8", loginPage(`Not signed in: ${check.replace(/[&<>"']/g, "")}`));
        else send(res, 303, "text/plain", "", { location: "/", "set-cookie": sessionCookie(req, token!) });
        return "login";
      }
    }
    if (path === "/logout" && method === "POST") {
      send(res, 303, "text/plain", "", { location: "/login", "set-cookie": clearedSessionCookie(req) });
      return "logout";
    }
    if (method !== "GET") {
      json(res, 405, { error: "method not allowed" });
      return "other";
    }

    const who = await signedIn(req);
    const api = path.startsWith("/api/");
    if (!("authorization" in who)) {
      if (api) json(res, who.code, { error: who.message });
      else send(res, who.code, "text/html; charset=utf-8", loginPage(who.code === 403 ? "This token may not view the dashboard." : ""));
      return api ? "api-denied" : "page-denied";
    }
    const md = userMetadata(who.authorization);
    let m: RegExpExecArray | null = null;
    if (path === "/api/runs") json(res, 200, await runsView(opts.apis, md));
    else if (path === "/api/queue") json(res, 200, await queueView(opts.apis, md));
    else if (path === "/api/registry") json(res, 200, await registryView(opts.apis, md));
    else if ((m = /^\/api\/runs\/([^/]+)$/.exec(path))) json(res, 200, await runView(opts.apis, md, idParam(m[1]!)));
    else if ((m = /^\/api\/runs\/([^/]+)\/stream$/.exec(path))) {
      await streamRun({ apis: opts.apis, logger: opts.logger, onOpen: () => streams.inc(), onClose: () => streams.dec() }, req, res, who.authorization, idParam(m[1]!));
      return "run-stream";
    } else if ((m = /^\/evals\/([^/]+)\/report$/.exec(path))) {
      send(res, 200, "text/html; charset=utf-8", await evalReportPage(opts.apis, md, idParam(m[1]!)));
      return "eval-report";
    } else if (path === "/" || path === "/registry" || path === "/queue" || /^\/runs\/[^/]+$/.test(path)) {
      send(res, 200, "text/html; charset=utf-8", APP_PAGE);
      return "page";
    } else {
      if (api) json(res, 404, { error: "no such endpoint" });
      else send(res, 404, "text/plain; charset=utf-8", "not found\n");
      return "not-found";
    }
    // Route names, not paths: a label per run id would grow without bound.
    return m ? "api-run" : path.slice(1).replace("/", "-");
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).then(
      (route) => requests.inc({ route, code: String(res.statusCode) }),
      (err: unknown) => {
        const e = toApiError(err);
        const code = HTTP_OF[e.code] ?? 502;
        if (code >= 500) opts.logger.warn({ err: e, url: (req.url ?? "").slice(0, 200) }, "dashboard request failed");
        if (!res.headersSent) json(res, code, { error: e.message.slice(0, 500) });
        else res.end();
        requests.inc({ route: "error", code: String(code) });
      },
    );
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, onRequest) : http.createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host === "0.0.0.0" ? "127.0.0.1" : opts.host;
  opts.logger.info({ port, transport: opts.tls ? "https" : "http" }, "dashboard listening");
  return {
    port,
    url: `${opts.tls ? "https" : "http"}://${host}:${port}/`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Run streams stay open as long as their runs: end them so close() returns.
        server.closeAllConnections();
      }),
  };
}
