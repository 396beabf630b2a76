// `mambalign adapters list|show|alias`: the registry's versions with their lineage.
import { AdapterVersion, Alias, callUnary } from "@mambalign/core";
import type { CliIo } from "../cli-io.js";
import { type OutputFormat, printData } from "../output-format.js";
import { versionDetails, versionRef, versionsTable } from "../adapters-format.js";
import { registryClient } from "../clients.js";

export async function listVersions(addr: string, name = ""): Promise<AdapterVersion[]> {
  const client = registryClient(addr);
  try {
    return (await callUnary(client.listVersions.bind(client), { name })).versions;
  } finally {
    client.close();
  }
}

export async function adaptersListCommand(io: CliIo, addr: string, opts: { name?: string; output: OutputFormat }): Promise<number> {
  const versions = await listVersions(addr, opts.name ?? "");
  printData(io, opts.output, versions.map((v) => AdapterVersion.toJSON(v)), () => (versions.length ? versionsTable(versions) : "no versions registered yet"));
  return 0;
}

export async function adaptersShowCommand(io: CliIo, addr: string, id: string, output: OutputFormat): Promise<number> {
  const client = registryClient(addr);
  try {
    const { version } = await callUnary(client.getVersion.bind(client), { id });
    // Ancestors are looked up one by one so the lineage line names every step.
    const byId = new Map<string, AdapterVersion>([[version!.id, version!]]);
    for (let p = version!.parent; p && !byId.has(p); ) {
      const parent = (await callUnary(client.getVersion.bind(client), { id: p })).version!;
      byId.set(p, parent);
      p = parent.parent;
    }
    printData(io, output, AdapterVersion.toJSON(version!), () => versionDetails(version!, byId));
    return 0;
  } finally {
    client.close();
  }
}

export async function adaptersAliasCommand(io: CliIo, addr: string, name: string, alias: string, version: string, output: OutputFormat): Promise<number> {
  const client = registryClient(addr);
  try {
    const res = await callUnary(client.setAlias.bind(client), { name, alias, versionId: versionRef(name, version) });
    printData(io, output, Alias.toJSON(res.alias!), () => `${res.alias!.name}@${res.alias!.alias} -> ${res.alias!.versionId}`);
    return 0;
  } finally {
    client.close();
  }
}
