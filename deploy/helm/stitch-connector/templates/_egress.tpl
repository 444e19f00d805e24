{{- define "sc.egress" -}}
- to:                                   # DNS: the cluster's resolver only
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: kube-system
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
- to:                                   # Stitch: public addresses, HTTPS only
    - ipBlock:
        cidr: 0.0.0.0/0
        except:
          - 0.0.0.0/8
          - 10.0.0.0/8
          - 100.64.0.0/10
          - 127.0.0.0/8
          - 169.254.0.0/16              # link-local: the cloud metadata address
          - 172.16.0.0/12
          - 192.168.0.0/16
    - ipBlock:
        cidr: ::/0
        except:
          - ::1/128
          - fc00::/7
          - fe80::/10
  ports:
    - port: 443
      protocol: TCP
{{- if .Values.browserPool.enabled }}
- to:                                   # the browser pool
    - podSelector:
        matchLabels:
          {{- include "sc.selector" (dict "root" . "component" "browser-pool") | nindent 10 }}
  ports:
    - port: {{ .Values.browserPool.port }}
      protocol: TCP
{{- end }}
{{- end -}}
