// Public face of @mambalign/kube: the job launcher and pool autoscaler, and their pure decisions.
export * from "./job-planning.js";
export * from "./pool-scaling.js";
export * from "./job-template.js";
export * from "./job-launcher.js";
export * from "./multi-node.js";
export * from "./pool-autoscaler.js";
export * from "./kube-config.js";
export * from "./program.js";
