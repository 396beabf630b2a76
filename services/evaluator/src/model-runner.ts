// The staged model behind the runtime's `generate` and `score` commands, one runtime process per call.
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { RuntimeFailedError, RuntimeSpec, type StageContext } from "@mambalign/core";
import { z } from "zod";
import type { StagedModel } from "./model-staging.js";

export interface ChatTurn {
  role: "system" | "user" | "assistant";
  content: string;
}

export interface GenerationPrompt {
  id: string;
  /** Ends with a user turn. */
  messages: ChatTurn[];
  /** This row's sampling temperature over the call's (MT-Bench's per-category settings in one call). */
  temperature?: number;
}

export interface GenerationSettings {
  temperature: number;
  maxNewTokens: number;
  batchSize: number;
  seed: number;
}

export interface Generation {
  output: string;
  tokens: number;
}

const generationRow = z.object({ id: z.string(), output: z.string(), tokens: z.number().int().nonnegative() });
const scoreValues = z.record(z.string(), z.number());

export class ModelRunner {
  #calls = 0;

  constructor(
    private readonly o: {
      staged: StagedModel;
      workDir: string;
      env: Record<string, string>;
      /** The job's runtime launcher (stop, cancel and event relay handled by the stage lifecycle). */
      run: StageContext["runRuntime"];
    },
  ) {}

  /** Answers every prompt; `name` names the call's folder (e.g. "mt_bench-turn1-t0.7"). */
  async generate(name: string, prompts: GenerationPrompt[], s: GenerationSettings): Promise<Map<string, Generation>> {
    const dir = await this.#dir(name);
    const promptsFile = join(dir, "prompts.jsonl");
    const outputFile = join(dir, "generations.jsonl");
    await writeFile(promptsFile, prompts.map((p) => JSON.stringify(p)).join("\n") + "\n");
    await this.#run(
      dir,
      RuntimeSpec.fromPartial({
        command: "generate",
        ...this.#model(),
        outputDir: dir,
        generate: { promptsFile, outputFile, maxNewTokens: s.maxNewTokens, temperature: s.temperature, batchSize: s.batchSize, seed: s.seed },
      }),
    );
    const out = new Map<string, Generation>();
    const lines = (await readFile(outputFile, "utf8")).split("\n").filter((l) => l.trim());
    lines.forEach((line, i) => {
      const r = generationRow.safeParse(JSON.parse(line));
      if (!r.success) throw new RuntimeFailedError(`${outputFile}: line ${i + 1} is not {id, output, tokens}`, 0, false, outputFile);
      out.set(r.data.id, { output: r.data.output, tokens: r.data.tokens });
    });
    const missing = prompts.find((p) => !out.has(p.id));
    if (missing) throw new RuntimeFailedError(`${outputFile}: no output for prompt ${missing.id}`, 0, false, outputFile);
    return out;
  }

  /** Held-out preference accuracy (prefsFile) and perplexity (sftFile) as eval/ metrics. */
  async score(name: string, files: { prefsFile: string; sftFile: string }, batchSize: number): Promise<Record<string, number>> {
    const dir = await this.#dir(name);
    const outputFile = join(dir, "scores.json");
    await this.#run(
      dir,
      RuntimeSpec.fromPartial({ command: "score", ...this.#model(), outputDir: dir, score: { ...files, outputFile, batchSize } }),
    );
    const r = scoreValues.safeParse(JSON.parse(await readFile(outputFile, "utf8")));
    if (!r.success) throw new RuntimeFailedError(`${outputFile}: not an object of numbers`, 0, false, outputFile);
    return r.data;
  }

  #model() {
    return { model: this.o.staged.model, adapter: this.o.staged.adapter };
  }

  async #dir(name: string): Promise<string> {
    const dir = join(this.o.workDir, `${String(++this.#calls).padStart(2, "0")}-${name.replace(/[^\w.-]/g, "_")}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  async #run(dir: string, spec: RuntimeSpec): Promise<void> {
    await this.o.run({ spec, dir, env: this.o.env });
  }
}
