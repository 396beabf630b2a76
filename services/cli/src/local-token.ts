// The local admin token of `mambalign up`: made on first start in the user's config directory
// ($XDG_CONFIG_HOME/mambalign/token, else ~/.config/mambalign/token), readable by the user only
// (0600, directory 0700), and used by the CLI when no --token or MAMBALIGN_TOKEN is given.
import * as fs from "node:fs";
import * as os from "node:os";
import path from "node:path";
import { generateToken } from "@mambalign/core";

/** The user's mambalign config directory. */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)) return path.join(env.XDG_CONFIG_HOME, "mambalign");
  return path.join(env.HOME || os.homedir(), ".config", "mambalign");
}

export function localTokenFile(env: NodeJS.ProcessEnv): string {
  return path.join(configDir(env), "token");
}

/** The local token, or undefined when `mambalign up` never ran for this user. */
export function readLocalToken(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const token = fs.readFileSync(localTokenFile(env), "utf8").trim();
    return token || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The local token, made (0600) when there is none yet. */
export function ensureLocalToken(env: NodeJS.ProcessEnv): string {
  const existing = readLocalToken(env);
  if (existing) return existing;
  const file = localTokenFile(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = generateToken();
  try {
    // "wx": a concurrent first start keeps the token the other one wrote.
    fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readLocalToken(env)!;
    throw err;
  }
  return token;
}
