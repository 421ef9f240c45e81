{{/* Chart name, shortened to 63 characters (DNS label). */}}
{{- define "pg-gitops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects: `<release>-<chart>`, or the release name alone when it
already contains the chart name; shortened to 63 characters.
*/}}
{{- define "pg-gitops.fullname" -}}
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

{{/* `<chart>-<version>` for the helm.sh/chart label. */}}
{{- define "pg-gitops.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "pg-gitops.labels" -}}
helm.sh/chart: {{ include "pg-gitops.chart" . }}
{{ include "pg-gitops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the release's pods (never change them: selectors are immutable). */}}
{{- define "pg-gitops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pg-gitops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount the pods run as. */}}
{{- define "pg-gitops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pg-gitops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Container image reference. */}}
{{- define "pg-gitops.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* Lease name and namespace for leader election. */}}
{{- define "pg-gitops.leaseName" -}}
{{- .Values.leaderElection.leaseName | default (include "pg-gitops.fullname" .) }}
{{- end }}
{{- define "pg-gitops.leaseNamespace" -}}
{{- .Values.leaderElection.namespace | default .Release.Namespace }}
{{- end }}

{{/* The one namespace the service watches (`config.reconcile.namespace`); empty: all. */}}
{{- define "pg-gitops.watchNamespace" -}}
{{- dig "reconcile" "namespace" "" (.Values.config | default dict) }}
{{- end }}

{{/*
The rules of every namespaced API call the service makes (docs/chart.md has the table): a
ClusterRole's rules cluster-wide, a Role's in namespaced mode.
*/}}
{{- define "pg-gitops.rules" -}}
# The desired state. create/patch: the sync stage server-side applies manifests from Git;
# delete only with prune.
- apiGroups: ["gitops.kubedb.com"]
  resources: ["postgreses"]
  verbs: ["get", "list", "watch", "create", "patch"{{ if .Values.prune }}, "delete"{{ end }}]
- apiGroups: ["gitops.kubedb.com"]
  resources: ["postgreses/status"]
  verbs: ["patch"]
# The live databases: provisioned (create) and patched; never deleted by pg-gitops.
- apiGroups: ["kubedb.com"]
  resources: ["postgreses"]
  verbs: ["get", "list", "watch", "create", "patch"]
# One OpsRequest per step; KubeDB's ops-manager runs it.
- apiGroups: ["ops.kubedb.com"]
  resources: ["postgresopsrequests"]
  verbs: ["get", "list", "watch", "create"]
# Events for every step (kube-runtime's recorder creates, then patches repeats).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* The version catalog (cluster-scoped), for version checks: read only. */}}
{{- define "pg-gitops.catalogRules" -}}
# The version catalog, for version checks.
- apiGroups: ["catalog.kubedb.com"]
  resources: ["postgresversions"]
  verbs: ["get", "list", "watch"]
{{- end }}

{{/* Mount points of the files the service reads. */}}
{{- define "pg-gitops.configDir" -}}/etc/pg-gitops{{- end }}
{{- define "pg-gitops.gitAuthDir" -}}/etc/pg-gitops/git{{- end }}
{{- define "pg-gitops.webhookDir" -}}/etc/pg-gitops/webhooks{{- end }}

{{/* The webhook receivers the service knows, and the config.toml key of each one's secret file. */}}
{{- define "pg-gitops.webhookConfigKeys" -}}
github: github_secret_file
gitlab: gitlab_token_file
gitea: gitea_secret_file
bitbucket: bitbucket_secret_file
generic: generic_secret_file
{{- end }}

{{/*
Files of the git credentials Secret for `git.auth.method`, as YAML: config.toml key -> Secret key.
*/}}
{{- define "pg-gitops.gitAuthFiles" -}}
{{- $method := .Values.git.auth.method | default "none" }}
{{- if eq $method "token" }}
token_file: token
{{- else if eq $method "basic" }}
username_file: username
password_file: password
{{- else if eq $method "ssh" }}
ssh_key_file: identity
known_hosts_file: known_hosts
{{- if .Values.git.auth.sshPassphrase }}
ssh_passphrase_file: passphrase
{{- end }}
{{- end }}
{{- end }}

{{/*
Checks values that the templates cannot express; fails rendering with a message naming the
value to change. Included by every template that depends on them.
*/}}
{{- define "pg-gitops.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount is %d but leaderElection.enabled is false: without leader election every replica would write to the cluster. Set leaderElection.enabled=true, or replicaCount=1." (int .Values.replicaCount)) }}
{{- end }}
{{- if lt (int .Values.replicaCount) 0 }}
{{- fail "replicaCount must not be negative" }}
{{- end }}
{{- $method := .Values.git.auth.method | default "none" }}
{{- if not (has $method (list "none" "token" "basic" "ssh")) }}
{{- fail (printf "git.auth.method is %q: use none, token, basic or ssh" $method) }}
{{- end }}
{{- if and (ne $method "none") (not .Values.git.auth.existingSecret) }}
{{- fail (printf "git.auth.method is %q but git.auth.existingSecret is empty: name the Secret holding the credentials" $method) }}
{{- end }}
{{- if and (eq $method "none") .Values.git.auth.existingSecret }}
{{- fail "git.auth.existingSecret is set but git.auth.method is none: set git.auth.method to token, basic or ssh" }}
{{- end }}
{{- $known := include "pg-gitops.webhookConfigKeys" . | fromYaml }}
{{- if .Values.webhook.enabled }}
{{- range $provider, $key := .Values.webhook.providers }}
{{- if not (hasKey $known $provider) }}
{{- fail (printf "webhook.providers.%s: unknown provider; use github, gitlab, gitea, bitbucket or generic" $provider) }}
{{- end }}
{{- if not $key }}
{{- fail (printf "webhook.providers.%s: name the key of webhook.existingSecret that holds its secret" $provider) }}
{{- end }}
{{- end }}
{{- if and .Values.webhook.providers (not .Values.webhook.existingSecret) }}
{{- fail "webhook.providers is set but webhook.existingSecret is empty: name the Secret holding the webhook secrets" }}
{{- end }}
{{- if and .Values.webhook.ingress.enabled (not .Values.webhook.providers) }}
{{- fail "webhook.ingress.enabled is true but webhook.providers is empty: no receiver would answer" }}
{{- end }}
{{- else if .Values.webhook.ingress.enabled }}
{{- fail "webhook.ingress.enabled is true but webhook.enabled is false" }}
{{- end }}
{{- $config := .Values.config | default dict }}
{{- range $section, $keys := dict "source" (list "url" "branch" "path" "work_dir" "auth") "server" (list "listen" "webhooks") "reconcile" (list "prune") }}
{{- $table := get $config $section }}
{{- if $table }}
{{- if not (kindIs "map" $table) }}
{{- fail (printf "config.%s must be a table (map)" $section) }}
{{- end }}
{{- range $keys }}
{{- if hasKey $table . }}
{{- fail (printf "config.%s.%s is set by the chart; use %s instead" $section . (get (dict "url" "git.url" "branch" "git.branch" "path" "git.path" "work_dir" "nothing (the checkout lives in the emptyDir at /tmp)" "auth" "git.auth.*" "listen" "service.port" "webhooks" "webhook.*" "prune" "the top-level value prune") .)) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if hasKey $config "leader_election" }}
{{- fail "config.leader_election is set by the chart; use leaderElection.* instead" }}
{{- end }}
{{- if .Values.podDisruptionBudget.enabled }}
{{- if and (not .Values.podDisruptionBudget.maxUnavailable) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable (%d) is not below replicaCount (%d): no pod could ever be evicted, so node drains would hang. Raise replicaCount (with leaderElection.enabled) or lower minAvailable." (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The service's configuration: `.Values.config` plus the keys the chart owns, as a dict with
config.toml's structure.
*/}}
{{- define "pg-gitops.configDict" -}}
{{- $config := deepCopy (.Values.config | default dict) }}
{{- $source := get $config "source" | default dict }}
{{- if .Values.git.url }}
{{- $_ := set $source "url" .Values.git.url }}
{{- if not (hasKey $source "kind") }}
{{- $_ := set $source "kind" "git" }}
{{- end }}
{{- else if not (hasKey $source "kind") }}
{{- $_ := set $source "kind" "cluster" }}
{{- end }}
{{- if .Values.git.branch }}
{{- $_ := set $source "branch" .Values.git.branch }}
{{- end }}
{{- if .Values.git.path }}
{{- $_ := set $source "path" .Values.git.path }}
{{- end }}
{{- $_ := set $source "work_dir" "/tmp/pg-gitops/source" }}
{{- $auth := dict }}
{{- $dir := include "pg-gitops.gitAuthDir" . }}
{{- range $key, $file := include "pg-gitops.gitAuthFiles" . | fromYaml }}
{{- $_ := set $auth $key (printf "%s/%s" $dir $file) }}
{{- end }}
{{- if $auth }}
{{- $_ := set $source "auth" $auth }}
{{- end }}
{{- $_ := set $config "source" $source }}
{{- $webhooks := dict }}
{{- if .Values.webhook.enabled }}
{{- $keys := include "pg-gitops.webhookConfigKeys" . | fromYaml }}
{{- $dir := include "pg-gitops.webhookDir" . }}
{{- range $provider, $_ := .Values.webhook.providers }}
{{- $_ := set $webhooks (get $keys $provider) (printf "%s/%s" $dir $provider) }}
{{- end }}
{{- end }}
{{- $server := get $config "server" | default dict }}
{{- $_ := set $server "listen" (printf "0.0.0.0:%d" (int .Values.service.port)) }}
{{- if $webhooks }}
{{- $_ := set $server "webhooks" $webhooks }}
{{- end }}
{{- $_ := set $config "server" $server }}
{{- $reconcile := get $config "reconcile" | default dict }}
{{- $_ := set $reconcile "prune" (.Values.prune | default false) }}
{{- $_ := set $config "reconcile" $reconcile }}
{{- $election := dict "enabled" (.Values.leaderElection.enabled | default false) "lease_name" (include "pg-gitops.leaseName" .) "lease_namespace" (include "pg-gitops.leaseNamespace" .) }}
{{- with .Values.leaderElection.leaseDuration }}
{{- $_ := set $election "lease_duration" . }}
{{- end }}
{{- $_ := set $config "leader_election" $election }}
{{- toYaml $config }}
{{- end }}

{{/*
TOML for a table: the scalar keys first, then each sub-table as `[path]`. Strings are written
as JSON strings (valid TOML basic strings), whole numbers without a fraction, lists inline.
Argument: dict "table" <map> "path" <dotted path of the table, "" at the top>.
*/}}
{{- define "pg-gitops.tomlTable" -}}
{{- $table := .table }}
{{- $path := .path }}
{{- range $key := keys $table | sortAlpha }}
{{- $value := get $table $key }}
{{- if not (kindIs "map" $value) }}
{{ $key }} = {{ include "pg-gitops.tomlValue" $value }}
{{- end }}
{{- end }}
{{- range $key := keys $table | sortAlpha }}
{{- $value := get $table $key }}
{{- if kindIs "map" $value }}
{{- $sub := ternary $key (printf "%s.%s" $path $key) (eq $path "") }}

[{{ $sub }}]
{{- include "pg-gitops.tomlTable" (dict "table" $value "path" $sub) }}
{{- end }}
{{- end }}
{{- end }}

{{- define "pg-gitops.tomlValue" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ ternary "true" "false" . }}
{{- else if or (kindIs "float64" .) (kindIs "float32" .) }}
{{- if eq (float64 (int64 .)) (float64 .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else if or (kindIs "int" .) (kindIs "int64" .) }}{{ . }}
{{- else if kindIs "slice" . }}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "pg-gitops.tomlValue" $v }}{{ end }}]
{{- /* An inline table: an array of them is how config.notify.commit_status and webhook render. */}}
{{- else if kindIs "map" . }}{ {{- $map := . }}{{ range $i, $k := keys . | sortAlpha }}{{ if $i }},{{ end }} {{ $k }} = {{ include "pg-gitops.tomlValue" (get $map $k) }}{{ end }} }
{{- else if kindIs "invalid" . }}{{ fail "config: a null value cannot be written to TOML; leave the key out instead" }}
{{- else }}{{ fail (printf "config: cannot write a %s to TOML" (kindOf .)) }}
{{- end }}
{{- end }}

{{/* config.toml as mounted into the pod. */}}
{{- define "pg-gitops.configToml" -}}
# Rendered by the pg-gitops Helm chart from its values; every key is documented in the
# repository's config.toml. Edit the release's values, not this ConfigMap.
{{- include "pg-gitops.tomlTable" (dict "table" (include "pg-gitops.configDict" . | fromYaml) "path" "") }}
{{ end }}

{{/*
The window of the PgGitopsSourceNotSyncing alert: prometheusRule.sourceStaleAfter, or
prometheusRule.sourceStalePolls poll intervals (config.source.poll_interval, default 60s) as
seconds. A poll interval Helm cannot read (e.g. "1m 30s") needs sourceStaleAfter.
*/}}
{{- define "pg-gitops.sourceStaleAfter" -}}
{{- $rule := .Values.prometheusRule -}}
{{- if $rule.sourceStaleAfter -}}
{{- $rule.sourceStaleAfter -}}
{{- else -}}
{{- $poll := "60s" -}}
{{- with .Values.config.source }}{{ with .poll_interval }}{{ $poll = toString . }}{{ end }}{{ end -}}
{{- $seconds := 0 -}}
{{- if regexMatch "^[0-9]+$" $poll -}}
{{- $seconds = atoi $poll -}}
{{- else if regexMatch "^[0-9]+s$" $poll -}}
{{- $seconds = atoi (trimSuffix "s" $poll) -}}
{{- else if regexMatch "^[0-9]+m$" $poll -}}
{{- $seconds = mul (atoi (trimSuffix "m" $poll)) 60 -}}
{{- else if regexMatch "^[0-9]+h$" $poll -}}
{{- $seconds = mul (atoi (trimSuffix "h" $poll)) 3600 -}}
{{- else -}}
{{- fail (printf "config.source.poll_interval %q is not a plain number of seconds, minutes or hours: set prometheusRule.sourceStaleAfter (a Prometheus duration such as 10m)" $poll) -}}
{{- end -}}
{{- printf "%ds" (mul $seconds (int $rule.sourceStalePolls)) -}}
{{- end -}}
{{- end }}
