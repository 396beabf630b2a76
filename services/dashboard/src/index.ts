// Public face of @mambalign/dashboard.
export { type DashboardSecurity, startDashboard, type StartedDashboard } from "./dashboard.js";
export { type DashboardOptions, loadDashboardOptions } from "./dashboard-options.js";
