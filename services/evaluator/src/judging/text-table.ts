/** Aligns a plain-text table: the first `leftColumns` columns left-aligned (names), the rest right-aligned (numbers). */
export function formatTextTable(header: string[], rows: string[][], leftColumns = 1): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((v, c) => (c < leftColumns ? v.padEnd(widths[c]!) : v.padStart(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
