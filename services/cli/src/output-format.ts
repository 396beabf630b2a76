// `-o text|json|yaml`: every command that prints data prints it as a table/text by default, or as
// JSON or YAML (proto3 JSON field names) for scripts.
import { InvalidArgumentError } from "commander";
import YAML from "yaml";
import type { CliIo } from "./cli-io.js";

export const OUTPUT_FORMATS = ["text", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** commander parser of -o/--output. */
export function outputFormat(v: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(v)) throw new InvalidArgumentError(`one of ${OUTPUT_FORMATS.join(", ")}`);
  return v as OutputFormat;
}

/** Prints `data` as JSON/YAML, or `text()` (a line or table without its final newline) in text mode. */
export function printData(io: CliIo, format: OutputFormat, data: unknown, text: () => string): void {
  if (format === "json") io.out.write(JSON.stringify(data, null, 2) + "\n");
  else if (format === "yaml") io.out.write(YAML.stringify(data));
  else {
    const t = text();
    io.out.write(t.endsWith("\n") ? t : `${t}\n`);
  }
}
