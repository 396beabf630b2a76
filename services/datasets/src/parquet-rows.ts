// Rows of a local Parquet file as plain JSON values, one row group at a time (bounded memory),
// read with hyparquet (a maintained reader; nested lists of structs come back as arrays of objects).
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";

/** JSON-safe copy: int64 columns arrive as bigint, binary as bytes, timestamps as Date. */
function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** Each row with its 1-based number in the file. */
export async function* readParquetRows(file: string): AsyncIterable<{ row: number; value: Record<string, unknown> }> {
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  let start = 0;
  for (const group of metadata.row_groups) {
    const end = start + Number(group.num_rows);
    const rows = await parquetReadObjects({ file: buffer, metadata, rowStart: start, rowEnd: end });
    for (const [i, r] of rows.entries()) yield { row: start + i + 1, value: plain(r) as Record<string, unknown> };
    start = end;
  }
}
