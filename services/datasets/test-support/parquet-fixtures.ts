// Parquet files in the layouts of the Hub datasets recipes name, written with hyparquet-writer
// (columns and nesting as the Hub's own files: message lists are list<struct<content, role>>).
import { ByteWriter, parquetWrite } from "hyparquet-writer";

type SchemaElement = Parameters<typeof parquetWrite>[0]["schema"] extends (infer S)[] | undefined ? S : never;

export interface Msg {
  role: string;
  content: string;
}

const str = (name: string): SchemaElement => ({ name, type: "BYTE_ARRAY", converted_type: "UTF8", repetition_type: "OPTIONAL" });

function messageList(name: string): SchemaElement[] {
  return [
    { name, repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
    { name: "list", repetition_type: "REPEATED", num_children: 1 },
    { name: "element", repetition_type: "OPTIONAL", num_children: 2 },
    str("content"),
    str("role"),
  ];
}

function write(columns: { name: string; data: unknown[] }[], schema: SchemaElement[]): Buffer {
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: columns.map((c) => ({ name: c.name, data: c.data as never })),
    schema: [{ name: "root", num_children: columns.length }, ...schema],
    rowGroupSize: 7, // several row groups, as large files have
  });
  return Buffer.from(writer.getBuffer());
}

/** HuggingFaceH4/ultrachat_200k: prompt, prompt_id, messages. */
export function ultrachatParquet(rows: { prompt: string; messages: Msg[] }[]): Buffer {
  return write(
    [
      { name: "prompt", data: rows.map((r) => r.prompt) },
      { name: "prompt_id", data: rows.map((_, i) => `id${i}`) },
      { name: "messages", data: rows.map((r) => r.messages) },
    ],
    [str("prompt"), str("prompt_id"), ...messageList("messages")],
  );
}

/** HuggingFaceH4/ultrafeedback_binarized: prompt, prompt_id, chosen, rejected, messages, scores. */
export function ultrafeedbackParquet(rows: { prompt: string; chosen: Msg[]; rejected: Msg[] }[]): Buffer {
  return write(
    [
      { name: "prompt", data: rows.map((r) => r.prompt) },
      { name: "prompt_id", data: rows.map((_, i) => `p${i}`) },
      { name: "chosen", data: rows.map((r) => r.chosen) },
      { name: "rejected", data: rows.map((r) => r.rejected) },
      { name: "messages", data: rows.map((r) => r.chosen) },
      { name: "score_chosen", data: rows.map(() => 8.5) },
      { name: "score_rejected", data: rows.map(() => 3) },
    ],
    [
      str("prompt"),
      str("prompt_id"),
      ...messageList("chosen"),
      ...messageList("rejected"),
      ...messageList("messages"),
      { name: "score_chosen", type: "DOUBLE", repetition_type: "OPTIONAL" },
      { name: "score_rejected", type: "DOUBLE", repetition_type: "OPTIONAL" },
    ],
  );
}

/** Alpaca-style instruction/input/output columns. */
export function alpacaParquet(rows: { instruction: string; input: string; output: string }[]): Buffer {
  return write(
    (["instruction", "input", "output"] as const).map((k) => ({ name: k, data: rows.map((r) => r[k]) })),
    [str("instruction"), str("input"), str("output")],
  );
}

/** ShareGPT conversations: list<struct<from, value>>. */
export function shareGptParquet(rows: { from: string; value: string }[][]): Buffer {
  return write(
    [{ name: "conversations", data: rows }],
    [
      { name: "conversations", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", repetition_type: "OPTIONAL", num_children: 2 },
      str("from"),
      str("value"),
    ],
  );
}
