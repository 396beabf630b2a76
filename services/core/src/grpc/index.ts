export * from "./errors.js";
export * from "./server.js";
export * from "./handlers.js";
export * from "./client.js";
export * from "./auth.js";
export * from "./loopback.js";
