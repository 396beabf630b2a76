// `mambalign report RUN --out DIR`.
import path from "node:path";
import type { CliIo } from "../cli-io.js";
import { fetchRunReportData } from "../run-report-data.js";
import { writeRunReport } from "../run-report.js";

export async function reportCommand(io: CliIo, addr: string, runId: string, out: string): Promise<number> {
  const data = await fetchRunReportData(addr, runId);
  const written = await writeRunReport(data, path.resolve(io.cwd, out));
  io.out.write(`${written.htmlPath}\n${Object.values(written.pngs).map((p) => `  ${p}`).join("\n")}\n`);
  return 0;
}
