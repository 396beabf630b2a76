// Environment variables through a zod schema; a bad value fails with the variable's name (docs/architecture.md, env vars).
import type { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(
    message: string,
    readonly variable: string,
  ) {
    super(message);
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
