// `mambalign adapters export VERSION DIR [--merged]`: the version's files streamed from the registry
// (DownloadVersion) into DIR on this machine, each checked against the manifest's sha256. An adapter
// gives a PEFT directory (PeftModel.from_pretrained); --merged folds it into its base model with the
// Python runtime here, giving a model directory (from_pretrained).
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import {
  type AdapterVersion,
  ArtifactKind,
  callUnary,
  type DownloadVersionResponse,
  type RegistryServiceClient,
  streamResponses,
} from "@mambalign/core";
import { type CliIo, CliError } from "../cli-io.js";
import { registryClient } from "../clients.js";
import { defaultPython } from "../embedded/embedded-system.js";
import { type OutputFormat, printData } from "../output-format.js";
import { runPythonRuntime } from "../python-runtime.js";

/** A path the server sent, kept inside `dir` (never absolute, never climbing out). */
function inside(dir: string, rel: string): string {
  const parts = rel.split("/");
  if (rel === "" || path.isAbsolute(rel) || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new CliError(`the registry sent an unsafe file path ${JSON.stringify(rel.slice(0, 200))}; nothing more was written`);
  }
  return path.join(dir, ...parts);
}

/** Writes the version's exported files into `dir`; each appears only once its size and sha256 match. */
async function download(client: RegistryServiceClient, id: string, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let cur: { rel: string; target: string; part: string; out: NodeJS.WritableStream & { end(): void }; hash: ReturnType<typeof createHash>; bytes: number; size: bigint; sha256: string } | undefined;
  const close = async () => {
    if (!cur) return;
    cur.out.end();
    await finished(cur.out);
    const sha = cur.hash.digest("hex");
    if (BigInt(cur.bytes) !== cur.size || sha !== cur.sha256) {
      await rm(cur.part, { force: true });
      throw new CliError(`${id}: ${cur.rel} arrived damaged (${cur.bytes} bytes, sha256 ${sha.slice(0, 12)}…; the manifest says ${cur.size} bytes, ${cur.sha256.slice(0, 12)}…); try again`);
    }
    await rename(cur.part, cur.target);
    files.push(cur.rel);
    cur = undefined;
  };
  for await (const chunk of streamResponses<DownloadVersionResponse>(client.downloadVersion({ id }))) {
    if (cur?.rel !== chunk.path) {
      await close();
      const target = inside(dir, chunk.path);
      await mkdir(path.dirname(target), { recursive: true });
      const part = `${target}.part`;
      cur = { rel: chunk.path, target, part, out: createWriteStream(part), hash: createHash("sha256"), bytes: 0, size: chunk.size, sha256: chunk.sha256 };
    }
    cur.hash.update(chunk.data);
    cur.bytes += chunk.data.length;
    if (!cur.out.write(chunk.data)) await new Promise((r) => cur!.out.once("drain", r));
  }
  await close();
  return files;
}

async function emptyDir(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    throw new CliError(`cannot use ${dir}: ${err.code === "ENOTDIR" ? "not a directory" : err.message}`);
  });
  if (entries.length) throw new CliError(`${dir} is not empty: export into a new or empty directory`);
}

/** The model an adapter was trained on: its parent version when that is a full model, else its base model. */
async function baseOf(client: RegistryServiceClient, v: AdapterVersion, work: string): Promise<string> {
  if (v.parent) {
    const parent = (await callUnary(client.getVersion.bind(client), { id: v.parent })).version!;
    if (parent.kind !== ArtifactKind.ARTIFACT_KIND_MODEL) {
      throw new CliError(`${v.id} is an adapter on ${parent.id}, itself an adapter: merge needs a full model under it`);
    }
    const dir = path.join(work, "base");
    await download(client, parent.id, dir);
    return dir;
  }
  const base = v.baseModel;
  if (!base?.uri) throw new CliError(`${v.id} records no base model to merge into`);
  return base.revision && !base.uri.startsWith("preset:") ? `${base.uri}@${base.revision}` : base.uri;
}

const OUT_PROJ_HINT =
  "note: this adapter has LoRA on Mamba's out_proj, which peft refuses by default; load it with\n" +
  "  from mambalign_runtime.lora import mamba_targets_allowed\n" +
  "  with mamba_targets_allowed(): model = PeftModel.from_pretrained(base, DIR)\n" +
  "or export it --merged.\n";

async function targetsOutProj(dir: string): Promise<boolean> {
  const config = await readFile(path.join(dir, "adapter_config.json"), "utf8").then((t) => JSON.parse(t) as { target_modules?: unknown }, () => ({}) as { target_modules?: unknown });
  const t = config.target_modules;
  return Array.isArray(t) ? t.includes("out_proj") : typeof t === "string" && t.includes("out_proj");
}

export async function adaptersExportCommand(io: CliIo, addr: string, id: string, dir: string, opts: { merged?: boolean; output: OutputFormat }): Promise<number> {
  const target = path.resolve(io.cwd, dir);
  await emptyDir(target);
  const client = registryClient(addr);
  try {
    const v = (await callUnary(client.getVersion.bind(client), { id })).version!;
    let files: string[];
    if (!opts.merged || v.kind === ArtifactKind.ARTIFACT_KIND_MODEL) {
      files = await download(client, v.id, target);
    } else {
      const work = await mkdtemp(path.join(tmpdir(), "mambalign-export-"));
      try {
        const adapter = path.join(work, "adapter");
        await download(client, v.id, adapter);
        const spec = path.join(work, "spec.json");
        await writeFile(spec, JSON.stringify({ command: "merge", model: await baseOf(client, v, work), adapter, outputDir: path.join(work, "out") }));
        await runPythonRuntime(defaultPython(io.env), ["merge", "--spec", spec], io.env);
        await mkdir(target, { recursive: true });
        await cp(path.join(work, "out", "merged"), target, { recursive: true });
        files = (await readdir(target, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(target, path.join(e.parentPath, e.name))).sort();
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
    if (v.kind === ArtifactKind.ARTIFACT_KIND_ADAPTER && !opts.merged && (await targetsOutProj(target))) io.err.write(OUT_PROJ_HINT);
    const layout = v.kind === ArtifactKind.ARTIFACT_KIND_ADAPTER && !opts.merged ? "PEFT adapter (PeftModel.from_pretrained)" : "model (from_pretrained)";
    printData(io, opts.output, { version: v.id, directory: target, merged: Boolean(opts.merged && v.kind === ArtifactKind.ARTIFACT_KIND_ADAPTER), files }, () =>
      [`${v.id} -> ${target}: ${layout}`, ...files.map((f) => `  ${f}`)].join("\n"),
    );
    return 0;
  } finally {
    client.close();
  }
}
