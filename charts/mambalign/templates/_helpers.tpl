{{/* Names ---------------------------------------------------------------- */}}

{{- define "mambalign.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mambalign.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>, the name of every object of a component. Call with (list $ "component"). */}}
{{- define "mambalign.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "mambalign.fullname" $root) (index . 1) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels ---------------------------------------------------------------- */}}

{{- define "mambalign.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "mambalign.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "mambalign.labels" -}}
{{- $root := index . 0 -}}
{{ include "mambalign.selectorLabels" . }}
app.kubernetes.io/part-of: mambalign
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Images ---------------------------------------------------------------- */}}

{{- define "mambalign.image" -}}
{{- $root := index . 0 -}}
{{- $img := index $root.Values.image (index . 1) -}}
{{- printf "%s:%s" $img.repository (default $root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Endpoints ------------------------------------------------------------- */}}

{{- define "mambalign.natsUrl" -}}
{{- if .Values.nats.bundled -}}
{{- printf "nats://%s.%s.svc:4222" (include "mambalign.componentName" (list . "nats")) .Release.Namespace -}}
{{- else -}}
{{- .Values.nats.external.url -}}
{{- end -}}
{{- end -}}

{{/* NATS users ------------------------------------------------------------- */}}

{{/* The bus users (services/core/src/bus/permissions.ts), each with its subject permissions. */}}
{{- define "mambalign.natsUsers" -}}
{{- list "datasets" "registry" "trainer" "evaluator" "pipeline" "kube" | toJson -}}
{{- end -}}

{{- define "mambalign.natsAuthSecretName" -}}
{{- .Values.nats.auth.existingSecret | default (include "mambalign.componentName" (list . "nats-users")) -}}
{{- end -}}

{{/* Env giving a process its own NATS user: (list $ "<user>"). */}}
{{- define "mambalign.natsAuthEnv" -}}
{{- $ := index . 0 -}}
{{- $user := index . 1 -}}
{{- if $.Values.nats.auth.enabled }}
- name: MAMBALIGN_NATS_USER
  value: {{ $user }}
- name: MAMBALIGN_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "mambalign.natsAuthSecretName" $ }}
      key: {{ $user }}
{{- end }}
{{- end -}}

{{- define "mambalign.natsMonitoringEndpoint" -}}
{{- if .Values.nats.bundled -}}
{{- printf "%s.%s.svc:8222" (include "mambalign.componentName" (list . "nats")) .Release.Namespace -}}
{{- else -}}
{{- .Values.nats.external.monitoringEndpoint -}}
{{- end -}}
{{- end -}}

{{- define "mambalign.s3Endpoint" -}}
{{- if .Values.minio.bundled -}}
{{- printf "http://%s.%s.svc:9000" (include "mambalign.componentName" (list . "minio")) .Release.Namespace -}}
{{- else -}}
{{- .Values.s3.external.endpoint -}}
{{- end -}}
{{- end -}}

{{/* Port of a URL (explicit, else the scheme's default). Call with (list url defaultPort). */}}
{{- define "mambalign.urlPort" -}}
{{- $u := urlParse (index . 0) -}}
{{- $hostPort := splitList ":" $u.host -}}
{{- if gt (len $hostPort) 1 -}}{{ last $hostPort }}{{- else if eq $u.scheme "https" -}}443{{- else if eq $u.scheme "http" -}}80{{- else -}}{{ index . 1 }}{{- end -}}
{{- end -}}

{{- define "mambalign.s3SecretName" -}}
{{- default (include "mambalign.componentName" (list . "s3")) .Values.s3.auth.existingSecret -}}
{{- end -}}

{{- define "mambalign.judgeSecretName" -}}
{{- default (include "mambalign.componentName" (list . "judge")) .Values.judge.auth.existingSecret -}}
{{- end -}}

{{- define "mambalign.hasJudgeSecret" -}}
{{- if or .Values.judge.auth.existingSecret .Values.judge.auth.apiKey -}}true{{- end -}}
{{- end -}}

{{/* Validation: contradictory values fail the render with the keys at fault. */}}
{{- define "mambalign.validate" -}}
{{- $v := .Values -}}
{{- if and (not $v.nats.bundled) (not $v.nats.external.url) -}}
{{- fail "nats.bundled=false requires nats.external.url (e.g. nats://nats.nats.svc:4222)" -}}
{{- end -}}
{{- if and $v.nats.bundled $v.nats.external.url -}}
{{- fail "nats.external.url is set but nats.bundled=true: set nats.bundled=false to use the external server" -}}
{{- end -}}
{{- if and (not $v.minio.bundled) (not $v.s3.external.endpoint) -}}
{{- fail "minio.bundled=false requires s3.external.endpoint (e.g. https://s3.us-east-1.amazonaws.com)" -}}
{{- end -}}
{{- if and $v.minio.bundled $v.s3.external.endpoint -}}
{{- fail "s3.external.endpoint is set but minio.bundled=true: set minio.bundled=false to use the external store" -}}
{{- end -}}
{{- if and $v.s3.auth.existingSecret (or $v.s3.auth.accessKeyId $v.s3.auth.secretAccessKey) -}}
{{- fail "s3.auth: set either existingSecret or accessKeyId/secretAccessKey, not both" -}}
{{- end -}}
{{- if and (not $v.s3.auth.existingSecret) (not (and $v.s3.auth.accessKeyId $v.s3.auth.secretAccessKey)) (not (include "mambalign.s3WorkloadIdentity" .)) -}}
{{- fail "s3.auth: set existingSecret, or both accessKeyId and secretAccessKey" -}}
{{- end -}}
{{- if and $v.judge.auth.existingSecret $v.judge.auth.apiKey -}}
{{- fail "judge.auth: set either existingSecret or apiKey, not both" -}}
{{- end -}}
{{- if not (has $v.trainer.mode (list "job" "pool")) -}}
{{- fail (printf "trainer.mode must be job or pool, got %q" $v.trainer.mode) -}}
{{- end -}}
{{- if not (has $v.trainer.gpu.preset (list "a100" "h100" "none")) -}}
{{- fail (printf "trainer.gpu.preset must be a100, h100 or none, got %q" $v.trainer.gpu.preset) -}}
{{- end -}}
{{- if lt (int $v.trainer.gpu.count) 1 -}}
{{- fail "trainer.gpu.count must be >= 1" -}}
{{- end -}}
{{- if lt (int $v.trainer.gpu.nodes) 1 -}}
{{- fail "trainer.gpu.nodes must be >= 1" -}}
{{- end -}}
{{- if and (gt (int $v.trainer.gpu.nodes) 1) (ne $v.trainer.mode "job") -}}
{{- fail "trainer.gpu.nodes > 1 needs trainer.mode=job (each stage is a JobSet created by the launcher)" -}}
{{- end -}}
{{- if le (int $v.trainer.terminationGracePeriodSeconds) (int $v.trainer.checkpointGraceSeconds) -}}
{{- fail (printf "trainer.terminationGracePeriodSeconds (%d) must exceed trainer.checkpointGraceSeconds (%d), or a preempted trainer is killed before its checkpoint is saved" (int $v.trainer.terminationGracePeriodSeconds) (int $v.trainer.checkpointGraceSeconds)) -}}
{{- end -}}
{{- if gt (int $v.trainer.pool.minReplicas) (int $v.trainer.pool.maxReplicas) -}}
{{- fail "trainer.pool.minReplicas must not exceed trainer.pool.maxReplicas" -}}
{{- end -}}
{{- if and $v.keda.enabled (ne $v.trainer.mode "pool") -}}
{{- fail "keda.enabled=true needs trainer.mode=pool (job mode is bounded by the launcher and Kueue)" -}}
{{- end -}}
{{- if and $v.keda.enabled (not (include "mambalign.natsMonitoringEndpoint" .)) -}}
{{- fail "keda.enabled=true with nats.bundled=false requires nats.external.monitoringEndpoint" -}}
{{- end -}}
{{- if and $v.nats.auth.enabled (not $v.nats.bundled) (not $v.nats.auth.existingSecret) -}}
{{- fail "nats.auth.enabled=true with nats.bundled=false requires nats.auth.existingSecret (the passwords your NATS server has for each service's user)" -}}
{{- end -}}
{{- if and $v.trainer.job.kueue.queueName (ne $v.trainer.mode "job") -}}
{{- fail "trainer.job.kueue.queueName is set but trainer.mode=pool: Kueue admits Jobs, so use trainer.mode=job" -}}
{{- end -}}
{{- end -}}

{{/* Environment ------------------------------------------------------------ */}}

{{/* Env every mambalign process gets: bus, store, credentials (from the Secret), log level. */}}
{{- define "mambalign.commonEnv" -}}
- name: MAMBALIGN_NATS_URL
  value: {{ include "mambalign.natsUrl" . | quote }}
- name: MAMBALIGN_STORE
  value: s3
- name: MAMBALIGN_S3_ENDPOINT
  value: {{ include "mambalign.s3Endpoint" . | quote }}
- name: MAMBALIGN_S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: MAMBALIGN_BUCKET
  value: {{ .Values.s3.bucket | quote }}
{{- include "mambalign.s3CredentialsEnv" . }}
- name: MAMBALIGN_GRPC_PORT
  value: "50051"
- name: MAMBALIGN_METRICS_PORT
  value: "9464"
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- range $svc := list "datasets" "registry" "evaluator" "pipeline" }}
- name: {{ printf "MAMBALIGN_%s_ADDR" (upper $svc) }}
  value: {{ printf "%s:50051" (include "mambalign.componentName" (list $ $svc)) | quote }}
{{- end }}
- name: TMPDIR
  value: /tmp
- name: HOME
  value: /tmp
{{- end -}}

{{/* Env of processes that run the Python runtime or download from the Hub. */}}
{{- define "mambalign.runtimeEnv" -}}
- name: MAMBALIGN_PYTHON
  value: python3
- name: HF_HOME
  value: {{ include "mambalign.hfHome" . }}
- name: TRITON_CACHE_DIR
  value: /tmp/triton
{{- if .Values.huggingface.auth.existingSecret }}
- name: HF_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.huggingface.auth.existingSecret }}
      key: {{ .Values.huggingface.auth.tokenKey }}
{{- end }}
{{- end -}}

{{/* The trainer's experiment trackers (recipe report_to; the runtime's trackers.py reads these). */}}
{{- define "mambalign.trackerEnv" -}}
{{- $w := .Values.trainer.trackers.wandb -}}
{{- $m := .Values.trainer.trackers.mlflow -}}
- name: WANDB_PROJECT
  value: {{ $w.project | quote }}
{{- with $w.baseUrl }}
- name: WANDB_BASE_URL
  value: {{ . | quote }}
{{- end }}
{{- if $w.apiKeySecret }}
- name: WANDB_API_KEY
  valueFrom:
    secretKeyRef:
      name: {{ $w.apiKeySecret }}
      key: {{ $w.apiKeyKey }}
{{- end }}
{{- with $m.trackingUri }}
- name: MLFLOW_TRACKING_URI
  value: {{ . | quote }}
{{- end }}
- name: MLFLOW_EXPERIMENT_NAME
  value: {{ $m.experiment | quote }}
{{- if $m.authSecret }}
{{- range list "MLFLOW_TRACKING_TOKEN" "MLFLOW_TRACKING_USERNAME" "MLFLOW_TRACKING_PASSWORD" }}
- name: {{ . }}
  valueFrom:
    secretKeyRef:
      name: {{ $m.authSecret }}
      key: {{ . }}
      optional: true
{{- end }}
{{- end }}
{{- end -}}

{{/* Security --------------------------------------------------------------- */}}

{{- define "mambalign.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "mambalign.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{/* GPU placement ---------------------------------------------------------- */}}

{{/* Accepted values of the GPU product label for the preset (or the override list). */}}
{{- define "mambalign.gpuProducts" -}}
{{- $gpu := .Values.trainer.gpu -}}
{{- $presets := dict
  "a100" (list "NVIDIA-A100-SXM4-80GB" "NVIDIA-A100-SXM4-40GB" "NVIDIA-A100-80GB-PCIe" "NVIDIA-A100-PCIE-40GB")
  "h100" (list "NVIDIA-H100-80GB-HBM3" "NVIDIA-H100-SXM5-80GB" "NVIDIA-H100-PCIe" "NVIDIA-H100-NVL")
  "none" (list) -}}
{{- toJson (default (index $presets $gpu.preset) $gpu.products) -}}
{{- end -}}

{{/* nodeSelector / affinity / tolerations of a GPU pod. */}}
{{- define "mambalign.gpuPlacement" -}}
{{- $gpu := .Values.trainer.gpu -}}
{{- $products := include "mambalign.gpuProducts" . | fromJsonArray -}}
{{- with .Values.trainer.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.trainer.affinity }}
affinity:
  {{- toYaml .Values.trainer.affinity | nindent 2 }}
{{- else if $products }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: {{ $gpu.productLabel }}
              operator: In
              values:
                {{- toYaml $products | nindent 16 }}
{{- end }}
{{- $tolerations := concat $gpu.tolerations .Values.trainer.tolerations }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod spec of a trainer (Job pod or pool worker). Call with (list $ maxJobs). */}}
{{- define "mambalign.trainerPodSpec" -}}
{{- $ := index . 0 -}}
{{- $maxJobs := index . 1 -}}
{{- $t := $.Values.trainer -}}
serviceAccountName: {{ include "mambalign.componentName" (list $ "trainer") }}
automountServiceAccountToken: false
terminationGracePeriodSeconds: {{ $t.terminationGracePeriodSeconds }}
{{- with $.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "mambalign.podSecurityContext" $ | nindent 2 }}
{{- include "mambalign.gpuPlacement" $ }}
containers:
  - name: trainer
    image: {{ include "mambalign.image" (list $ "trainer") }}
    imagePullPolicy: {{ $.Values.image.trainer.pullPolicy }}
    command: ["node", "services/trainer/dist/main.js"]
    env:
      {{- include "mambalign.commonEnv" $ | nindent 6 }}
      {{- include "mambalign.natsAuthEnv" (list $ "trainer") | nindent 6 }}
      {{- include "mambalign.runtimeEnv" $ | nindent 6 }}
      {{- include "mambalign.trackerEnv" $ | nindent 6 }}
      {{- include "mambalign.authEnv" (list $ "trainer") | nindent 6 }}
      - name: MAMBALIGN_WORK_DIR
        value: /var/lib/mambalign/work
      - name: MAMBALIGN_TRAINER_MAX_JOBS
        value: {{ $maxJobs | quote }}
      # Every GPU the pod requests gets a training process (the runtime's --nproc).
      - name: MAMBALIGN_TRAINER_GPUS
        value: {{ $t.gpu.count | quote }}
      - name: MAMBALIGN_CHECKPOINT_GRACE_S
        value: {{ $t.checkpointGraceSeconds | quote }}
      {{- with $t.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    {{- include "mambalign.envFrom" $t | nindent 4 }}
    ports:
      - name: metrics
        containerPort: 9464
    resources:
      {{- $res := deepCopy $t.resources }}
      {{- $limits := merge (dict "nvidia.com/gpu" (toString $t.gpu.count)) (default (dict) $res.limits) }}
      {{- $_ := set $res "limits" $limits }}
      {{- toYaml $res | nindent 6 }}
    securityContext:
      {{- include "mambalign.containerSecurityContext" $ | nindent 6 }}
    volumeMounts:
      - { name: tmp, mountPath: /tmp }
      - { name: work, mountPath: /var/lib/mambalign/work }
      - { name: dshm, mountPath: /dev/shm }
      {{- include "mambalign.authVolumeMounts" $ | nindent 6 }}
      {{- include "mambalign.modelCacheMount" $ | nindent 6 }}
      {{- include "mambalign.extraVolumeMounts" $t | nindent 6 }}
volumes:
  - name: tmp
    emptyDir: {}
  - name: work
    emptyDir:
      sizeLimit: {{ $t.workDirSizeLimit }}
  - name: dshm
    emptyDir:
      medium: Memory
      sizeLimit: {{ $t.shmSizeLimit }}
  {{- include "mambalign.authVolumes" $ | nindent 2 }}
  {{- include "mambalign.modelCacheVolume" $ | nindent 2 }}
  {{- include "mambalign.extraVolumes" $t | nindent 2 }}
{{- end -}}

{{/* The trainer Job the launcher creates per queued stage (rendered into a ConfigMap as JSON). */}}
{{- define "mambalign.trainerJob" -}}
{{- $j := .Values.trainer.job -}}
apiVersion: batch/v1
kind: Job
metadata:
  generateName: {{ include "mambalign.componentName" (list . "trainer") }}-
  labels:
    {{- include "mambalign.labels" (list . "trainer-job") | nindent 4 }}
    {{- with $j.kueue.queueName }}
    kueue.x-k8s.io/queue-name: {{ . }}
    {{- end }}
spec:
  {{- if $j.kueue.queueName }}
  # Created suspended: Kueue unsuspends it once the queue's quota admits all its GPUs at once.
  suspend: true
  {{- end }}
  backoffLimit: {{ $j.backoffLimit }}
  ttlSecondsAfterFinished: {{ $j.ttlSecondsAfterFinished }}
  {{- if gt (int $j.activeDeadlineSeconds) 0 }}
  activeDeadlineSeconds: {{ $j.activeDeadlineSeconds }}
  {{- end }}
  # Preemption, node drain or eviction is not the trainer's failure: it checkpointed on SIGTERM and
  # the replacement pod resumes, without using up backoffLimit.
  podFailurePolicy:
    rules:
      - action: Ignore
        onPodConditions:
          - type: DisruptionTarget
            status: "True"
  template:
    metadata:
      labels:
        {{- include "mambalign.labels" (list . "trainer-job") | nindent 8 }}
        mambalign.io/trainer: "true"
      {{- include "mambalign.podAnnotations" (list . .Values.trainer (dict)) | nindent 6 }}
    spec:
      restartPolicy: Never
      {{- with $j.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      {{- include "mambalign.trainerPodSpec" (list . "1") | nindent 6 }}
{{- end -}}

{{/* NetworkPolicies -------------------------------------------------------- */}}

{{/* Pods of this release (any component). */}}
{{- define "mambalign.releasePeer" -}}
- podSelector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
A policy for one component. Call with a dict:
  root, component, podSelector (map), ingress (list of rules),
  nats, s3, grpc, https, kubeApi, trainerPeers (bools: which egress it needs).
DNS egress is always allowed.
*/}}
{{- define "mambalign.networkPolicy" -}}
{{- $ := .root -}}
{{- $np := $.Values.networkPolicy -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "mambalign.componentName" (list $ .component) }}
  labels:
    {{- include "mambalign.labels" (list $ .component) | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- toYaml .podSelector | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    {{- if .ingress }}
    {{- toYaml .ingress | nindent 4 }}
    {{- else }} []
    {{- end }}
  egress:
    - ports:
        - { protocol: UDP, port: 53 }
        - { protocol: TCP, port: 53 }
    {{- if .nats }}
    {{- if $.Values.nats.bundled }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "mambalign.selectorLabels" (list $ "nats") | nindent 14 }}
      ports:
        - { protocol: TCP, port: 4222 }
    {{- else }}
    - to:
        {{- range $np.externalCidrs }}
        - ipBlock: { cidr: {{ . }} }
        {{- end }}
      ports:
        - { protocol: TCP, port: {{ include "mambalign.urlPort" (list $.Values.nats.external.url "4222") }} }
    {{- end }}
    {{- end }}
    {{- if .s3 }}
    {{- if $.Values.minio.bundled }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "mambalign.selectorLabels" (list $ "minio") | nindent 14 }}
      ports:
        - { protocol: TCP, port: 9000 }
    {{- else }}
    - to:
        {{- range $np.externalCidrs }}
        - ipBlock: { cidr: {{ . }} }
        {{- end }}
      ports:
        - { protocol: TCP, port: {{ include "mambalign.urlPort" (list $.Values.s3.external.endpoint "443") }} }
    {{- end }}
    {{- if include "mambalign.s3WorkloadIdentity" $ }}
    {{- include "mambalign.podIdentityAgentEgress" $ | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- if .grpc }}
    - to:
        {{- include "mambalign.releasePeer" $ | nindent 8 }}
      ports:
        - { protocol: TCP, port: 50051 }
    {{- end }}
    {{- if and .https $np.allowHttpsEgress }}
    - to:
        - ipBlock: { cidr: 0.0.0.0/0 }
      ports:
        - { protocol: TCP, port: 443 }
    {{- end }}
    {{- if and .trackers $.Values.trainer.trackers.mlflow.trackingUri }}
    # report_to mlflow: the tracking server of trainer.trackers.mlflow.trackingUri (a recipe naming another one needs extraEgress).
    - to:
        {{- range $np.externalCidrs }}
        - ipBlock: { cidr: {{ . }} }
        {{- end }}
      ports:
        - { protocol: TCP, port: {{ include "mambalign.urlPort" (list $.Values.trainer.trackers.mlflow.trackingUri "443") }} }
    {{- end }}
    {{- if .kubeApi }}
    - to:
        {{- range $np.kubeApiServerCidrs }}
        - ipBlock: { cidr: {{ . }} }
        {{- end }}
      ports:
        {{- range $np.kubeApiServerPorts }}
        - { protocol: TCP, port: {{ . }} }
        {{- end }}
    {{- end }}
    {{- if .trainerPeers }}
    # Multi-node stages: torchrun's rendezvous and the collectives (NCCL/gloo pick their ports) between trainer pods.
    - to:
        - podSelector:
            matchLabels: { app.kubernetes.io/instance: {{ $.Release.Name }}, mambalign.io/trainer: "true" }
    {{- end }}
    {{- with $np.extraEgress }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end -}}
