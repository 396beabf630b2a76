// Checks a PrepareDatasetRequest before anything is read or written; errors name the field.
import { ApiError, DatasetKind, datasetKindToJSON, type ObjectStore, type PrepareDatasetRequest, validateName } from "@mambalign/core";
import { locateSource, type SourceLocation } from "./read-source.js";

export interface ResolvedSource {
  uri: string;
  /** 0 < fraction <= 1 (the request's 0 means 1). */
  fraction: number;
  field: string;
  location: SourceLocation;
}

export interface PrepareParams {
  sources: ResolvedSource[];
  /** UNSPECIFIED: detected from the first row that has a known shape. */
  kind: DatasetKind;
  testFraction: number;
  seed: number;
  name: string;
  /** Hub splits to read; null = the service's defaults for the kind (train_sft/test_sft, ...). */
  splits: string[] | null;
}

export function resolvePrepareRequest(store: ObjectStore, req: PrepareDatasetRequest): PrepareParams {
  if (req.name !== "") validateName(req.name);
  if (req.sources.length === 0) {
    throw ApiError.invalidArgument("sources", "give at least one source (local path, s3:// URI or Hub dataset id)");
  }
  if (
    req.kind !== DatasetKind.DATASET_KIND_UNSPECIFIED &&
    req.kind !== DatasetKind.DATASET_KIND_SFT &&
    req.kind !== DatasetKind.DATASET_KIND_PREFERENCE
  ) {
    throw ApiError.invalidArgument("kind", `unknown dataset kind ${datasetKindToJSON(req.kind)}; use SFT or PREFERENCE`);
  }
  if (!Number.isFinite(req.testFraction) || req.testFraction < 0 || req.testFraction >= 1) {
    throw ApiError.invalidArgument("test_fraction", `must be in [0, 1), got ${req.testFraction}`);
  }
  const seen = new Set<string>();
  const sources = req.sources.map((s, i): ResolvedSource => {
    const field = `sources[${i}]`;
    if (!Number.isFinite(s.fraction) || s.fraction < 0 || s.fraction > 1) {
      throw ApiError.invalidArgument(`${field}.fraction`, `must be in [0, 1] (0 means 1), got ${s.fraction}`);
    }
    if (seen.has(s.uri)) throw ApiError.invalidArgument(`${field}.uri`, `${s.uri} is listed twice`);
    seen.add(s.uri);
    return { uri: s.uri, fraction: s.fraction === 0 ? 1 : s.fraction, field, location: locateSource(store, s.uri, `${field}.uri`) };
  });
  // Split names become parts of Hub file paths: the same rule as dataset names keeps them plain.
  req.splits.forEach((split, i) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(split)) {
      throw ApiError.invalidArgument(`splits[${i}]`, `invalid split name ${JSON.stringify(split)} (letters, digits, . _ -)`);
    }
  });
  const splits = req.splits.length > 0 ? [...req.splits] : null;
  return { sources, kind: req.kind, testFraction: req.testFraction, seed: req.seed, name: req.name, splits };
}
