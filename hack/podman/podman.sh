#!/usr/bin/env bash
# Runs podman with the project's settings (hack/podman/containers.conf), installing podman and
# runc from Debian when missing. The shims in hack/podman/bin (docker, podman) exec this script,
# so kpt (KPT_FN_RUNTIME=podman) and kustomize's container functions (which call docker) get the
# same settings with that directory first on PATH.
#   hack/podman/podman.sh images
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
if [[ -n "${HOURGLASS_PODMAN_STORAGE:-}" ]]; then
  # e.g. HOURGLASS_PODMAN_STORAGE=vfs where overlay mounts are refused.
  export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$here/storage-$HOURGLASS_PODMAN_STORAGE.conf}
fi

# The real podman: the first on PATH that is not one of the shims.
real=""
IFS=: read -ra dirs <<<"$PATH"
for d in "${dirs[@]}"; do
  if [[ "$(cd "$d" 2>/dev/null && pwd)" != "$here/bin" && -x "$d/podman" ]]; then real=$d/podman; break; fi
done
if [[ -z "$real" || ! -x /usr/sbin/runc && ! -x /usr/bin/runc ]]; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "podman.sh: podman and runc are missing; install them (Debian: apt-get install podman runc)" >&2
    exit 1
  fi
  echo "podman.sh: installing podman and runc (apt-get) ..." >&2
  { apt-get install -y --no-install-recommends podman runc || { apt-get update && apt-get install -y --no-install-recommends podman runc; }; } >&2
  real=$(command -v podman)
fi
exec "$real" "$@"
