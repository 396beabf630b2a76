// fast-check arbitraries for any request message, built from proto/'s compiled descriptors (the same descriptor set
// the servers' reflection serves), so a new RPC or field is fuzzed without touching the test. Strings mix random
// text with path traversal (in every string field: ids, names, keys, paths and URIs alike), ids of the shape the
// services expect, and oversized values.
import { create, createFileRegistry, type DescField, type DescMessage, type DescService, fromBinary, ScalarType, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { protoDescriptorSetBase64 } from "@mambalign/core";
import fc from "fast-check";

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(protoDescriptorSetBase64, "base64")));

/** Every mambalign.v1 service in the descriptor set. */
export function mambalignServices(): DescService[] {
  const out: DescService[] = [];
  for (const t of registry) if (t.kind === "service" && t.typeName.startsWith("mambalign.v1.")) out.push(t);
  return out;
}

/** Path traversal and other hostile path forms, tried in every string field. */
export const TRAVERSAL = [
  "..",
  "../",
  "../../../../etc/passwd",
  "a/../../b",
  "/etc/passwd",
  "/",
  "//etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%2e%2e/%2e%2e/etc/passwd",
  "%252e%252e%252f",
  "..\\..\\windows\\win.ini",
  "C:\\Windows",
  "x\u0000y",
  "\u0000",
  "file:///etc/passwd",
  "s3://another-bucket/key",
  "./.staging/x",
  ".staging",
  "~/.ssh/id_rsa",
  "a/./b",
  "a//b",
  "\u2025/\u2025/etc", // two-dot leader
  "..\u2215..\u2215etc", // division slash
  "\uff0e\uff0e/\uff0e\uff0e/etc", // fullwidth dots
];

/** Strings of the shapes the services take (names, run ids, aliases, presets): those get past the first checks. */
const PLAUSIBLE = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/),
  fc.stringMatching(/^[a-z][a-z0-9-]{0,10}\/v[0-9]{1,2}$/),
  fc.stringMatching(/^[0-9a-f]{64}$/),
  fc.constantFrom("latest", "prod", "demo", "preset:tiny-mamba-char", "sft", "mt_bench", "alpaca_eval"),
);

/** `extra` adds strings a test knows (a file inside the data roots, a sentinel outside them). */
export function stringArb(extra: string[] = []): fc.Arbitrary<string> {
  const hostile = fc.constantFrom(...TRAVERSAL, ...extra);
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
    { weight: 4, arbitrary: hostile },
    { weight: 2, arbitrary: fc.tuple(PLAUSIBLE, hostile).map(([a, b]) => `${a}/${b}`) },
    { weight: 2, arbitrary: fc.tuple(hostile, PLAUSIBLE).map(([a, b]) => `${a}/${b}`) },
    { weight: 3, arbitrary: PLAUSIBLE },
    { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 300_000 }).map((n) => "a".repeat(n)) },
  );
}

/** A recipe-ish YAML document: real top-level keys with random JSON values (JSON is YAML), or random text. */
const RECIPE_KEYS = ["name", "model_name_or_path", "stages", "sft", "dpo", "eval", "dataset_mixer", "learning_rate", "max_steps", "output_name", "base_model"];
function yamlArb(strings: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const value = fc.oneof(strings, fc.jsonValue({ maxDepth: 2 }), fc.dictionary(fc.constantFrom(...RECIPE_KEYS), fc.oneof(strings, fc.jsonValue({ maxDepth: 1 })), { maxKeys: 3 }));
  return fc.oneof(
    { weight: 3, arbitrary: fc.dictionary(fc.constantFrom(...RECIPE_KEYS), value, { maxKeys: 6 }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: strings },
  );
}

function scalarArb(t: ScalarType, strings: fc.Arbitrary<string>): fc.Arbitrary<unknown> {
  switch (t) {
    case ScalarType.STRING:
      return strings;
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.oneof(fc.double(), fc.constantFrom(0, 0.5, 1, -1, Number.NaN, Number.POSITIVE_INFINITY));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -3n, max: 100n }));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 100n }));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.nat({ max: 100 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }));
    default:
      return fc.oneof(fc.integer({ min: -3, max: 100 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
  }
}

function enumArb(values: number[]): fc.Arbitrary<number> {
  // Declared values mostly; an undeclared one now and then (a newer client's, or garbage).
  return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.integer({ min: -5, max: 1_000 }) });
}

function fieldArb(f: DescField, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<unknown> {
  const str = f.name.endsWith("_yaml") ? yamlArb(strings) : strings;
  switch (f.fieldKind) {
    case "scalar":
      return scalarArb(f.scalar, str);
    case "enum":
      return enumArb(f.enum.values.map((v) => v.number));
    case "message":
      return messageInit(f.message, strings, depth + 1);
    case "list": {
      const item = f.listKind === "scalar" ? scalarArb(f.scalar, str) : f.listKind === "enum" ? enumArb(f.enum.values.map((v) => v.number)) : messageInit(f.message, strings, depth + 1);
      return fc.array(item, { maxLength: depth > 1 ? 1 : 4 });
    }
    case "map": {
      const value = f.mapKind === "scalar" ? scalarArb(f.scalar, str) : f.mapKind === "enum" ? enumArb(f.enum.values.map((v) => v.number)) : messageInit(f.message, strings, depth + 1);
      return fc.dictionary(f.mapKey === ScalarType.STRING ? strings : fc.nat({ max: 9 }).map(String), value, { maxKeys: 3 });
    }
  }
}

/** The init object of `create(desc, init)`: each field set or left out, one case of each oneof. */
function messageInit(desc: DescMessage, strings: fc.Arbitrary<string>, depth: number): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 3) return fc.constant({});
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of desc.fields) {
    if (f.oneof) continue;
    parts[f.localName] = fc.option(fieldArb(f, strings, depth), { nil: undefined, freq: 3 });
  }
  for (const o of desc.oneofs) {
    parts[o.localName] = fc.option(
      fc.oneof(...o.fields.map((f) => fieldArb(f, strings, depth).map((value) => ({ case: f.localName, value })))),
      { nil: undefined, freq: 3 },
    );
  }
  return fc.record(parts).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
}

/** A request of `desc` in its wire form, with the decoded init for reporting. */
export function requestArb(desc: DescMessage, extra: string[] = []): fc.Arbitrary<{ init: Record<string, unknown>; bytes: Buffer }> {
  return messageInit(desc, stringArb(extra), 0).map((init) => ({ init, bytes: Buffer.from(toBinary(desc, create(desc, init))) }));
}

/** Every field name of `desc` and the messages under it (snake_case and lowerCamel), for checking an error's `field`. */
export function fieldNames(desc: DescMessage, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  if (seen.has(desc.typeName)) return out;
  seen.add(desc.typeName);
  for (const f of desc.fields) {
    out.add(f.name).add(f.localName).add(f.jsonName);
    const sub = f.fieldKind === "message" ? f.message : (f.fieldKind === "list" || f.fieldKind === "map") && f.message ? f.message : undefined;
    if (sub) for (const n of fieldNames(sub, seen)) out.add(n);
  }
  return out;
}
