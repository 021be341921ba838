{{/* The prefix of every object's name: the release name, with "-modelport" unless it has it. */}}
{{- define "modelport.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The labels that select one component's pods: call with (dict "root" $ "component" "web"). */}}
{{- define "modelport.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels: the selector labels, the version and who manages it. */}}
{{- define "modelport.labels" -}}
{{ include "modelport.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "modelport.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The Secret the settings come from. */}}
{{- define "modelport.settingsSecret" -}}
{{- .Values.existingSecret | default (printf "%s-settings" (include "modelport.fullname" .)) -}}
{{- end -}}

{{/* The environment of every Modelport container: the settings Secret, then what the chart
decides (a variable in `env` wins over the same one from `envFrom`). */}}
{{- define "modelport.environment" -}}
envFrom:
  - secretRef:
      name: {{ include "modelport.settingsSecret" . }}
env:
  - name: MODELPORT_ORCHESTRATOR
    value: kubernetes
  # Tenant network policies admit the gateway's calls from this namespace.
  - name: MODELPORT_GATEWAY_NAMESPACE
    value: {{ .Release.Namespace }}
  {{- if .Values.postgresql.enabled }}
  - name: BUNDLED_POSTGRES_PASSWORD
    valueFrom:
      secretKeyRef:
        name: {{ include "modelport.fullname" . }}-postgresql
        key: password
  - name: DATABASE_URL
    value: postgres://modelport:$(BUNDLED_POSTGRES_PASSWORD)@{{ include "modelport.fullname" . }}-postgresql:5432/modelport
  {{- end }}
  {{- if .Values.redis.enabled }}
  - name: REDIS_URL
    value: redis://{{ include "modelport.fullname" . }}-redis:6379/0
  {{- end }}
{{- end -}}

{{/* Pod and container security of the Modelport pods (the image's user is 10001). The root
filesystem is read-only: /tmp and the data folder are emptyDir volumes. */}}
{{- define "modelport.podSecurityContext" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{- define "modelport.containerSecurityContext" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
{{- end -}}

{{- define "modelport.volumeMounts" -}}
volumeMounts:
  - name: tmp
    mountPath: /tmp
  - name: data
    mountPath: /var/lib/modelport
{{- end -}}

{{- define "modelport.volumes" -}}
volumes:
  - name: tmp
    emptyDir: {}
  - name: data
    emptyDir: {}
{{- end -}}
