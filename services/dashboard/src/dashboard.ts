// The dashboard as a unit: its API clients and HTTP server. `mambalign up` starts it in-process beside the
// services; main.ts runs it alone (its own Deployment in the chart).
import { ApiError, type Authenticator, type ClientSecurity, type Metrics, roleAllows, type ServerTls, status } from "@mambalign/core";
import type { Logger } from "pino";
import { connectApis } from "./api-clients.js";
import type { DashboardOptions } from "./dashboard-options.js";
import { type DashboardServer, startDashboardServer } from "./dashboard-server.js";

export interface StartedDashboard extends DashboardServer {
  /** Stops serving (ending open run streams) and closes the API clients. */
  stop(): Promise<void>;
}

export interface DashboardSecurity {
  /** The API's own (same tokens, same OIDC issuer), so one token signs in to both. */
  authenticator: Authenticator;
  /** How to reach the API (TLS, CA, client certificate); a token in it is not used. */
  clientSecurity: ClientSecurity;
  /** The API's certificate, served as HTTPS; without it plain HTTP, on loopback only unless allowPlaintext. */
  tls?: ServerTls;
  allowPlaintext: boolean;
}

export async function startDashboard(
  opts: Pick<DashboardOptions, "host" | "port" | "addrs">,
  deps: { logger: Logger; metrics: Metrics } & DashboardSecurity,
): Promise<StartedDashboard> {
  const apis = connectApis(opts.addrs, deps.clientSecurity);
  try {
    const server = await startDashboardServer({
      host: opts.host,
      port: opts.port,
      apis,
      logger: deps.logger,
      metrics: deps.metrics,
      ...(deps.tls ? { tls: deps.tls } : {}),
      allowPlaintext: deps.allowPlaintext,
      authenticate: async (authorization) => {
        const principal = await deps.authenticator.authenticate(authorization);
        // Every role may view; the check stays so that a role below viewer, if one is ever added, is refused here.
        if (!roleAllows(principal.role, "viewer")) throw new ApiError(status.PERMISSION_DENIED, `${principal.name} (role ${principal.role}) may not view the dashboard`);
        return principal;
      },
    });
    return {
      ...server,
      stop: async () => {
        await server.close();
        apis.close();
      },
    };
  } catch (err) {
    apis.close();
    throw err;
  }
}
