import type { V1Condition, V1EnvVar, V1Job, V1JobSpec, V1ObjectMeta } from "@kubernetes/client-node";

/** The JobSet API (sigs.k8s.io/jobset) as far as the launcher uses it. */
export const JOBSET_API_VERSION = "jobset.x-k8s.io/v1alpha2";
export interface JobSet {
  apiVersion: typeof JOBSET_API_VERSION;
  kind: "JobSet";
  metadata: V1ObjectMeta;
  spec: {
    suspend?: boolean;
    ttlSecondsAfterFinished?: number;
    network: { enableDNSHostnames: boolean; publishNotReadyAddresses: boolean };
    failurePolicy: { maxRestarts: number };
    successPolicy: { operator: "All"; targetReplicatedJobs: string[] };
    replicatedJobs: { name: string; replicas: number; template: { metadata?: V1ObjectMeta; spec: V1JobSpec } }[];
  };
  status?: { conditions?: V1Condition[] };
}

/** torchrun's default rendezvous port on node 0. */
export const RENDEZVOUS_PORT = 29500;
/** The one replicated Job of a stage; its pods are the nodes, rank = completion index. */
const NODES_JOB = "node";

/**
 * A stage larger than one node, on JobSet: the trainer Job becomes one replicated Job of `nodes` indexed pods,
 * each with the template's GPUs. Every pod gets torchrun's rendezvous environment (the runtime's launcher
 * reads it, see services/runtime/mambalign_runtime/launch.py): PET_NNODES, PET_NODE_RANK from the pod's
 * completion index, PET_MASTER_ADDR = pod 0's name in the JobSet's headless service
 * (<jobset>-node-0-0.<jobset>), PET_MASTER_PORT and PET_NPROC_PER_NODE (= MAMBALIGN_TRAINER_GPUS).
 * Any pod failing restarts the whole set (every rank must rejoin), up to the Job's backoffLimit times; the
 * stage is done when node 0 (index 0) succeeds.
 */
export function multiNodeJobSet(job: V1Job, nodes: number, port = RENDEZVOUS_PORT): JobSet {
  if (!Number.isInteger(nodes) || nodes < 2) throw new RangeError(`nodes must be an integer >= 2, got ${nodes}`);
  const { suspend, ttlSecondsAfterFinished, backoffLimit, ...jobSpec } = structuredClone(job.spec!);
  const pod = jobSpec.template.spec!;
  const [trainer, ...others] = pod.containers;
  const gpus = trainer!.env?.find((e) => e.name === "MAMBALIGN_TRAINER_GPUS")?.value ?? "1";
  const fieldRef = (fieldPath: string): V1EnvVar["valueFrom"] => ({ fieldRef: { fieldPath } });
  const rendezvous: V1EnvVar[] = [
    { name: "JOBSET_NAME", valueFrom: fieldRef("metadata.labels['jobset.sigs.k8s.io/jobset-name']") },
    { name: "PET_NNODES", value: String(nodes) },
    { name: "PET_NODE_RANK", valueFrom: fieldRef("metadata.annotations['batch.kubernetes.io/job-completion-index']") },
    { name: "PET_MASTER_ADDR", value: `$(JOBSET_NAME)-${NODES_JOB}-0-0.$(JOBSET_NAME)` },
    { name: "PET_MASTER_PORT", value: String(port) },
    { name: "PET_NPROC_PER_NODE", value: gpus },
  ];
  const names = new Set(rendezvous.map((e) => e.name));
  pod.containers = [
    {
      ...trainer!,
      env: [...(trainer!.env ?? []).filter((e) => !names.has(e.name)), ...rendezvous],
      ports: [...(trainer!.ports ?? []), { name: "rendezvous", containerPort: port }],
    },
    ...others,
  ];
  const meta = job.metadata!;
  return {
    apiVersion: JOBSET_API_VERSION,
    kind: "JobSet",
    metadata: { generateName: meta.generateName, labels: meta.labels, annotations: meta.annotations },
    spec: {
      ...(suspend !== undefined ? { suspend } : {}),
      ...(ttlSecondsAfterFinished !== undefined ? { ttlSecondsAfterFinished } : {}),
      network: { enableDNSHostnames: true, publishNotReadyAddresses: true },
      failurePolicy: { maxRestarts: backoffLimit ?? 0 },
      successPolicy: { operator: "All", targetReplicatedJobs: [NODES_JOB] },
      replicatedJobs: [
        {
          name: NODES_JOB,
          replicas: 1,
          template: {
            metadata: { labels: meta.labels },
            spec: {
              ...jobSpec,
              parallelism: nodes,
              completions: nodes,
              completionMode: "Indexed",
              backoffLimit: 0,
              // Node 0's success is the stage's (it uploaded and registered); other pods still running end
              // then, e.g. followers of a merge, which node 0 runs alone.
              successPolicy: { rules: [{ succeededIndexes: "0" }] },
            },
          },
        },
      ],
    },
  };
}
