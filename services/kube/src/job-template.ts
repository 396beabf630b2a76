import { readFile } from "node:fs/promises";
import type { V1Job } from "@kubernetes/client-node";
import { ApiError, status } from "@mambalign/core";
import { JOBSET_API_VERSION, type JobSet, multiNodeJobSet } from "./multi-node.js";

/**
 * The trainer Job the launcher stamps out, one per queued stage. The chart renders it (GPU requests,
 * node placement, tolerations, Kueue label, podFailurePolicy, grace period) into a ConfigMap, so the
 * pod spec has one source of truth and the launcher stays policy-free.
 */
export interface JobTemplate {
  /** A batch/v1 Job, or a JobSet for stages larger than one node (`forNodes`). */
  job: V1Job | JobSet;
  /** Equality selector identifying the Jobs this launcher owns (from the template's labels). */
  selector: string;
}

/** The template for stages of `nodes` nodes: the Job itself for one, a JobSet of `nodes` pods beyond. */
export function forNodes(t: JobTemplate, nodes: number): JobTemplate {
  if (nodes === 1) return t;
  if (t.job.kind !== "Job") throw new JobTemplateError("only a Job template can be spread over nodes", "kind");
  return { ...t, job: multiNodeJobSet(t.job, nodes) };
}

const SELECTOR_LABELS = ["app.kubernetes.io/instance", "app.kubernetes.io/component"] as const;

export class JobTemplateError extends ApiError {
  override name = "JobTemplateError";
  constructor(message: string, key: string) {
    super(status.FAILED_PRECONDITION, message, { key });
  }
}

export function parseJobTemplate(text: string, source = "job template"): JobTemplate {
  let job: V1Job;
  try {
    job = JSON.parse(text) as V1Job;
  } catch (err) {
    throw new JobTemplateError(`${source} is not valid JSON: ${(err as Error).message}`, "");
  }
  if (job.apiVersion !== "batch/v1" || job.kind !== "Job") {
    throw new JobTemplateError(`${source}: apiVersion/kind must be batch/v1 Job, got ${job.apiVersion}/${job.kind}`, "kind");
  }
  if (!job.metadata?.generateName || job.metadata.name) {
    throw new JobTemplateError(`${source}: metadata.generateName is required and metadata.name must be unset`, "metadata.generateName");
  }
  const labels = job.metadata.labels ?? {};
  for (const l of SELECTOR_LABELS) {
    if (!labels[l]) throw new JobTemplateError(`${source}: metadata.labels["${l}"] is required`, `metadata.labels.${l}`);
  }
  if (!job.spec?.template?.spec?.containers?.length) {
    throw new JobTemplateError(`${source}: spec.template.spec.containers must not be empty`, "spec.template.spec.containers");
  }
  return { job, selector: SELECTOR_LABELS.map((l) => `${l}=${labels[l]}`).join(",") };
}

export async function loadJobTemplate(path: string): Promise<JobTemplate> {
  return parseJobTemplate(await readFile(path, "utf8"), path);
}

/** A fresh copy of the template in `namespace`, ready to create (the API server assigns the name). */
export function instantiate(t: JobTemplate, namespace: string): V1Job | JobSet {
  const job = structuredClone(t.job);
  job.metadata = { ...job.metadata, namespace };
  return job;
}

/** The collection path of the template's kind in `namespace` (for watches). */
export function collectionPath(t: JobTemplate, namespace: string): string {
  return t.job.kind === "JobSet"
    ? `/apis/${JOBSET_API_VERSION}/namespaces/${namespace}/jobsets`
    : `/apis/batch/v1/namespaces/${namespace}/jobs`;
}

/**
 * Job: Complete/Failed, or on the way there (FailureTarget/SuccessCriteriaMet: pods are only terminating).
 * JobSet: Completed/Failed.
 */
export function isFinished(job: V1Job | JobSet): boolean {
  const done = job.kind === "JobSet" ? ["Completed", "Failed"] : ["Complete", "Failed", "FailureTarget", "SuccessCriteriaMet"];
  return (job.status?.conditions ?? []).some((c) => c.status === "True" && done.includes(c.type));
}
