// Test helper: a writable stream that keeps what the CLI printed, for runCli's `out`/`err`.
import { Writable } from "node:stream";

export function collect(): Writable & { text(): string } {
  const chunks: string[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return Object.assign(w, { text: () => chunks.join("") });
}
