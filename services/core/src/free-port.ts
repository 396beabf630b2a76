import { createServer } from "node:net";

/** A free loopback port from the OS (another process could take it before we bind: callers bind at once, or retry). */
export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const a = srv.address();
      srv.close(() => (a && typeof a === "object" ? ok(a.port) : fail(new Error("no free port"))));
    });
  });
}
