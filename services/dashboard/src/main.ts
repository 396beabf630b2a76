// Runs the dashboard on its own (its Deployment in the chart); `mambalign up` starts it in-process instead.
import { authenticatorFor, createLogger, loadSecurityConfig, Metrics, startHttpEndpoints } from "@mambalign/core";
import { startDashboard } from "./dashboard.js";
import { loadDashboardOptions } from "./dashboard-options.js";

const opts = loadDashboardOptions();
// The API's tokens and identity provider sign users in; its certificate serves HTTPS; its CA reaches the API over TLS.
const security = loadSecurityConfig(process.env);
const logger = createLogger("dashboard", opts.logLevel);
const metrics = new Metrics();
const dashboard = await startDashboard(opts, {
  logger,
  metrics,
  authenticator: authenticatorFor(security),
  clientSecurity: security.client,
  ...(security.tls ? { tls: security.tls } : {}),
  allowPlaintext: security.allowPlaintext,
});
const endpoints = await startHttpEndpoints({ host: opts.host, port: opts.metricsPort, metrics, ready: () => true });
let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    if (stopping) return;
    stopping = true;
    logger.info("shutting down");
    void Promise.all([dashboard.stop(), endpoints.close()]).then(() => process.exit(0));
  });
}
