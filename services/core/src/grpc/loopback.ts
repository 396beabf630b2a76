// Which addresses never leave the machine: the only ones plaintext gRPC may use by default.
import * as net from "node:net";

/** True for localhost, 127.0.0.0/8 and ::1 (with or without brackets). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (h === "localhost" || h === "::1") return true;
  return net.isIPv4(h) && h.startsWith("127.");
}

/** The host part of a gRPC target ("host:port", "[::1]:port", "dns:///host:port"). */
export function targetHost(target: string): string {
  const t = target.replace(/^dns:(\/\/[^/]*\/)?/, "").replace(/^ipv[46]:/, "");
  const bracketed = /^\[([^\]]+)\]/.exec(t);
  if (bracketed) return bracketed[1]!;
  const colon = t.lastIndexOf(":");
  return colon > 0 && t.indexOf(":") === colon ? t.slice(0, colon) : t;
}
