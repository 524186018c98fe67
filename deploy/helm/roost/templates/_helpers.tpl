{{/* Names: the release name, shortened to fit Kubernetes' 63 characters. */}}
{{- define "roost.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "roost.labels" -}}
app.kubernetes.io/name: roost
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: api, sandbox-manager, postgresql, redis. */}}
{{- define "roost.selector" -}}
app.kubernetes.io/name: roost
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "roost.registry" -}}
{{- if .Values.image.registry -}}{{ .Values.image.registry | trimSuffix "/" }}/{{- end -}}
{{- end -}}

{{/* The platform image (API server). */}}
{{- define "roost.image" -}}
{{ include "roost.registry" . }}{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The -full image: Kubernetes client (sandbox manager) and the local model engine. */}}
{{- define "roost.fullImage" -}}
{{ include "roost.registry" . }}{{ .Values.image.repository }}:{{ .Values.image.fullTag | default (printf "%s-full" (.Values.image.tag | default .Chart.AppVersion)) }}
{{- end -}}

{{- define "roost.apiImage" -}}
{{- if and .Values.model.local.enabled (not .Values.model.spec) -}}
{{ include "roost.fullImage" . }}
{{- else -}}
{{ include "roost.image" . }}
{{- end -}}
{{- end -}}

{{- define "roost.secretName" -}}{{ include "roost.fullname" . }}-secrets{{- end -}}

{{- define "roost.sandboxNamespace" -}}
{{ .Values.sandbox.namespace | default (printf "%s-sandboxes" .Release.Namespace) }}
{{- end -}}

{{/* A value kept from the installed Secret (upgrades keep passwords), else a new one. */}}
{{- define "roost.keep" -}}
{{- $secret := lookup "v1" "Secret" .root.Release.Namespace (include "roost.secretName" .root) -}}
{{- if and $secret (index ($secret.data | default dict) .key) -}}
{{- index $secret.data .key -}}
{{- else -}}
{{- printf "%s%s" .prefix (randAlphaNum .length) | b64enc -}}
{{- end -}}
{{- end -}}

{{- define "roost.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "roost.containerSecurity" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment of the API server and its migration init container. */}}
{{- define "roost.apiEnv" -}}
- name: ROOST_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.adminKey.existingSecret | default (include "roost.secretName" .) }}
      key: {{ .Values.adminKey.key }}
{{- if .Values.postgresql.enabled }}
- name: ROOST_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "roost.secretName" . }}, key: POSTGRES_PASSWORD}
- name: ROOST_DATABASE_URL
  value: "postgresql+asyncpg://roost:$(ROOST_POSTGRES_PASSWORD)@{{ include "roost.fullname" . }}-postgresql:5432/roost"
{{- else if .Values.database.existingSecret }}
- name: ROOST_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.database.existingSecret }}, key: {{ .Values.database.key }}}
{{- end }}
{{- if .Values.redis.enabled }}
- name: ROOST_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "roost.secretName" . }}, key: REDIS_PASSWORD}
- name: ROOST_REDIS_URL
  value: "redis://:$(ROOST_REDIS_PASSWORD)@{{ include "roost.fullname" . }}-redis:6379/0"
{{- else if .Values.externalRedis.existingSecret }}
- name: ROOST_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.externalRedis.existingSecret }}, key: {{ .Values.externalRedis.key }}}
{{- end }}
{{- if .Values.sandbox.enabled }}
- name: ROOST_SANDBOX_URL
  value: "http://{{ include "roost.fullname" . }}-sandbox:8790"
- name: ROOST_SANDBOX_TOKEN
  valueFrom:
    secretKeyRef: {name: {{ include "roost.secretName" . }}, key: SANDBOX_TOKEN}
{{- end }}
{{- if .Values.model.spec }}
- name: ROOST_MODEL
  value: {{ .Values.model.spec | quote }}
{{- end }}
{{- if .Values.model.apiKeySecret.name }}
- name: {{ .Values.model.apiKeySecret.env }}
  valueFrom:
    secretKeyRef: {name: {{ .Values.model.apiKeySecret.name }}, key: {{ .Values.model.apiKeySecret.key }}}
{{- end }}
{{- range $name, $value := .Values.api.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{- define "roost.hpaVersion" -}}
{{- if .Capabilities.APIVersions.Has "autoscaling/v2" -}}autoscaling/v2{{- else -}}autoscaling/v2beta2{{- end -}}
{{- end -}}

{{- define "roost.pdbVersion" -}}
{{- if .Capabilities.APIVersions.Has "policy/v1" -}}policy/v1{{- else -}}policy/v1beta1{{- end -}}
{{- end -}}
