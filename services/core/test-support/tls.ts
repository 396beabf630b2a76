// A throw-away PKI for TLS tests, made with the openssl command line: a CA, a server certificate for
// localhost/127.0.0.1, and a client certificate (mutual TLS), all valid for a day.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export interface TestPki {
  dir: string;
  ca: Buffer;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCert: Buffer;
  clientKey: Buffer;
  /** Paths of the same files, for settings that take files (MAMBALIGN_TLS_CERT, ...). */
  files: { ca: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string };
  remove(): void;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export function makeTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mambalign-pki-"));
  const f = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  openssl("req", "-x509", ...EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1", "-subj", "/CN=mambalign test CA");
  const issue = (name: string, ext: string) => {
    fs.writeFileSync(f(`${name}.ext`), ext);
    openssl("req", ...EC, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", "1", "-extfile", `${name}.ext`);
  };
  issue("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  issue("client", "extendedKeyUsage=clientAuth\n");
  const files = { ca: f("ca.crt"), serverCert: f("server.crt"), serverKey: f("server.key"), clientCert: f("client.crt"), clientKey: f("client.key") };
  return {
    dir,
    ca: fs.readFileSync(files.ca),
    serverCert: fs.readFileSync(files.serverCert),
    serverKey: fs.readFileSync(files.serverKey),
    clientCert: fs.readFileSync(files.clientCert),
    clientKey: fs.readFileSync(files.clientKey),
    files,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
