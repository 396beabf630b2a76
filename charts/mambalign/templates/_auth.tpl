{{/* Authentication and TLS of the gRPC API (k8s/README.md, "Tokens" and "TLS"). */}}

{{/* Components that serve gRPC and call each other, each with its own token (an operator). */}}
{{- define "mambalign.tokenHolders" -}}
{{- toJson (list "pipeline" "datasets" "registry" "evaluator" "trainer") -}}
{{- end -}}

{{- define "mambalign.authSecretName" -}}
{{- default (include "mambalign.componentName" (list . "auth")) .Values.auth.existingSecret -}}
{{- end -}}

{{/* "true" when cert-manager issues the certificates: forced, or "auto" and its API is served. */}}
{{- define "mambalign.certManager" -}}
{{- $cm := toString .Values.tls.certManager.enabled -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) (or (eq $cm "true") (and (eq $cm "auto") (.Capabilities.APIVersions.Has "cert-manager.io/v1"))) -}}true{{- end -}}
{{- end -}}

{{- define "mambalign.tlsSecretName" -}}
{{- default (include "mambalign.componentName" (list . "tls")) .Values.tls.existingSecret -}}
{{- end -}}

{{/* DNS names every service's certificate covers: each Service (the dashboard's too: it serves HTTPS with it) in its short and long forms, and localhost (kubectl port-forward). */}}
{{- define "mambalign.tlsDnsNames" -}}
{{- $names := list "localhost" -}}
{{- range $svc := append (include "mambalign.tokenHolders" . | fromJsonArray) "dashboard" -}}
{{- $n := include "mambalign.componentName" (list $ $svc) -}}
{{- $names = concat $names (list $n (printf "%s.%s" $n $.Release.Namespace) (printf "%s.%s.svc" $n $.Release.Namespace) (printf "%s.%s.svc.cluster.local" $n $.Release.Namespace)) -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* Env of a gRPC server/client: who may call (tokens file, OIDC), its own token, TLS. Call with (list $ component). */}}
{{- define "mambalign.authEnv" -}}
{{- $ := index . 0 -}}
{{- $component := index . 1 -}}
{{- $a := $.Values.auth -}}
- name: MAMBALIGN_TOKENS_FILE
  value: /etc/mambalign/auth/tokens.json
{{- /* The dashboard has no token of its own: it calls the API with each user's. */}}
{{- if has $component (include "mambalign.tokenHolders" $ | fromJsonArray) }}
- name: MAMBALIGN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "mambalign.authSecretName" $ }}
      key: {{ printf "token-%s" $component }}
{{- end }}
{{- if $a.oidc.issuer }}
- name: MAMBALIGN_OIDC_ISSUER
  value: {{ $a.oidc.issuer | quote }}
- name: MAMBALIGN_OIDC_AUDIENCE
  value: {{ $a.oidc.audience | quote }}
- name: MAMBALIGN_OIDC_JWKS_URL
  value: {{ $a.oidc.jwksUrl | quote }}
- name: MAMBALIGN_OIDC_ROLE_CLAIM
  value: {{ $a.oidc.roleClaim | quote }}
- name: MAMBALIGN_OIDC_NAME_CLAIM
  value: {{ $a.oidc.nameClaim | quote }}
{{- end }}
{{- if $.Values.tls.enabled }}
- name: MAMBALIGN_TLS_CERT
  value: /etc/mambalign/tls/tls.crt
- name: MAMBALIGN_TLS_KEY
  value: /etc/mambalign/tls/tls.key
- name: MAMBALIGN_CA
  value: /etc/mambalign/tls/ca.crt
{{- if $.Values.tls.mutual }}
- name: MAMBALIGN_TLS_CLIENT_AUTH
  value: require
{{- end }}
{{- else }}
# tls.enabled=false: plaintext on the pod network, for a mesh that encrypts it (Istio, Linkerd).
- name: MAMBALIGN_ALLOW_PLAINTEXT
  value: "true"
{{- end }}
{{- end -}}

{{/* Mounts of the tokens file and the TLS Secret (read-only). */}}
{{- define "mambalign.authVolumeMounts" -}}
- { name: auth, mountPath: /etc/mambalign/auth, readOnly: true }
{{- if .Values.tls.enabled }}
- { name: tls, mountPath: /etc/mambalign/tls, readOnly: true }
{{- end }}
{{- end -}}

{{/* Only tokens.json of the auth Secret is mounted: a pod sees no other component's token. */}}
{{- define "mambalign.authVolumes" -}}
- name: auth
  secret:
    secretName: {{ include "mambalign.authSecretName" . }}
    items:
      - { key: tokens.json, path: tokens.json }
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ include "mambalign.tlsSecretName" . }}
{{- end }}
{{- end -}}

{{- define "mambalign.validateAuth" -}}
{{- $v := .Values -}}
{{- if not (has (toString $v.tls.certManager.enabled) (list "auto" "true" "false")) -}}
{{- fail (printf "tls.certManager.enabled must be auto, true or false, got %q" (toString $v.tls.certManager.enabled)) -}}
{{- end -}}
{{- if and $v.tls.mutual (not $v.tls.enabled) -}}
{{- fail "tls.mutual=true needs tls.enabled=true" -}}
{{- end -}}
{{- if and $v.auth.existingSecret (or $v.auth.tokens $v.auth.bootstrapAdmin) -}}
{{- fail "auth.existingSecret is set: put the tokens in that Secret's tokens.json, and set auth.tokens=[] and auth.bootstrapAdmin=false" -}}
{{- end -}}
{{- if and $v.auth.oidc.issuer (not (and $v.auth.oidc.audience $v.auth.oidc.jwksUrl)) -}}
{{- fail "auth.oidc.issuer needs auth.oidc.audience and auth.oidc.jwksUrl" -}}
{{- end -}}
{{- range $i, $t := $v.auth.tokens -}}
{{- if not (and $t.name (has $t.role (list "viewer" "operator" "admin")) (regexMatch "^[0-9a-f]{64}$" (toString $t.sha256))) -}}
{{- fail (printf "auth.tokens[%d]: needs name, role (viewer|operator|admin) and sha256 (64 hex digits: the token's SHA-256, from `mambalign token new`, never the token)" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
