{{/* Names, labels and the operator's RBAC rules, shared by the templates. */}}

{{- define "jobwire.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jobwire.fullname" -}}
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

{{/* Cluster-scoped objects are shared by every namespace: their names carry the release's namespace too. */}}
{{- define "jobwire.clusterName" -}}
{{- printf "%s-%s" (include "jobwire.fullname" .) .Release.Namespace | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jobwire.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "jobwire.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jobwire.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jobwire.labels" -}}
helm.sh/chart: {{ include "jobwire.chart" . }}
{{ include "jobwire.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jobwire
{{- end }}

{{- define "jobwire.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "jobwire.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "jobwire.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The leader election's Lease, in the release's namespace: one per release. */}}
{{- define "jobwire.leaseName" -}}
{{- default (printf "%s-leader" (include "jobwire.fullname" .)) .Values.leaderElection.leaseName | trunc 253 }}
{{- end }}

{{/*
Leader election (operator/jobwire/leader/lease.py), in a Role of the release's namespace only: never a Lease
anywhere else, and only the one Lease by name once it exists.
*/}}
{{- define "jobwire.leaderElectionRules" -}}
# The first replica creates the Lease. RBAC cannot limit create to a name (the object does not exist yet).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
# Then every replica reads it (who leads, and since when), the leader renews it and releases it at a clean stop,
# and a follower takes it over when it expires: get and update (PUT with the resourceVersion read) of this one
# Lease. No list, watch, patch or delete.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ include "jobwire.leaseName" . | quote }}]
  verbs: ["get", "update"]
{{- end }}

{{- define "jobwire.clusterWide" -}}
{{- if eq .Values.watch.scope "cluster" }}true{{ end }}
{{- end }}

{{/* The watched namespaces as a JSON list (fromJsonArray), without duplicates; the release's when none given. */}}
{{- define "jobwire.namespaces" -}}
{{- if .Values.watch.namespaces }}
{{- .Values.watch.namespaces | uniq | toJson }}
{{- else }}
{{- list .Release.Namespace | toJson }}
{{- end }}
{{- end }}

{{/*
The operator's rules, the same in a namespace's Role and in the cluster-wide ClusterRole: exactly the calls the
code makes (operator/jobwire/kube/ and its callers) and those Kopf makes for the handlers in handlers/.
*/}}
{{- define "jobwire.rules" -}}
# The four kinds. Kopf lists and watches them (handlers/); the status writer (kube/status.py) and the Job
# tracker's target resolver get one before writing its status; Automations list the producers they suspend
# or resume by label (controllers/automations.py).
- apiGroups: ["jobwire.io"]
  resources: ["schedules", "sensors", "webhooks", "automations"]
  verbs: ["get", "list", "watch"]
# Automations patch spec.suspend of Schedules, Sensors, Webhooks and Automations in their own namespace (Kopf
# itself writes no marks: every kind is followed through raw watch events).
- apiGroups: ["jobwire.io"]
  resources: ["schedules", "sensors", "webhooks", "automations"]
  verbs: ["patch"]
# Status: the status writer replaces it with the resourceVersion it read (PUT, optimistic concurrency);
# Kopf merge-patches the results of its handlers (observedGeneration, the Ready condition) into it.
- apiGroups: ["jobwire.io"]
  resources: ["schedules/status", "sensors/status", "webhooks/status", "automations/status"]
  verbs: ["update", "patch"]
{{- if .Values.jobs.impersonate }}
# Jobs: get one when create answers AlreadyExists (the exactly-once path); list a producer's Jobs for its
# concurrency policy and watch them by label (Kopf, jobs/tracker.py). Creating and deleting them (and the event
# ConfigMap) is done as the namespace's own ServiceAccount, below — never with the operator's rights.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch"]
# Impersonation (jobs.impersonate): Jobs are created and deleted as these ServiceAccounts of the resource's
# namespace, so a namespace gets only the Jobs its own RBAC allows. By name only.
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["impersonate"]
  resourceNames: {{ include "jobwire.runnerAccounts" . }}
{{- else }}
# Jobs: create one per event (and a server-side dry run of the jobTemplate, which needs create too); get it
# when create answers AlreadyExists (the exactly-once path); list the producer's Jobs for its concurrency
# policy and watch them by label (Kopf, jobs/tracker.py); delete under concurrencyPolicy Replace and when the
# history limits drop finished Jobs. Never update or patch.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
# ConfigMaps: create only, the event of a Job too large for an environment variable, owned by that Job (the
# garbage collector deletes it with the Job).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create"]
{{- end }}
# Secrets: get only, by the name a resource's secretRef gives, in that resource's namespace (webhook auth,
# Sensor source credentials, Automation notification URLs). Never list or watch: no Secret is cached beyond
# a few seconds (kube/secrets.py).
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Events on Jobwire's resources (JobCreated, RunSkipped, ...: kube/events.py). Create only.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- with .Values.rbac.extraRules }}
# rbac.extraRules: reads for the Sensor kubernetes source, granted by whoever installed the chart.
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The ServiceAccount names the operator may impersonate: the default one and jobs.serviceAccounts (JSON). */}}
{{- define "jobwire.runnerAccounts" -}}
{{- prepend .Values.jobs.serviceAccounts .Values.jobs.defaultServiceAccount | uniq | toJson }}
{{- end }}

{{/* Namespaces that get the default runner ServiceAccount (JSON list). */}}
{{- define "jobwire.runnerNamespaces" -}}
{{- if .Values.jobs.runnerNamespaces }}
{{- .Values.jobs.runnerNamespaces | uniq | toJson }}
{{- else if include "jobwire.clusterWide" . }}
{{- list | toJson }}
{{- else }}
{{- include "jobwire.namespaces" . }}
{{- end }}
{{- end }}
