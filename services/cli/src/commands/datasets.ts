// `mambalign datasets list|show`: prepared dataset versions and their cards.
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { callUnary, DatasetVersion } from "@mambalign/core";
import type { CliIo } from "../cli-io.js";
import { type OutputFormat, printData } from "../output-format.js";
import { datasetsClient } from "../clients.js";
import { textTable } from "../text-table.js";

export async function datasetsListCommand(io: CliIo, addr: string, output: OutputFormat): Promise<number> {
  const client = datasetsClient(addr);
  try {
    const { datasets } = await callUnary(client.listDatasets.bind(client), {});
    if (output !== "text") {
      printData(io, output, datasets.map((d) => DatasetVersion.toJSON(d)), () => "");
      return 0;
    }
    if (datasets.length === 0) {
      io.out.write("no datasets prepared yet\n");
      return 0;
    }
    const rows = datasets.map((d) => [
      d.id.slice(0, 12),
      d.name,
      d.splits.map((s) => `${s.name} ${s.rows}`).join(", "),
      String(d.quarantinedRows),
    ]);
    io.out.write(textTable(["id", "name", "rows", "quarantined"], rows) + "\n");
    return 0;
  } finally {
    client.close();
  }
}

/** Prints the card; the token-length histogram PNG is written next to the working directory (or --png). */
export async function datasetsShowCommand(io: CliIo, addr: string, id: string, opts: { png?: string; cwd: string; output: OutputFormat }): Promise<number> {
  const client = datasetsClient(addr);
  try {
    const card = await callUnary(client.getDatasetCard.bind(client), { id });
    if (opts.output !== "text") {
      printData(io, opts.output, JSON.parse(card.cardJson) as unknown, () => "");
      return 0;
    }
    io.out.write(card.text.endsWith("\n") ? card.text : `${card.text}\n`);
    if (card.histogramPng.length > 0) {
      const file = path.resolve(opts.cwd, opts.png ?? `dataset-${id.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 24)}-token-lengths.png`);
      await writeFile(file, card.histogramPng);
      io.out.write(`token-length histogram: ${file}\n`);
    }
    return 0;
  } finally {
    client.close();
  }
}
