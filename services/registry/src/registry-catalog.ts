// The `adapters` KV bucket:
//   versions/<name>/<N>    -> AdapterVersion (immutable but for attached evals)
//   heads/<name>           -> {latest, bySha}: the version counter and the registration index
//                             (content + lineage), one CAS record, so numbers are unique and one
//                             registration gets one number
//   aliases/<name>/<alias> -> Alias (movable)
import { Alias, AdapterVersion, ApiError, type Bus, KvConflictError, type ProtoKv } from "@mambalign/core";
import { status } from "@grpc/grpc-js";
import { z } from "zod";
import { LATEST, parseVersionId, versionId } from "./names.js";

export const ADAPTERS_BUCKET = "adapters";
const MAX_CAS_ATTEMPTS = 100;

const headSchema = z.object({ latest: z.number().int().nonnegative(), bySha: z.record(z.string(), z.number().int().positive()) });
type NameHead = z.infer<typeof headSchema>;

/** Runs a read-modify-write until its CAS wins; `step` returns a value to stop early. */
async function casLoop<T>(what: string, step: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < MAX_CAS_ATTEMPTS; i++) {
    try {
      const done = await step();
      if (done !== undefined) return done;
    } catch (err) {
      if (!(err instanceof KvConflictError)) throw err;
    }
  }
  throw new ApiError(status.ABORTED, `${what}: too many concurrent writers; retry`);
}

export class RegistryCatalog {
  private constructor(
    private readonly versions: ProtoKv<AdapterVersion>,
    private readonly heads: ProtoKv<NameHead>,
    private readonly aliases: ProtoKv<Alias>,
  ) {}

  static async open(bus: Bus): Promise<RegistryCatalog> {
    return new RegistryCatalog(
      await bus.kv(ADAPTERS_BUCKET, { encode: AdapterVersion.toJSON, decode: AdapterVersion.fromJSON }),
      await bus.kv(ADAPTERS_BUCKET, { encode: (h: NameHead) => h, decode: (j) => headSchema.parse(j) }),
      await bus.kv(ADAPTERS_BUCKET, { encode: Alias.toJSON, decode: Alias.fromJSON }),
    );
  }

  /**
   * The version number of registration `sha` (content + lineage, see register-version.ts) of
   * `name`: the one it already has, or previous + 1, claimed atomically (concurrent registrations
   * never share a number).
   */
  async reserve(name: string, sha: string): Promise<{ version: number; existing: boolean }> {
    const key = `heads/${name}`;
    return casLoop(`reserve a version of ${name}`, async () => {
      const cur = await this.heads.get(key);
      const head = cur?.value ?? { latest: 0, bySha: {} };
      const known = head.bySha[sha];
      if (known !== undefined) return { version: known, existing: true };
      const version = head.latest + 1;
      const next = { latest: version, bySha: { ...head.bySha, [sha]: version } };
      if (cur) await this.heads.update(key, next, cur.revision);
      else await this.heads.create(key, next);
      return { version, existing: false };
    });
  }

  async get(name: string, version: number): Promise<{ value: AdapterVersion; revision: number } | null> {
    return this.versions.get(`versions/${name}/${version}`);
  }

  /** Creates the record; when it exists already (same content, another writer), returns that one. */
  async create(v: AdapterVersion): Promise<AdapterVersion> {
    const key = `versions/${v.name}/${v.version}`;
    try {
      await this.versions.create(key, v);
      return v;
    } catch (err) {
      if (!(err instanceof KvConflictError)) throw err;
      const existing = await this.versions.get(key);
      if (!existing) throw err;
      return existing.value;
    }
  }

  /** Read-modify-write of one version record (AttachEval). */
  async modify(name: string, version: number, fn: (v: AdapterVersion) => AdapterVersion): Promise<AdapterVersion> {
    const key = `versions/${name}/${version}`;
    return casLoop(`update ${versionId(name, version)}`, async () => {
      const cur = await this.versions.get(key);
      if (!cur) throw ApiError.notFound("version", versionId(name, version));
      const next = fn(cur.value);
      await this.versions.update(key, next, cur.revision);
      return next;
    });
  }

  async list(name?: string): Promise<AdapterVersion[]> {
    const all = await this.versions.values(name ? `versions/${name}/` : "versions/");
    return all.sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  }

  async setAlias(a: Alias): Promise<void> {
    await this.aliases.put(`aliases/${a.name}/${a.alias}`, a);
  }

  async getAlias(name: string, alias: string): Promise<Alias | null> {
    return (await this.aliases.get(`aliases/${name}/${alias}`))?.value ?? null;
  }

  async listAliases(name?: string): Promise<Alias[]> {
    return this.aliases.values(name ? `aliases/${name}/` : "aliases/");
  }

  /** Points "latest" at `version` unless it already points at a newer one (registrations may finish out of order). */
  async moveLatest(name: string, version: number): Promise<void> {
    const key = `aliases/${name}/${LATEST}`;
    const next: Alias = { name, alias: LATEST, versionId: versionId(name, version) };
    await casLoop(`move ${name}@${LATEST}`, async () => {
      const cur = await this.aliases.get(key);
      if (cur && parseVersionId(cur.value.versionId).version >= version) return true;
      if (cur) await this.aliases.update(key, next, cur.revision);
      else await this.aliases.create(key, next);
      return true;
    });
  }
}
