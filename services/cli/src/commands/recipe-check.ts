// `mambalign recipe check FILE [--json]`: offline; the normalised recipe and its issues, exit 1 on fatal ones.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { checkRecipe, Recipe, type RecipeCheck, RecipeIssue, recipeToYaml, type WorkerCapabilities, WORKERS } from "@mambalign/core";
import { type CliIo, CliError } from "../cli-io.js";
import { type OutputFormat, printData } from "../output-format.js";

/** Reads and checks a recipe file; relative paths inside resolve against the file's directory. */
export async function checkRecipeFile(file: string, cwd: string, worker?: WorkerCapabilities): Promise<RecipeCheck> {
  const abs = path.resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(abs, "utf8");
  } catch (err) {
    throw new CliError(`cannot read recipe ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`, 2);
  }
  return checkRecipe(text, { baseDir: path.dirname(abs), source: abs, worker });
}

export function formatIssue(i: RecipeIssue): string {
  return `${i.fatal ? "error" : "warning"}: ${i.key}: ${i.message}`;
}

/** The worker named by `--worker` (gpu-image, cpu); a name it does not know is a usage error listing the known ones. */
export function workerNamed(name: string): WorkerCapabilities {
  const worker = Object.hasOwn(WORKERS, name) ? WORKERS[name] : undefined;
  if (!worker) throw new CliError(`--worker: unknown worker ${JSON.stringify(name.slice(0, 40))}; known: ${Object.keys(WORKERS).join(", ")}`, 2);
  return worker;
}

export async function recipeCheckCommand(io: CliIo, file: string, opts: { output: OutputFormat; worker?: string }): Promise<number> {
  const check = await checkRecipeFile(file, io.cwd, workerNamed(opts.worker ?? "gpu-image"));
  if (opts.output !== "text") {
    printData(io, opts.output, { ok: check.ok, recipe: Recipe.toJSON(check.recipe), issues: check.issues.map((i) => RecipeIssue.toJSON(i)) }, () => "");
    return check.ok ? 0 : 1;
  }
  const fatal = check.issues.filter((i) => i.fatal);
  if (fatal.length) {
    for (const i of check.issues) io.err.write(formatIssue(i) + "\n");
    io.err.write(`${file}: invalid recipe (${fatal.length} error${fatal.length === 1 ? "" : "s"})\n`);
    return 1;
  }
  io.out.write(recipeToYaml(check.recipe));
  const warnings = check.issues.filter((i) => !i.fatal);
  for (const w of warnings) io.err.write(formatIssue(w) + "\n");
  io.err.write(`${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})` : ""}\n`);
  return 0;
}
