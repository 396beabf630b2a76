// Value schemas for recipe keys. HfArgumentParser (which the handbook uses) coerces numeric
// strings such as "5e-7" (PyYAML reads that as a string), so numbers accept decimal strings too.
import { z } from "zod";
import { describeValue, keyPath } from "./issues.js";

const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

const numberLike = z.union([z.number(), z.string().trim().regex(NUMERIC).transform(Number)], {
  error: "expected a number",
});

interface Range {
  gt?: number;
  ge?: number;
  lt?: number;
  le?: number;
}

function ranged(base: z.ZodNumber, r: Range): z.ZodNumber {
  let s = base;
  if (r.gt !== undefined) s = s.gt(r.gt, { error: `must be > ${r.gt}` });
  if (r.ge !== undefined) s = s.gte(r.ge, { error: `must be >= ${r.ge}` });
  if (r.lt !== undefined) s = s.lt(r.lt, { error: `must be < ${r.lt}` });
  if (r.le !== undefined) s = s.lte(r.le, { error: `must be <= ${r.le}` });
  return s;
}

export const float = (r: Range = {}) => numberLike.pipe(ranged(z.number({ error: "must be finite" }), r));

/** Integers; uint32 fields get le 2^32-1 from the caller. */
export const int = (r: Range = {}) =>
  numberLike.pipe(ranged(z.number().int({ error: "expected an integer" }), { le: 2 ** 32 - 1, ...r }));

export const bool = () => z.boolean({ error: "expected true or false" });

export const text = () => z.string({ error: "expected a string" }).min(1, { error: "must not be empty" });

/** One of `values` (case-insensitive); aliases map to the canonical spelling. */
export function oneOf(values: readonly string[], aliases: Record<string, string> = {}) {
  return z
    .string({ error: `expected one of: ${values.join(", ")}` })
    .transform((s) => {
      const lower = s.trim().toLowerCase();
      return Object.hasOwn(aliases, lower) ? aliases[lower]! : lower;
    })
    .pipe(z.enum(values as [string, ...string[]], { error: `expected one of: ${values.join(", ")}` }));
}

/** A list of names; a single string is split on commas (peft accepts "a,b" on the command line). */
export const nameList = () =>
  z.preprocess(
    (v) =>
      typeof v === "string"
        ? v
            .split(",")
            .map((p) => p.trim())
            .filter(Boolean)
        : v,
    z.array(text(), { error: "expected a list of names" }),
  );

/** dataset name -> fraction of its train split, as in the handbook's dataset_mixer. */
export const mixer = () =>
  z
    .record(
      text(),
      float({ ge: 0, le: 1 }),
      { error: "expected a mapping of dataset name to fraction" },
    )
    .refine((m) => Object.keys(m).length > 0, { error: "must name at least one dataset" });

export type Outcome<T> = { ok: true; value: T } | { ok: false; messages: { key: string; message: string }[] };

/** Validates `value` for the key at `path`; messages name the key (and item) at fault. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, path: string): Outcome<T> {
  const res = schema.safeParse(value);
  if (res.success) return { ok: true, value: res.data };
  const messages = res.error.issues.map((issue) => {
    let key = path;
    let item: unknown = value;
    for (const seg of issue.path) {
      key = keyPath(key, typeof seg === "number" ? seg : String(seg));
      item = item !== null && typeof item === "object" ? (item as Record<PropertyKey, unknown>)[seg as PropertyKey] : undefined;
    }
    return { key, message: `${issue.message} (got ${describeValue(item)})` };
  });
  return { ok: false, messages };
}
