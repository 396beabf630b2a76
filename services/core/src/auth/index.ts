// Authentication and roles: who is calling (Authenticator → Principal) and what they may call (METHOD_ROLES).
export * from "./roles.js";
export * from "./principal.js";
export * from "./static-tokens.js";
export * from "./oidc.js";
export * from "./protos.js";
