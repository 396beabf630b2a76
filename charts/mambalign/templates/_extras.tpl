{{/* Operator extras every workload takes, the shared model cache and S3 workload identity. */}}

{{/* Pod annotations: the global podAnnotations, then the component's, then `extra` (a dict, may be empty).
Call with (list $ componentValues extra); renders nothing when there are none. */}}
{{- define "mambalign.podAnnotations" -}}
{{- $root := index . 0 -}}
{{- $c := index . 1 -}}
{{- $all := merge (deepCopy (index . 2)) (default (dict) $c.podAnnotations) (default (dict) $root.Values.podAnnotations) -}}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* envFrom of a component's container (call with its values); nothing when empty. */}}
{{- define "mambalign.envFrom" -}}
{{- with .envFrom }}
envFrom:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* List items appended to a container's volumeMounts / a pod's volumes (call with the component's values). */}}
{{- define "mambalign.extraVolumeMounts" -}}
{{- with .extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "mambalign.extraVolumes" -}}
{{- with .extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Model cache ------------------------------------------------------------ */}}

{{- define "mambalign.hfHome" -}}/var/lib/mambalign/hf-cache{{- end -}}

{{- define "mambalign.modelCacheClaim" -}}
{{- default (include "mambalign.componentName" (list . "model-cache")) .Values.modelCache.existingClaim -}}
{{- end -}}

{{/* Volume mount and volume of the Hugging Face cache (HF_HOME) in pods that run the runtime. */}}
{{- define "mambalign.modelCacheMount" -}}
- { name: hf-cache, mountPath: {{ include "mambalign.hfHome" . }} }
{{- end -}}

{{- define "mambalign.modelCacheVolume" -}}
- name: hf-cache
{{- if .Values.modelCache.enabled }}
  persistentVolumeClaim:
    claimName: {{ include "mambalign.modelCacheClaim" . }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.modelCache.size }}
{{- end }}
{{- end -}}

{{/* S3 credentials ---------------------------------------------------------- */}}

{{- define "mambalign.s3WorkloadIdentity" -}}
{{- if eq .Values.s3.auth.mode "workloadIdentity" -}}true{{- end -}}
{{- end -}}

{{/* Env giving a process its S3 credentials: static keys from the Secret, or workload identity (none). */}}
{{- define "mambalign.s3CredentialsEnv" -}}
{{- if include "mambalign.s3WorkloadIdentity" . }}
- name: MAMBALIGN_S3_AUTH
  value: workload-identity
# IRSA's token exchange goes to the regional STS endpoint of this region.
- name: AWS_REGION
  value: {{ .Values.s3.region | quote }}
{{- else }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "mambalign.s3SecretName" . }}
      key: {{ .Values.s3.auth.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "mambalign.s3SecretName" . }}
      key: {{ .Values.s3.auth.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* MinIO's root user, from minio.rootAuth's Secret (MinIO and the bucket-user Job only). */}}
{{- define "mambalign.minioRootEnv" -}}
- name: MINIO_ROOT_USER
  valueFrom:
    secretKeyRef:
      name: {{ .Values.minio.rootAuth.existingSecret }}
      key: MINIO_ROOT_USER
- name: MINIO_ROOT_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.minio.rootAuth.existingSecret }}
      key: MINIO_ROOT_PASSWORD
{{- end -}}

{{/* Annotations of a ServiceAccount whose pods use S3: serviceAccount.annotations plus the IRSA role. */}}
{{- define "mambalign.s3ServiceAccountAnnotations" -}}
{{- $a := deepCopy (default (dict) .Values.serviceAccount.annotations) -}}
{{- if and (include "mambalign.s3WorkloadIdentity" .) .Values.s3.auth.workloadIdentity.roleArn -}}
{{- $_ := set $a "eks.amazonaws.com/role-arn" .Values.s3.auth.workloadIdentity.roleArn -}}
{{- end -}}
{{- with $a }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Validation of these values (called from mambalign.validate's template). */}}
{{- define "mambalign.validateExtras" -}}
{{- $v := .Values -}}
{{- if and (include "mambalign.s3WorkloadIdentity" .) $v.minio.bundled -}}
{{- fail "s3.auth.mode=workloadIdentity needs minio.bundled=false and s3.external.endpoint: the bundled MinIO has no workload identity" -}}
{{- end -}}
{{- if and $v.minio.bundled (not $v.minio.rootAuth.existingSecret) -}}
{{- fail "minio.bundled=true needs minio.rootAuth.existingSecret (MinIO's root user)" -}}
{{- end -}}
{{- if and $v.minio.bundled (eq $v.minio.rootAuth.existingSecret (include "mambalign.s3SecretName" .)) -}}
{{- fail "minio.rootAuth.existingSecret must not be the services' S3 Secret (s3.auth.existingSecret): services get a bucket-scoped user, never MinIO's root" -}}
{{- end -}}
{{- if and $v.s3.auth.workloadIdentity.roleArn (not (include "mambalign.s3WorkloadIdentity" .)) -}}
{{- fail "s3.auth.workloadIdentity.roleArn is set but s3.auth.mode=keys: set s3.auth.mode=workloadIdentity" -}}
{{- end -}}
{{- end -}}

{{/* Egress to the EKS Pod Identity agent on the node (link-local; IRSA's STS calls go out on 443). */}}
{{- define "mambalign.podIdentityAgentEgress" -}}
- to:
    - ipBlock: { cidr: 169.254.170.23/32 }
    - ipBlock: { cidr: "fd00:ec2::23/128" }
  ports:
    - { protocol: TCP, port: 80 }
{{- end -}}
