{{/* One account's resources are named <release>-<account>-<component>. */}}
{{- define "sc.base" -}}
{{- printf "%s-%s" .root.Release.Name .account.name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "sc.labels" -}}
app.kubernetes.io/name: stitch-connector
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .account }}
stitch-connector/account: {{ .name }}
{{- end }}
{{- end -}}

{{- define "sc.selector" -}}
app.kubernetes.io/name: stitch-connector
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .account }}
stitch-connector/account: {{ .name }}
{{- end }}
{{- end -}}

{{/* Account names are unique, and the service's Secret is there when the service is. */}}
{{- define "sc.check" -}}
{{- $seen := dict -}}
{{- range .Values.accounts -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "accounts: %q is listed twice; each account needs its own entry, PVC and state" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- if and $.Values.serve.enabled (not .serviceSecret) -}}
{{- fail (printf "accounts[%s]: serve.enabled needs serviceSecret (keys tokens, callback-secret)" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod every component of one account runs: the image's non-root user, a read-only root,
     no capabilities, RuntimeDefault seccomp; credentials as mounted files; its own PVC. */}}
{{- define "sc.pod" -}}
{{- $root := .root -}}
{{- $account := .account -}}
automountServiceAccountToken: false   # it never talks to the Kubernetes API
# The pause container becomes PID 1: it reaps Chromium's orphaned processes, and SIGTERM reaches
# stitch-connector (a process that is PID 1 ignores it).
shareProcessNamespace: true
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001                      # the PVC and the secret files are group 10001
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: stitch-connector
    image: {{ printf "%s:%s" $root.Values.image.repository $root.Values.image.tag | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    args: {{ toJson .args }}
    {{- if .serve }}
    ports:
      - name: http
        containerPort: {{ $root.Values.serve.port }}
        protocol: TCP
    {{- end }}
    env:
      - name: STITCH_BASE_URL
        value: {{ $account.baseUrl | quote }}
      - name: STITCH_EMAIL_FILE
        value: /run/secrets/stitch/email
      - name: STITCH_PASSWORD_FILE
        value: /run/secrets/stitch/password
      - name: STITCH_TOTP_SECRET_FILE
        value: /run/secrets/stitch/totp-secret
      - name: STITCH_STATE_DIR
        value: /var/lib/stitch-connector
      {{- if $root.Values.browserPool.enabled }}
      - name: STITCH_BROWSER_WS_ENDPOINT
        value: {{ printf "ws://%s-browser-pool:%v/" ($root.Release.Name | trunc 40 | trimSuffix "-") $root.Values.browserPool.port | quote }}
      {{- end }}
      {{- if .serve }}
      - name: STITCH_SERVICE_TOKENS_FILE
        value: /run/secrets/stitch-service/tokens
      - name: STITCH_CALLBACK_SECRET_FILE
        value: /run/secrets/stitch-service/callback-secret
      - name: STITCH_CALLBACK_HOSTS
        value: {{ $root.Values.serve.callbackHosts | quote }}
      {{- end }}
      {{- range $name, $value := $account.env }}
      - name: {{ $name }}
        value: {{ $value | quote }}
      {{- end }}
    {{- if .serve }}
    # Liveness: the process answers (/healthz, no token); never tied to Stitch being up.
    livenessProbe:
      httpGet:
        path: /healthz
        port: http
      initialDelaySeconds: 10
      periodSeconds: 20
      timeoutSeconds: 5
      failureThreshold: 3
    # Readiness: /readyz with the `probe` token read from the mounted Secret file.
    readinessProbe:
      exec:
        command:
          - python3
          - -c
          - |
            import sys, urllib.request
            entries = open("/run/secrets/stitch-service/tokens").read().split(",")
            token = [e.strip().split(":", 2)[2] for e in entries if e.strip().startswith("probe:")][0]
            ask = urllib.request.Request("http://127.0.0.1:{{ $root.Values.serve.port }}/readyz", headers={"Authorization": "Bearer " + token})
            try:
                urllib.request.urlopen(ask, timeout=55).close()
            except Exception as exc:
                sys.exit(f"/readyz: {exc}")
      initialDelaySeconds: 15
      periodSeconds: 60
      timeoutSeconds: 60
      failureThreshold: 3
    {{- end }}
    # No CPU limit: a throttled Chromium turns into step timeouts (exit 7 or 8). With the browser
    # pool, Chromium runs there and this pod needs far less memory.
    resources:
      requests:
        cpu: 250m
        memory: {{ ternary "256Mi" "768Mi" $root.Values.browserPool.enabled }}
        ephemeral-storage: 256Mi
      limits:
        memory: {{ ternary "512Mi" "1536Mi" $root.Values.browserPool.enabled }}
        ephemeral-storage: 1Gi
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      privileged: false
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: state
        mountPath: /var/lib/stitch-connector
      - name: tmp                     # Chromium's profile and Playwright's files
        mountPath: /tmp
      - name: credentials
        mountPath: /run/secrets/stitch
        readOnly: true
      {{- if .serve }}
      - name: service-secrets
        mountPath: /run/secrets/stitch-service
        readOnly: true
      {{- end }}
volumes:
  - name: state
    persistentVolumeClaim:
      claimName: {{ include "sc.base" . }}-state
  - name: tmp
    emptyDir:
      sizeLimit: 1Gi
  - name: credentials
    secret:
      secretName: {{ $account.credentialsSecret }}
      defaultMode: 0440               # root:10001 (fsGroup), read-only
  {{- if .serve }}
  - name: service-secrets
    secret:
      secretName: {{ $account.serviceSecret }}
      defaultMode: 0440
  {{- end }}
{{- end -}}
