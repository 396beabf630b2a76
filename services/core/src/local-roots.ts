// Local paths a caller names through the API (a dataset file to read, a directory to export into)
// are confined to directories configured at start-up: no `..`, and the real path (symbolic links
// followed) must lie under a root's real path. No roots (the default on a cluster) = no local paths.
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { status } from "@grpc/grpc-js";
import { ApiError } from "./errors.js";

/** How much of a caller's path an error repeats. */
const SHOWN_CHARS = 200;

function shown(p: string): string {
  return JSON.stringify(p.length > SHOWN_CHARS ? `${p.slice(0, SHOWN_CHARS)}...` : p);
}

function errno(err: unknown): string | undefined {
  return err && typeof err === "object" && "code" in err ? String(err.code) : undefined;
}

function isInside(p: string, root: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/** The real path of `p`, or its resolved path while it does not exist (a root created later). */
async function realOrResolved(p: string): Promise<string> {
  return fsp.realpath(p).catch(() => path.resolve(p));
}

export class LocalRoots {
  /** `roots`: absolute directories; `variable`: the setting that lists them, named in errors. */
  constructor(
    readonly roots: readonly string[],
    readonly variable: string,
    private readonly purpose: "read" | "write",
  ) {}

  /** Roots from a `path.delimiter`-separated list (empty entries ignored, each resolved to absolute). */
  static parse(list: string, variable: string, purpose: "read" | "write"): LocalRoots {
    const roots = list.split(path.delimiter).map((s) => s.trim()).filter(Boolean).map((s) => path.resolve(s));
    return new LocalRoots(roots, variable, purpose);
  }

  #outside(field: string, p: string, how = "is"): ApiError {
    const allowed = this.roots.length === 0 ? "none are configured" : this.roots.join(", ");
    const verb = this.purpose === "read" ? "read" : "write to";
    return new ApiError(
      status.PERMISSION_DENIED,
      `${field}: ${shown(p)} ${how} outside the local directories this service may ${verb} (${this.variable}: ${allowed}); use an s3:// URI of the deployment's bucket or ask the operator to add a root`,
      { field },
    );
  }

  /** Checks the form and the lexical place of `p`; returns it absolute. */
  async #lexical(p: string, field: string): Promise<{ abs: string; realRoots: string[] }> {
    if (p.split(/[\\/]/).includes("..")) throw ApiError.invalidArgument(field, `${shown(p)} contains "..": give the path itself`);
    if (p.includes("\0")) throw ApiError.invalidArgument(field, "contains a NUL character");
    const abs = path.resolve(p);
    const realRoots = await Promise.all(this.roots.map(realOrResolved));
    const under = this.roots.some((r) => isInside(abs, r)) || realRoots.some((r) => isInside(abs, r));
    if (!under) throw this.#outside(field, p);
    return { abs, realRoots };
  }

  /** The real path of an existing file or directory under a root: NOT_FOUND when absent, PERMISSION_DENIED outside. */
  async existing(p: string, field: string): Promise<string> {
    const { abs, realRoots } = await this.#lexical(p, field);
    let real: string;
    try {
      real = await fsp.realpath(abs);
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") throw new ApiError(status.NOT_FOUND, `${field}: ${shown(p)} does not exist`, { field });
      throw new ApiError(status.PERMISSION_DENIED, `${field}: ${shown(p)} cannot be read (${errno(err) ?? "error"})`, { field });
    }
    if (!realRoots.some((r) => isInside(real, r))) throw this.#outside(field, p, "leads (through a symbolic link)");
    return real;
  }

  /** A directory under a root, created if missing; returns its real path (checked again after creation). */
  async directory(p: string, field: string): Promise<string> {
    const { abs, realRoots } = await this.#lexical(p, field);
    // The deepest existing ancestor decides where mkdir would really write.
    let probe = abs;
    for (;;) {
      const real = await fsp.realpath(probe).catch((err: unknown) => (errno(err) === "ENOENT" ? null : err));
      if (typeof real === "string") {
        if (!realRoots.some((r) => isInside(real, r))) throw this.#outside(field, p, "leads (through a symbolic link)");
        break;
      }
      if (real !== null) throw this.#unusable(field, p, real);
      probe = path.dirname(probe);
    }
    try {
      await fsp.mkdir(abs, { recursive: true });
    } catch (err) {
      throw this.#unusable(field, p, err);
    }
    const real = await fsp.realpath(abs);
    if (!realRoots.some((r) => isInside(real, r))) throw this.#outside(field, p, "leads (through a symbolic link)");
    return real;
  }

  /** A path under a root that cannot be a directory (a file in the way) or cannot be created. */
  #unusable(field: string, p: string, err: unknown): ApiError {
    const code = errno(err);
    if (code === "EEXIST" || code === "ENOTDIR") return ApiError.invalidArgument(field, `${shown(p)} (or a parent of it) exists and is not a directory`);
    return ApiError.failedPrecondition(`${field}: ${shown(p)} cannot be created (${code ?? "error"})`, { field });
  }

  /** Whether `p` (a path already resolved by this object, or below one) is still inside `dir` in reality. */
  static async stillInside(p: string, dir: string): Promise<boolean> {
    return isInside(await fsp.realpath(p), dir);
  }
}
