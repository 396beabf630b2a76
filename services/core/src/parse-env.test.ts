// core — parseEnv: defaults and coercion from the schema, a ConfigError naming the variable at fault.
import assert from "node:assert/strict";
import { test } from "node:test";
import { z } from "zod";
import { ConfigError, parseEnv } from "./parse-env.js";

const Schema = z.object({ MY_PORT: z.coerce.number().int("MY_PORT must be an integer").default(80), MY_NAME: z.string().min(1) });

test("parseEnv — coerces and fills defaults", () => {
  assert.deepEqual(parseEnv(Schema, { MY_NAME: "x", OTHER: "ignored" }), { MY_PORT: 80, MY_NAME: "x" });
  assert.deepEqual(parseEnv(Schema, { MY_NAME: "x", MY_PORT: "8080" }), { MY_PORT: 8080, MY_NAME: "x" });
});

test("parseEnv — a bad or missing value throws ConfigError naming the variable", () => {
  assert.throws(
    () => parseEnv(Schema, { MY_NAME: "x", MY_PORT: "1.5" }),
    (err: unknown) => err instanceof ConfigError && err.variable === "MY_PORT" && /invalid MY_PORT: MY_PORT must be an integer/.test(err.message),
  );
  assert.throws(() => parseEnv(Schema, {}), (err: unknown) => err instanceof ConfigError && err.variable === "MY_NAME");
});
