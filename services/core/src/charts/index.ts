export * from "./render-chart.js";
export * from "./chart-report.js";
