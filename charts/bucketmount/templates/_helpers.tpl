{{/* The CSI driver name is part of the protocol (CSIDriver object, PVs): not configurable. */}}
{{- define "bucketmount.driverName" -}}bucketmount.csi.io{{- end -}}

{{- define "bucketmount.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "bucketmount.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "bucketmount.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bucketmount.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "bucketmount.sidecarImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{- define "bucketmount.kubeletPath" -}}
{{- .Values.kubeletPath | trimSuffix "/" -}}
{{- end -}}

{{- define "bucketmount.pluginDir" -}}
{{- printf "%s/plugins/%s" (include "bucketmount.kubeletPath" .) (include "bucketmount.driverName" .) -}}
{{- end -}}

{{- define "bucketmount.sidecarSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- /* Driver flags shared by controller and node: log level and the S3 fallbacks. */ -}}
{{- define "bucketmount.commonArgs" -}}
- --log-level={{ .Values.logLevel }}
{{- with .Values.s3Defaults.endpoint }}
- --default-endpoint={{ . }}
{{- end }}
{{- with .Values.s3Defaults.region }}
- --default-region={{ . }}
{{- end }}
{{- if not (kindIs "invalid" .Values.s3Defaults.forcePathStyle) }}
- --default-force-path-style={{ .Values.s3Defaults.forcePathStyle }}
{{- end }}
{{- end -}}

{{- /* The fd keeper's socket: same host path in the keeper pod and in the node plugin (which sees it through its kubelet-dir mount). */ -}}
{{- define "bucketmount.fdKeeperDir" -}}
{{- printf "%s/keeper" (include "bucketmount.pluginDir" .) -}}
{{- end -}}

{{- define "bucketmount.fdKeeperSocket" -}}
{{- printf "%s/keeper.sock" (include "bucketmount.fdKeeperDir" .) -}}
{{- end -}}
