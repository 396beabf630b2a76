// Environment variables through a zod schema; a bad value fails with the variable's name (docs/architecture.md, env vars).
import { status } from "@grpc/grpc-js";
import type { z } from "zod";
import { ApiError } from "./errors.js";

/** A bad setting: the service cannot work as configured (FAILED_PRECONDITION, not retried). */
export class ConfigError extends ApiError {
  override name = "ConfigError";
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(status.FAILED_PRECONDITION, message, { key: variable });
  }
}

/** The parsed environment, or a ConfigError naming the first variable at fault. */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? "environment");
    throw new ConfigError(`invalid ${variable}: ${issue.message}`, variable);
  }
  return parsed.data;
}
