// The `datasets` KV bucket: `<id>` -> DatasetVersion, `name.<name>` -> latest id of that name.
import { type Bus, DatasetVersion, KvConflictError, type ProtoKv } from "@mambalign/core";
import { z } from "zod";

export const DATASETS_BUCKET = "datasets";
const ID_RE = /^[0-9a-f]{64}$/;
const NAME_PREFIX = "name.";

const pointer = z.object({ id: z.string().regex(ID_RE) });

export class DatasetCatalog {
  private constructor(
    private readonly versions: ProtoKv<DatasetVersion>,
    private readonly names: ProtoKv<string>,
  ) {}

  static async open(bus: Bus): Promise<DatasetCatalog> {
    const versions = await bus.kv(DATASETS_BUCKET, { encode: DatasetVersion.toJSON, decode: DatasetVersion.fromJSON });
    const names = await bus.kv(DATASETS_BUCKET, { encode: (id: string) => ({ id }), decode: (j) => pointer.parse(j).id });
    return new DatasetCatalog(versions, names);
  }

  async get(id: string): Promise<DatasetVersion | null> {
    return (await this.versions.get(id))?.value ?? null;
  }

  /** Records a version; when another writer recorded the same id first, returns theirs (same content). */
  async create(v: DatasetVersion): Promise<DatasetVersion> {
    try {
      await this.versions.create(v.id, v);
      return v;
    } catch (err) {
      if (!(err instanceof KvConflictError)) throw err;
      const existing = await this.get(v.id);
      if (!existing) throw err;
      return existing;
    }
  }

  async setLatest(name: string, id: string): Promise<void> {
    await this.names.put(NAME_PREFIX + name, id);
  }

  async latestId(name: string): Promise<string | null> {
    return (await this.names.get(NAME_PREFIX + name))?.value ?? null;
  }

  /** Every version, newest first. */
  async list(): Promise<DatasetVersion[]> {
    const ids = (await this.versions.keys()).filter((k) => ID_RE.test(k));
    const all = (await Promise.all(ids.map((id) => this.get(id)))).filter((v): v is DatasetVersion => v !== null);
    return all.sort((a, b) => (b.createdAt?.getTime() ?? 0) - (a.createdAt?.getTime() ?? 0) || a.id.localeCompare(b.id));
  }
}

export function isDatasetId(s: string): boolean {
  return ID_RE.test(s);
}
