export * from "./render-chart.js";
export * from "./chart-report.js";
export * from "./run-charts.js";
