{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "blobmark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "blobmark.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "blobmark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "blobmark.labels" -}}
helm.sh/chart: {{ include "blobmark.chart" . }}
{{ include "blobmark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "blobmark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "blobmark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "blobmark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "blobmark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "blobmark.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* "true" when a PostgreSQL database is configured, "" for embedded SQLite. */}}
{{- define "blobmark.postgres" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* Name of the Secret holding the database URL. */}}
{{- define "blobmark.databaseSecretName" -}}
{{- default (include "blobmark.fullname" .) .Values.database.existingSecret }}
{{- end }}

{{/* Name of the Secret holding the secret key. */}}
{{- define "blobmark.secretKeySecretName" -}}
{{- default (include "blobmark.fullname" .) .Values.secretKey.existingSecret }}
{{- end }}

{{/* "true" when the chart has its own Secret to render. */}}
{{- define "blobmark.ownSecret" -}}
{{- if or (and .Values.database.url (not .Values.database.existingSecret)) (and .Values.secretKey.value (not .Values.secretKey.existingSecret)) }}true{{ end }}
{{- end }}

{{/* "true" when the secret key comes from a Secret (the chart's or an existing one). */}}
{{- define "blobmark.hasSecretKey" -}}
{{- if or .Values.secretKey.value .Values.secretKey.existingSecret }}true{{ end }}
{{- end }}

{{/* API replica count: explicit, else 2 on PostgreSQL and 1 on SQLite. */}}
{{- define "blobmark.replicas" -}}
{{- if kindIs "invalid" .Values.replicaCount }}
{{- if include "blobmark.postgres" . }}2{{ else }}1{{ end }}
{{- else }}
{{- .Values.replicaCount | int }}
{{- end }}
{{- end }}

{{/*
Settings that would start a broken deployment fail the render, with the fix
in the message, instead of failing at runtime on some replica.
*/}}
{{- define "blobmark.validate" -}}
{{- $pg := include "blobmark.postgres" . }}
{{- if and (not $pg) (gt (include "blobmark.replicas" . | int) 1) }}
{{- fail "embedded SQLite runs exactly one replica: set replicaCount to 1, or configure PostgreSQL with database.url or database.existingSecret" }}
{{- end }}
{{- if and .Values.database.azureAuth (not $pg) }}
{{- fail "database.azureAuth needs database.url (or database.existingSecret) naming the Azure Database for PostgreSQL server and the Entra role, without a password" }}
{{- end }}
{{- if and $pg (not (include "blobmark.hasSecretKey" .)) }}
{{- fail "with PostgreSQL every replica must share one secret key: set secretKey.value (openssl rand -base64 32) or secretKey.existingSecret" }}
{{- end }}
{{- if and .Values.worker.enabled (not $pg) }}
{{- fail "worker.enabled needs PostgreSQL: workers take jobs from the shared database queue" }}
{{- end }}
{{- if and .Values.noJobs (not $pg) }}
{{- fail "noJobs needs PostgreSQL and worker replicas: on SQLite the one replica must run the jobs" }}
{{- end }}
{{- if and .Values.workloadIdentity.enabled (not .Values.workloadIdentity.clientId) }}
{{- fail "workloadIdentity.enabled needs workloadIdentity.clientId, the client id of the user-assigned managed identity" }}
{{- end }}
{{- if and .Values.workloadIdentity.enabled (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "workloadIdentity.enabled with serviceAccount.create=false needs serviceAccount.name: the federated credential names that service account" }}
{{- end }}
{{- end }}

{{/* Pod labels shared by the API and worker pods. */}}
{{- define "blobmark.podLabels" -}}
{{- if .Values.workloadIdentity.enabled }}
azure.workload.identity/use: "true"
{{- end }}
{{- with .Values.podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Environment shared by the API and worker containers. */}}
{{- define "blobmark.env" -}}
envFrom:
  - configMapRef:
      name: {{ include "blobmark.fullname" . }}
{{- if or (include "blobmark.postgres" .) (include "blobmark.hasSecretKey" .) }}
env:
{{- if include "blobmark.postgres" . }}
  - name: BLOBMARK_DATABASE_URL
    valueFrom:
      secretKeyRef:
        name: {{ include "blobmark.databaseSecretName" . }}
        key: {{ .Values.database.existingSecretKey }}
{{- end }}
{{- if include "blobmark.hasSecretKey" . }}
  - name: BLOBMARK_SECRET_KEY
    valueFrom:
      secretKeyRef:
        name: {{ include "blobmark.secretKeySecretName" . }}
        key: {{ .Values.secretKey.existingSecretKey }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by the API and worker pods. */}}
{{- define "blobmark.podSpecCommon" -}}
serviceAccountName: {{ include "blobmark.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
{{- end }}

{{/* Annotations that roll the pods when their configuration changes. */}}
{{- define "blobmark.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
