#!/usr/bin/env bash
# Builds the pinned local control plane (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, etcd, helm, kwok, kwokctl) from Go modules and prints the folder that holds them.
#
# The binaries are cached outside the repo under a key made of every pin (the go.mod/go.sum files
# and this script), so they are rebuilt only when a pin changes. KUBEBUILDER_ASSETS (envtest's
# convention) is honoured: the binaries found there are used instead of building them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kube_version=v1.35.4
recipe=1  # bump when the way the binaries are built changes (flags, ldflags), so caches are rebuilt
cache_root=${JOBWIRE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/jobwire}
key=$( (cat "$here"/controlplane/go.mod "$here"/controlplane/go.sum "$here"/kwok/go.mod "$here"/kwok/go.sum;
  echo "$kube_version $recipe") | sha256sum | cut -c1-12)
out=$cache_root/controlplane/$kube_version-$key/bin

log() { printf 'controlplane: %s\n' "$*" >&2; }

want=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd helm kwok kwokctl)
have_all() { local d=$1 b; for b in "${want[@]}"; do [ -x "$d/$b" ] || return 1; done; }

if [ -z "${JOBWIRE_SKIP_ENVTEST:-}" ] && [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  # envtest ships kube-apiserver, etcd and kubectl; build only what it lacks, next to a link farm.
  farm=$cache_root/controlplane/envtest-$key/bin
  mkdir -p "$farm"
  for b in "${want[@]}"; do
    [ -x "$KUBEBUILDER_ASSETS/$b" ] && ln -sf "$KUBEBUILDER_ASSETS/$b" "$farm/$b"
  done
  if have_all "$farm"; then echo "$farm"; exit 0; fi
  have_all "$out" || JOBWIRE_SKIP_ENVTEST=1 "${BASH_SOURCE[0]}" >/dev/null
  for b in "${want[@]}"; do [ -e "$farm/$b" ] || ln -sf "$out/$b" "$farm/$b"; done
  echo "$farm"; exit 0
fi

if have_all "$out"; then echo "$out"; exit 0; fi

command -v go >/dev/null || { log "Go is needed to build the control plane (https://go.dev/dl); none found"; exit 1; }
mkdir -p "$out.tmp"
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export CGO_ENABLED=0 GOFLAGS=-mod=mod

kv() {  # the -X flags that make /version and `kubectl version` tell the truth
  local major minor
  major=$(echo "$kube_version" | sed -E 's/^v([0-9]+)\..*/\1/')
  minor=$(echo "$kube_version" | sed -E 's/^v[0-9]+\.([0-9]+)\..*/\1/')
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=%s -X %s.gitMinor=%s -X %s.gitTreeState=clean -X %s.buildDate=%s ' \
      "$p" "$kube_version" "$p" "$major" "$p" "$minor" "$p" "$p" "$build_date"
  done
}

build() {  # build <module dir> <binary name> <package> [ldflags]
  local dir=$1 name=$2 pkg=$3 flags=${4:-}
  [ -x "$out/$name" ] && return 0
  log "building $name ($pkg)"
  (cd "$here/$dir" && go build -trimpath -ldflags "-s -w $flags" -o "$out.tmp/$name" "$pkg")
  mv "$out.tmp/$name" "$out/$name"
}

mkdir -p "$out"
start=$(date +%s)
log "downloading modules"
(cd "$here/controlplane" && go mod download) && (cd "$here/kwok" && go mod download)
helm_version=$(cd "$here/controlplane" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
kwok_version=$(cd "$here/kwok" && go list -m -f '{{.Version}}' sigs.k8s.io/kwok)
build controlplane kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$(kv)"
build controlplane kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$(kv)"
build controlplane kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$(kv)"
build controlplane kubectl k8s.io/kubernetes/cmd/kubectl "$(kv)"
build controlplane etcd go.etcd.io/etcd/server/v3
build controlplane helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$helm_version"
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}"
build kwok kwokctl sigs.k8s.io/kwok/cmd/kwokctl "-X sigs.k8s.io/kwok/pkg/consts.Version=${kwok_version#v}"
rmdir "$out.tmp" 2>/dev/null || true
log "built in $(( $(date +%s) - start ))s into $out"
echo "$out"
