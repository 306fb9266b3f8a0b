#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, without Docker: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, with KWOK simulating the nodes (pods are scheduled
# for real and marked Running/Ready, but no container runs).
#
#   hack/local-cluster.sh up       start it (builds the binaries on first use), wait until ready
#   hack/local-cluster.sh up --real-node
#                                  the same plus a real node (kubelet, containerd, kube-proxy,
#                                  CoreDNS) beside the KWOK nodes; also HOURGLASS_REAL_NODE=1.
#                                  Needs root; see docs/real-node.md
#   hack/local-cluster.sh node-deps
#                                  install the Debian packages the real node runs where missing
#                                  (containerd, runc, CNI plugins, iptables, conntrack; root)
#   hack/local-cluster.sh load-image <OCI layout folder or tar> [repository]
#                                  import an image into the real node's containerd (repository
#                                  names it when the layout's ref.name is a bare tag)
#   hack/local-cluster.sh down     stop everything it started and remove its data (safe to repeat)
#   hack/local-cluster.sh env      print `export KUBECONFIG=...` for eval
#   hack/local-cluster.sh status   show the processes and the nodes
#   hack/local-cluster.sh restart <component> [--kill]
#                                  stop one component (etcd, kube-apiserver, ...; --kill: SIGKILL, a
#                                  crash) and start it again with the same command line and data,
#                                  then wait until it is healthy
#
# HOURGLASS_AUDIT=1 turns on the API server's audit log of every request, reads included, at the
# Metadata level (logs/audit.log). HOURGLASS_PROFILING=true serves the API server's CPU and heap
# profiles (kubectl get --raw '/debug/pprof/profile?seconds=10' > cpu.pb.gz).
# HOURGLASS_CLUSTER_DIR sets the state folder (default .local/cluster in the repository), so a demo
# cluster and a test cluster can run side by side: each picks free loopback ports at start.
# Layout: kubeconfig, pki/, logs/, pids/ (one "<pid> <executable>" file per process), etcd/.
# Other processes that belong to the cluster's life (the controller, Flux's controllers, the
# demo's Git server) drop a pid file in pids/ too; `down` stops them first.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${HOURGLASS_CLUSTER_DIR:-$ROOT/.local/cluster}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
KUBECONFIG_FILE=$STATE/kubeconfig
PKI=$STATE/pki
LOGS=$STATE/logs
PIDS=$STATE/pids
CONF=$STATE/config
# The control plane's own processes; anything else in pids/ is stopped before them.
COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
REAL_NODE=${HOURGLASS_REAL_NODE:-0}

START=$SECONDS
log() { printf '[local-cluster %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
die() { echo "local-cluster: $*" >&2; exit 1; }

# --- processes -------------------------------------------------------------------------------

# alive <pid file>: the pid is running and is still the executable that was started.
alive() {
  local pid exe
  [[ -f $1 ]] || return 1
  read -r pid exe <"$1" || true
  [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null || return 1
  [[ -z ${exe:-} || "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]]
}

# start <name> <binary> args...: runs detached (own session, so a terminal's Ctrl-C after `up`
# returned does not reach it), logging to logs/<name>.log.
start() {
  local name=$1 bin=$2 exe pid i; shift 2
  exe=$(readlink -f "$bin")
  setsid "$bin" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  pid=$!
  # setsid execs the binary in the same process, but not at once: until it has, the process is
  # still setsid, and alive() would take it for a stale pid. Wait for the exec (on a busy machine
  # it can take a while).
  for ((i = 0; i < 100; i++)); do
    [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == "$exe" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$pid $exe" >"$PIDS/$name.pid"
}

# stop <pid file>...: TERM to all at once, then wait (KILL after 10s); a stale pid file whose
# pid now belongs to another program is only removed.
stop() {
  local f pid exe i left
  local -a pids=() names=()
  for f in "$@"; do
    if alive "$f"; then
      read -r pid exe <"$f"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$(basename "$f" .pid)")
    fi
  done
  for ((i = 0; i < 100; i++)); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  ((${#names[@]} == 0)) || log "stopped ${names[*]}"
  rm -f "$@"
}

# wait_for <what> <seconds> <command...>: polls until the command succeeds; on timeout shows the log.
wait_for() {
  local what=$1 timeout=$2 logname=$3; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)); then
      echo "---- last lines of $LOGS/$logname.log ----" >&2
      tail -n 30 "$LOGS/$logname.log" >&2 || true
      die "$what not ready after ${timeout}s (logs in $LOGS)"
    fi
    if [[ -f $PIDS/$logname.pid ]] && ! alive "$PIDS/$logname.pid"; then
      echo "---- last lines of $LOGS/$logname.log ----" >&2
      tail -n 30 "$LOGS/$logname.log" >&2 || true
      die "$logname exited (logs in $LOGS)"
    fi
    sleep 0.3
  done
}

# --- ports -----------------------------------------------------------------------------------

# listening <port>: something accepts connections on 127.0.0.1:<port> (bash's /dev/tcp, no tools).
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_ok <port> <path>: a plain-HTTP GET on loopback answers 200.
http_ok() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  read -r line <&3 || true
  exec 3>&-
  [[ $line == *" 200 "* ]]
}
# free_port: a loopback port nothing listens on, below the kernel's ephemeral range (where the
# local end of an outgoing connection can take a port between its check and its bind), and
# reserved with mkdir: the tests start several clusters at once, and a port picked by one is
# free until its component binds it. Reservations older than two minutes have long been bound.
PORT_DIR=${TMPDIR:-/tmp}/hourglass-gitops-ports
free_port() {
  local p i lo=10000 hi=32767 eph
  if read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null && ((eph > lo + 1000 && eph - 1 < hi)); then
    hi=$((eph - 1))
  fi
  mkdir -p "$PORT_DIR"
  find "$PORT_DIR" -mindepth 1 -maxdepth 1 -mmin +2 -exec rmdir {} + 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do
    p=$((lo + RANDOM % (hi - lo)))
    listening "$p" && continue
    mkdir "$PORT_DIR/$p" 2>/dev/null || continue
    echo "$p"
    return 0
  done
  die "no free loopback port found"
}

# --- certificates ----------------------------------------------------------------------------

certs() {
  [[ -f $PKI/admin.crt ]] && return 0
  log "creating certificates (CA, API server, clients, service-account keys)"
  mkdir -p "$PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=hourglass-local-ca" 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    issue() { # issue <name> <subject> <extensions>
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf '%b' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    local client='keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
    issue apiserver "/CN=kube-apiserver" \
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n'
    issue admin "/O=system:masters/CN=kubernetes-admin" "$client"
    issue controller-manager "/CN=system:kube-controller-manager" "$client"
    issue scheduler "/CN=system:kube-scheduler" "$client"
  )
}

kubeconfig() { # kubeconfig <file> <cert name> <server>
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: hourglass-local
  cluster:
    server: $3
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$2.crt")
    client-key-data: $(base64 -w0 <"$PKI/$2.key")
contexts:
- name: hourglass-local
  context:
    cluster: hourglass-local
    user: $2
current-context: hourglass-local
EOF
  chmod 600 "$1"
}

# --- cluster objects -------------------------------------------------------------------------

# node <name> <osImage> <labels yaml> <taints yaml> <extra capacity yaml>
node() {
  cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $1
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $1
    kubernetes.io/os: linux
    type: kwok
$3
spec:
$4
status:
  nodeInfo:
    architecture: amd64
    operatingSystem: linux
    osImage: $2
  capacity: &res
    cpu: "32"
    memory: 128Gi
    pods: "110"
    ephemeral-storage: 500Gi
$5
  allocatable: *res
EOF
}

cluster_objects() {
  local ubuntu="Ubuntu 24.04.2 LTS"
  node pool-1 "$ubuntu" "    node.kubernetes.io/pool: general" "  taints: []" ""
  node pool-2 "$ubuntu" "    node.kubernetes.io/pool: general" "  taints: []" ""
  # GPU Feature Discovery and GPU Operator labels, plus the label the walkthrough's GPU snippet selects.
  node gpu-a100-1 "$ubuntu" "    node.kubernetes.io/pool: gpu
    nvidia.com/gpu.present: \"true\"
    nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB
    nvidia.com/gpu.count: \"8\"
    nvidia.com/gpu.memory: \"81920\"
    accelerator: nvidia-tesla-a100" "  taints:
  - {key: nvidia.com/gpu, value: present, effect: NoSchedule}" "    nvidia.com/gpu: \"8\""
  node sgx-1 "$ubuntu" "    node.kubernetes.io/pool: sgx
    intel.feature.node.kubernetes.io/sgx: \"true\"
    feature.node.kubernetes.io/cpu-security.sgx.enabled: \"true\"" "  taints:
  - {key: sgx, value: enabled, effect: NoSchedule}" "    sgx.intel.com/epc: 512Mi
    sgx.intel.com/enclave: \"20\"
    sgx.intel.com/provision: \"20\""
  node sev-snp-1 "$ubuntu" "    node.kubernetes.io/pool: confidential
    feature.node.kubernetes.io/cpu-security.sev.snp.enabled: \"true\"" "  taints: []" ""
  node tdx-1 "$ubuntu" "    node.kubernetes.io/pool: confidential
    feature.node.kubernetes.io/cpu-security.tdx.enabled: \"true\"" "  taints: []" ""
  node bottlerocket-1 "Bottlerocket OS 1.42.0 (aws-k8s-1.33)" "    node.kubernetes.io/pool: bottlerocket
    node.kubernetes.io/os: bottlerocket" "  taints:
  - {key: bottlerocket, value: \"true\", effect: NoSchedule}" ""

  # Kata Confidential Containers runtime classes: admission rejects pods naming a missing one and
  # merges their node selector into the pod, as on a real cluster with the kata operator.
  local rc
  for rc in kata-qemu-snp:sev.snp kata-qemu-tdx:tdx kata-qemu-nvidia-gpu-snp:sev.snp kata-qemu-nvidia-gpu-tdx:tdx; do
    cat <<EOF
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: ${rc%%:*}
handler: ${rc%%:*}
overhead:
  podFixed:
    cpu: 250m
    memory: 160Mi
scheduling:
  nodeSelector:
    feature.node.kubernetes.io/cpu-security.${rc#*:}.enabled: "true"
EOF
  done

  # No volume provisioner runs here: a default StorageClass that binds on first use plus a pool
  # of pre-made volumes lets StatefulSets with volume claim templates schedule and become ready.
  volume_pool standard 32 local 100Gi host_path_source default
}

# volume_pool <StorageClass> <count> <volume name prefix> <size> <source function> [default]:
# a StorageClass with no provisioner that binds on first use, and <count> pre-made volumes of
# it; <source function> <n> prints the source (and node affinity) of volume n.
volume_pool() {
  local class=$1 count=$2 prefix=$3 size=$4 source=$5 i
  printf -- '---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: %s\n' "$class"
  if [[ ${6:-} == default ]]; then
    printf '  annotations:\n    storageclass.kubernetes.io/is-default-class: "true"\n'
  fi
  printf 'provisioner: kubernetes.io/no-provisioner\nvolumeBindingMode: WaitForFirstConsumer\nreclaimPolicy: Retain\n'
  for ((i = 1; i <= count; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $(printf '%s-pv-%02d' "$prefix" "$i")
spec:
  capacity:
    storage: $size
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: $class
EOF
    "$source" "$i"
  done
}

# host_path_source <n>: volume n of the KWOK nodes' pool, a folder no pod ever writes to.
host_path_source() { printf '  hostPath:\n    path: /var/lib/hourglass-local/pv-%02d\n' "$1"; }

# --- real node (HOURGLASS_REAL_NODE=1 or `up --real-node`) ------------------------------------
#
# A kubelet with containerd, runc and the CNI bridge plugin (Debian: containerd, runc,
# containernetworking-plugins), kube-proxy in iptables mode and CoreDNS, beside the KWOK nodes;
# docs/real-node.md says why each setting is what it is. It needs root (mounts, network
# namespaces, iptables, cgroups). It is tainted hourglass.dev/real-node:NoSchedule, so only pods
# that tolerate it run there and everything made for the KWOK nodes behaves as before. No
# registry is reachable: images are imported into its containerd (`load-image`), the pod sandbox
# image included. Host-wide things it makes (so: one real node per machine): the bridge hgnode0
# holding the pod CIDR's gateway, the pods' network namespaces, kube-proxy's iptables rules, the
# /kubepods cgroups, and kernel settings (ip_forward and those the kubelet sets); `down` undoes
# all of them.
NODE_NAME=${HOURGLASS_NODE_NAME:-real-node-1}
NODE_POD_CIDR=10.245.0.0/24
NODE_GATEWAY=10.245.0.1
NODE_BRIDGE=hgnode0
NODE_TAINT=hourglass.dev/real-node
NODE_DIR=$STATE/node
# Unix socket paths are limited to 108 bytes, and the state folder can be deep.
NODE_RUN=/run/hourglass-node-$(printf '%s' "$STATE" | sha256sum | cut -c1-10)
NODE_SOCK=$NODE_RUN/containerd.sock
NODE_OWNER=/run/hourglass-node.owner
PAUSE_IMAGE=localhost/hourglass/pause:1
# Kernel settings the node changes (the kubelet sets the first six at start, with
# protectKernelDefaults false); saved at the first start, put back by down.
NODE_SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops kernel/keys/root_maxkeys
  kernel/keys/root_maxbytes net/ipv4/ip_forward net/bridge/bridge-nf-call-iptables)

ctr_() { ctr --address "$NODE_SOCK" -n k8s.io "$@"; }

# node_packages installs the Debian packages the real node runs (root, apt-get) where missing.
node_packages() {
  [[ $(id -u) == 0 ]] || die "the real node needs root (mounts, network namespaces, iptables, cgroups)"
  local b missing=()
  for b in containerd:containerd ctr:containerd runc:runc iptables:iptables conntrack:conntrack; do
    command -v "${b%%:*}" >/dev/null || [[ " ${missing[*]} " == *" ${b#*:} "* ]] || missing+=("${b#*:}")
  done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || missing+=(containernetworking-plugins)
  if ((${#missing[@]})); then
    # Debian's packages; the package scripts may try to start containerd as a service, which the
    # node does not use (it runs its own, with its own socket and state).
    command -v apt-get >/dev/null || die "the real node needs Debian's ${missing[*]} (no apt-get here)"
    log "real node: installing ${missing[*]} (apt-get) ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; } ||
      die "installing ${missing[*]} with apt-get failed"
  fi
  for b in containerd ctr runc iptables conntrack; do
    command -v "$b" >/dev/null || die "the real node needs $b on PATH, still missing after apt-get install"
  done
  [[ -x /usr/lib/cni/bridge ]] || die "the real node needs the CNI plugins in /usr/lib/cni (containernetworking-plugins)"
}

node_preflight() {
  node_packages
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null || true
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
    die "the real node needs br_netfilter (modprobe br_netfilter): without it a Service's replies skip its NAT"
  local owner
  owner=$(cat "$NODE_OWNER" 2>/dev/null || true)
  if [[ -n $owner && $owner != "$STATE" ]] && alive "$owner/pids/kubelet.pid"; then
    die "a real node already runs for the cluster in $owner (one per machine); stop it first"
  fi
}

# node_pause_archive: the pod sandbox image (a static Go binary that waits for SIGTERM), built
# once per source in the user cache dir; prints its archive's path.
node_pause_archive() {
  local cache key
  cache=${HOURGLASS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hourglass-gitops}/node-images
  key=$(cat "$ROOT"/test/framework/node/cmd/pause/main.go "$ROOT"/test/framework/node/image.go | sha256sum | cut -c1-12)
  if [[ ! -f $cache/pause-$key.tar ]]; then
    mkdir -p "$cache" "$NODE_DIR/bin"
    (cd "$ROOT" && export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false &&
      go build -trimpath -ldflags "-s -w" -o "$NODE_DIR/bin/pause" ./test/framework/node/cmd/pause &&
      go run ./test/framework/node/cmd/node-image -ref "$PAUSE_IMAGE" -o "$cache/.pause-$key.tar" \
        -entrypoint /pause /pause="$NODE_DIR/bin/pause") >&2
    mv "$cache/.pause-$key.tar" "$cache/pause-$key.tar"
  fi
  echo "$cache/pause-$key.tar"
}

# load_image <OCI layout folder | tar of one> [repository]: imports the image into the real node's
# containerd, under the name in its index's io.containerd.image.name annotation, or its
# org.opencontainers.image.ref.name: a full reference as it is, a bare tag after [repository]
# (without one, ctr makes up import-<date>:<tag>).
load_image() {
  local src=${1:-} repo=${2:-} tmp=
  [[ -n $src && -e $src ]] || die "load-image: no OCI image layout or archive at '$src'"
  alive "$PIDS/containerd.pid" || die "load-image: the real node is not running (state: $STATE)"
  if [[ -d $src ]]; then
    [[ -f $src/index.json ]] || die "load-image: $src is not an OCI image layout (no index.json)"
    tmp=$(mktemp --suffix=.tar)
    tar -C "$src" -cf "$tmp" .
    src=$tmp
  fi
  local rc=0
  local -a base=()
  [[ -z $repo ]] || base=(--base-name "$repo")
  ctr_ images import "${base[@]}" "$src" >&2 || rc=$?
  [[ -z $tmp ]] || rm -f "$tmp"
  ((rc == 0)) || die "load-image: ctr images import of $1 failed"
}

node_certs() {
  [[ -f $PKI/kubelet.crt ]] && return 0
  (
    cd "$PKI"
    issue() { # issue <name> <subject>: a client certificate
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
      printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    issue kubelet "/O=system:nodes/CN=system:node:$NODE_NAME"
    issue kube-proxy "/CN=system:kube-proxy"
    issue coredns "/CN=system:coredns"
    issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  )
}

# node_objects <API server port>
node_objects() {
  cat <<OBJ
# The API server runs with --endpoint-reconciler-type=none (a loopback address is no valid
# endpoint): pods on the real node reach it at the bridge address, as in-cluster clients do.
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes-real-node
  namespace: default
  labels:
    kubernetes.io/service-name: kubernetes
    endpointslice.kubernetes.io/managed-by: local-cluster.hourglass.dev
addressType: IPv4
endpoints:
- addresses: [$NODE_GATEWAY]
  conditions: {ready: true}
ports:
- {name: https, port: $1, protocol: TCP}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: system:coredns}
OBJ
  # Volumes on the real node's disk, for the PVCs of pods that run there.
  volume_pool real-node-local 8 real-node 1Gi real_node_source
}

# real_node_source <n>: volume n of the real node's pool, a folder on its disk.
real_node_source() {
  cat <<OBJ
  local:
    path: $NODE_DIR/volumes/$(printf 'pv-%02d' "$1")
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
OBJ
}

# node_up <binaries folder>: starts containerd, CoreDNS, kube-proxy and the kubelet, and waits
# until the node is Ready.
node_up() {
  local bins=$1 start=$SECONDS i
  node_preflight
  echo "$STATE" >"$NODE_OWNER"
  mkdir -p "$NODE_DIR"/{containerd,kubelet,pod-logs,cni/net.d,cni/ipam} "$NODE_RUN"
  for ((i = 1; i <= 8; i++)); do mkdir -p "$NODE_DIR/volumes/$(printf 'pv-%02d' "$i")"; done
  # Pods run as any UID, and a local volume is its folder, mode included.
  chmod 1777 "$NODE_DIR"/volumes/pv-*
  echo "$bins/kube-proxy" >"$NODE_DIR/kube-proxy.path"
  node_certs
  local server
  server=$(grep -o 'https://[^ ]*' "$KUBECONFIG_FILE" | head -1)
  kubeconfig "$CONF/kubelet.kubeconfig" kubelet "$server"
  kubeconfig "$CONF/kube-proxy.kubeconfig" kube-proxy "$server"
  kubeconfig "$CONF/coredns.kubeconfig" coredns "$server"

  if [[ ! -f $NODE_DIR/sysctl.orig ]]; then
    local s
    for s in "${NODE_SYSCTLS[@]}"; do
      [[ ! -e /proc/sys/$s ]] || echo "$s $(cat "/proc/sys/$s")"
    done >"$NODE_DIR/sysctl.orig"
  fi
  echo 1 >/proc/sys/net/ipv4/ip_forward
  echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables

  # The bridge exists before any pod, so that CoreDNS can listen on the gateway address; the CNI
  # bridge plugin finds it and attaches the pods' veths to it.
  if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    ip link add "$NODE_BRIDGE" type bridge
    ip addr add "$NODE_GATEWAY/24" dev "$NODE_BRIDGE"
  fi
  ip link set "$NODE_BRIDGE" up
  cat >"$NODE_DIR/cni/net.d/10-hourglass.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "hourglass-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_GATEWAY"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$NODE_DIR/cni/ipam"
      }
    }
  ]
}
CNI

  log "real node: starting containerd (socket $NODE_SOCK)"
  cat >"$CONF/containerd.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_RUN/state"
[grpc]
  address = "$NODE_SOCK"
[ttrpc]
  address = "$NODE_RUN/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$NODE_DIR/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # This machine denies lowering a process's OOM score (no CAP_SYS_RESOURCE): runc fails with
  # "failed to update /proc/self/oom_score_adj: Permission denied" for the sandbox's -998.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$NODE_DIR/cni/net.d"
TOML
  start containerd "$(command -v containerd)" --config "$CONF/containerd.toml" --log-level warn
  wait_for containerd 30 containerd ctr_ version
  load_image "$(node_pause_archive)"

  log "real node: starting CoreDNS on $NODE_GATEWAY:53 and kube-proxy (iptables mode)"
  node_objects "${server##*:}" | kubectl --kubeconfig "$KUBECONFIG_FILE" apply -f - >/dev/null
  local dns_health dns_ready proxy_health proxy_metrics kubelet_port kubelet_health
  dns_health=$(free_port); dns_ready=$(free_port); proxy_health=$(free_port); proxy_metrics=$(free_port)
  kubelet_port=$(free_port); kubelet_health=$(free_port)
  cat >"$CONF/Corefile" <<DNS
.:53 {
    bind $NODE_GATEWAY
    errors
    health 127.0.0.1:$dns_health
    ready 127.0.0.1:$dns_ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $CONF/coredns.kubeconfig hourglass-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
}
DNS
  start coredns "$bins/coredns" -conf "$CONF/Corefile"
  cat >"$CONF/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $CONF/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $NODE_POD_CIDR
healthzBindAddress: 127.0.0.1:$proxy_health
metricsBindAddress: 127.0.0.1:$proxy_metrics
conntrack:
  # Leave the host's conntrack table size alone.
  maxPerCore: 0
PROXY
  start kube-proxy "$bins/kube-proxy" --config="$CONF/kube-proxy.yaml"

  log "real node: starting the kubelet ($NODE_NAME)"
  # Pods resolve cluster names only: no upstream DNS server is reachable here.
  : >"$NODE_DIR/resolv.conf"
  cat >"$CONF/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The kubelet refuses a loopback node IP; the bridge's address is the host's own and private.
address: $NODE_GATEWAY
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_health
containerRuntimeEndpoint: unix://$NODE_SOCK
# The host has cgroups v1 (hybrid) and no systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: $PKI/ca.crt
authorization:
  mode: Webhook
clusterDomain: cluster.local
clusterDNS: [$NODE_GATEWAY]
resolvConf: $NODE_DIR/resolv.conf
podLogsDir: $NODE_DIR/pod-logs
registerWithTaints:
- {key: $NODE_TAINT, value: "true", effect: NoSchedule}
serializeImagePulls: false
# Disk and memory are shared with everything else on the machine: evict only when nearly out.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
  nodefs.inodesFree: 2%
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
KUBELET
  start kubelet "$bins/kubelet" --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.kubeconfig" \
    --root-dir="$NODE_DIR/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_GATEWAY" \
    --node-labels="type=real,node.kubernetes.io/pool=real" --v=1
  wait_for CoreDNS 60 coredns http_ok "$dns_ready" /ready
  wait_for kube-proxy 60 kube-proxy http_ok "$proxy_health" /healthz
  wait_for "real node $NODE_NAME" 120 kubelet \
    kubectl --kubeconfig "$KUBECONFIG_FILE" wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  log "real node $NODE_NAME Ready $((SECONDS - start))s after its start"
}

# node_down: stops the real node and removes what it made on the host. Safe to repeat, and after
# a crash: what it does not find, it skips.
node_down() {
  [[ -d $NODE_DIR || -f $PIDS/kubelet.pid || -f $PIDS/containerd.pid ]] || return 0
  # The kubelet tears its pods down properly (containers, network namespaces, mounts): give it a
  # short while, then remove by force whatever is left.
  if alive "$PIDS/kubelet.pid" && alive "$PIDS/kube-apiserver.pid"; then
    timeout 40 kubectl --kubeconfig "$KUBECONFIG_FILE" delete pods --all-namespaces \
      --field-selector "spec.nodeName=$NODE_NAME" --grace-period=1 --wait=true >/dev/null 2>&1 || true
  fi
  stop "$PIDS/kubelet.pid" "$PIDS/kube-proxy.pid" "$PIDS/coredns.pid"
  stop "$PIDS/containerd.pid"
  # containerd's shims, and the containers under them, outlive containerd by design.
  # One grep over every command line; "[.]" keeps grep from matching its own.
  local f pid
  for f in $(grep -alE -- "$NODE_RUN/containerd[.]sock" /proc/[0-9]*/cmdline 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    kill -KILL "$pid" 2>/dev/null || true
  done
  local cg
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ -d $cg ]] || continue
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  done
  sleep 0.3
  for cg in /sys/fs/cgroup/*/kubepods; do
    [[ ! -d $cg ]] || find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  # The pods' network namespaces (containerd names them cni-*) with an address in the pod CIDR.
  local ns
  for ns in /run/netns/cni-*; do
    [[ -e $ns ]] || continue
    if ip netns exec "${ns##*/}" ip -4 -o addr show 2>/dev/null | grep -qF " ${NODE_GATEWAY%.*}."; then
      umount "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
  ip link del "$NODE_BRIDGE" 2>/dev/null || true
  # Mounts under the node's folders, deepest first.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk '{print $5}' /proc/self/mountinfo | grep -E "^($NODE_DIR|$NODE_RUN)(/|\$)" | sort -r)
  local kp
  kp=$(cat "$NODE_DIR/kube-proxy.path" 2>/dev/null || true)
  [[ -z $kp || ! -x $kp ]] || "$kp" --cleanup >/dev/null 2>&1 || true
  # The kubelet's own chains (canaries, and a rule dropping non-loopback traffic to 127.0.0.0/8).
  local ipt t c
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for c in INPUT OUTPUT; do
      while "$ipt" -t filter -D "$c" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    for t in filter nat mangle; do
      for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
        "$ipt" -t "$t" -F "$c" 2>/dev/null && "$ipt" -t "$t" -X "$c" 2>/dev/null || true
      done
    done
  done
  if [[ -f $NODE_DIR/sysctl.orig ]]; then
    local s v
    while read -r s v; do echo "$v" >"/proc/sys/$s" 2>/dev/null || true; done <"$NODE_DIR/sysctl.orig"
  fi
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_DIR/*" -delete 2>/dev/null || true
  rm -rf --one-file-system "$NODE_DIR" "$NODE_RUN"
  [[ "$(cat "$NODE_OWNER" 2>/dev/null)" != "$STATE" ]] || rm -f "$NODE_OWNER"
  log "real node stopped; its mounts, network namespaces, bridge, iptables rules and cgroups removed"
}

# --- commands --------------------------------------------------------------------------------

up() {
  if alive "$PIDS/kube-apiserver.pid" && kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz >/dev/null 2>&1; then
    if [[ $REAL_NODE == 1 ]] && ! alive "$PIDS/kubelet.pid"; then
      # The API server's flags for reaching a kubelet are set when it starts.
      die "the cluster in $STATE runs without a real node: stop it (down), then up --real-node"
    fi
    log "already running: export KUBECONFIG=$KUBECONFIG_FILE"
    return 0
  fi
  command -v kubectl >/dev/null || die "kubectl not found on PATH (needed to create the nodes)"
  command -v openssl >/dev/null || die "openssl not found on PATH (needed for the certificates)"
  # Leftovers of a crashed run would hold the data dir or confuse `down`.
  down_quiet

  log "control-plane binaries (built from the Go module proxy on first use, then cached)"
  local bins
  if [[ $REAL_NODE == 1 ]]; then
    node_preflight
    bins=$("$ROOT/hack/control-plane-bins.sh" --node)
  else
    bins=$("$ROOT/hack/control-plane-bins.sh")
  fi
  log "binaries in $bins"
  mkdir -p "$LOGS" "$PIDS" "$CONF" "$STATE/etcd"
  certs
  # The API server reaches a real kubelet (logs, exec) with a client certificate of its own.
  local -a kubelet_client=()
  local api_bind=127.0.0.1
  if [[ $REAL_NODE == 1 ]]; then
    # Pods on the real node reach the API server through the kubernetes Service, whose endpoint
    # is the bridge address (node_up); it answers client certificates and tokens only.
    api_bind=0.0.0.0
    node_certs
    # The node's name resolves nowhere: reach it at its InternalIP.
    kubelet_client=(--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
      --kubelet-client-key="$PKI/apiserver-kubelet-client.key" --kubelet-preferred-address-types=InternalIP,Hostname)
  fi

  local etcd_port etcd_peer api_port kcm_port sched_port
  etcd_port=$(free_port); etcd_peer=$(free_port); api_port=$(free_port); kcm_port=$(free_port); sched_port=$(free_port)
  local server=https://127.0.0.1:$api_port
  printf 'API_PORT=%s\nETCD_PORT=%s\n' "$api_port" "$etcd_port" >"$STATE/ports.env"

  log "starting etcd on 127.0.0.1:$etcd_port"
  start etcd "$bins/etcd" --name=local --data-dir="$STATE/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="local=http://127.0.0.1:$etcd_peer" --unsafe-no-fsync --log-level=warn
  wait_for etcd 30 etcd http_ok "$etcd_port" /health

  # HOURGLASS_AUDIT=1 records every request (who, verb, resource, when) in logs/audit.log, for
  # make bench, which counts each client's reads and writes per Performer. Each start begins a new
  # log, as it begins a new data dir: the API server appends, and readers scan the log from its start.
  local -a audit=()
  rm -f "$LOGS/audit.log"
  if [[ ${HOURGLASS_AUDIT:-} == 1 ]]; then
    cat >"$CONF/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
POLICY
    audit=(--audit-policy-file="$CONF/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" --audit-log-format=json
      --audit-log-mode=batch --audit-log-maxsize=0)
  fi
  log "starting kube-apiserver on $server"
  start kube-apiserver "$bins/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address="$api_bind" --secure-port="$api_port" \
    --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --service-cluster-ip-range=10.96.0.0/16 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --requestheader-client-ca-file="$PKI/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --profiling="${HOURGLASS_PROFILING:-false}" --v=0 "${audit[@]}" "${kubelet_client[@]}"
  kubeconfig "$KUBECONFIG_FILE" admin "$server"
  kubeconfig "$CONF/controller-manager.kubeconfig" controller-manager "$server"
  kubeconfig "$CONF/scheduler.kubeconfig" scheduler "$server"
  wait_for kube-apiserver 90 kube-apiserver kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz

  log "starting kube-controller-manager and kube-scheduler"
  start kube-controller-manager "$bins/kube-controller-manager" \
    --kubeconfig="$CONF/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$CONF/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$CONF/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" \
    --use-service-account-credentials \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --leader-elect=false --kube-api-qps=100 --kube-api-burst=200 \
    --concurrent-gc-syncs=20 --profiling=false
  cat >"$CONF/scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $CONF/scheduler.kubeconfig
  qps: 100
  burst: 200
leaderElection:
  leaderElect: false
EOF
  start kube-scheduler "$bins/kube-scheduler" --config="$CONF/scheduler.yaml" \
    --authentication-kubeconfig="$CONF/scheduler.kubeconfig" \
    --authorization-kubeconfig="$CONF/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --profiling=false

  log "starting kwok (simulated kubelets)"
  # Only Stage objects in the config file: a KwokConfiguration there would switch off defaulting.
  local f first=1
  : >"$CONF/kwok-stages.yaml"
  for f in "$bins"/kwok-stages/*.yaml; do
    ((first)) || echo "---" >>"$CONF/kwok-stages.yaml"
    cat "$f" >>"$CONF/kwok-stages.yaml"; first=0
  done
  start kwok "$bins/kwok" --kubeconfig="$KUBECONFIG_FILE" --config="$CONF/kwok-stages.yaml" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --cidr=10.244.0.0/16 \
    --node-lease-duration-seconds=40

  log "creating nodes, runtime classes and volumes"
  cluster_objects >"$CONF/cluster-objects.yaml"
  kubectl --kubeconfig "$KUBECONFIG_FILE" create -f "$CONF/cluster-objects.yaml" >/dev/null

  log "waiting for nodes to be Ready and for the default service account"
  wait_for "nodes" 90 kwok kubectl --kubeconfig "$KUBECONFIG_FILE" wait --for=condition=Ready node --all --timeout=2s
  wait_for "default service account" 60 kube-controller-manager kubectl --kubeconfig "$KUBECONFIG_FILE" -n default get serviceaccount default
  alive "$PIDS/kube-scheduler.pid" || die "kube-scheduler exited (see $LOGS/kube-scheduler.log)"
  [[ $REAL_NODE != 1 ]] || node_up "$bins"
  log "cluster ready in $((SECONDS - START))s: export KUBECONFIG=$KUBECONFIG_FILE"
  kubectl --kubeconfig "$KUBECONFIG_FILE" get nodes -L node.kubernetes.io/pool >&2
}

down_quiet() {
  local f c
  local -a others=() comps=()
  [[ -d $PIDS ]] || return 0
  # The real node first: it deletes its pods through the API server.
  node_down
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    c=$(basename "$f" .pid)
    [[ " ${COMPONENTS[*]} " == *" $c "* ]] || others+=("$f")
  done
  # Clients (the demo's controller) first, so they do not log errors about a vanished API server.
  ((${#others[@]} == 0)) || stop "${others[@]}"
  # etcd last: the API server shuts down faster while its storage still answers.
  for c in kwok kube-scheduler kube-controller-manager kube-apiserver; do comps+=("$PIDS/$c.pid"); done
  stop "${comps[@]}"
  stop "$PIDS/etcd.pid"
  rm -rf "$STATE/etcd" "$PIDS" "$STATE/ports.env"
}

down() {
  down_quiet
  log "stopped; logs kept in $LOGS"
}

status() {
  local f any=0
  for f in "$PIDS"/*.pid; do
    [[ -e $f ]] || continue
    any=1
    if alive "$f"; then echo "$(basename "$f" .pid): running (pid $(cut -d' ' -f1 "$f"))"; else echo "$(basename "$f" .pid): not running"; fi
  done
  ((any)) || { echo "not running (state: $STATE)"; return 1; }
  kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz >/dev/null 2>&1 || { echo "API server: not ready"; return 1; }
  echo "API server: ready ($(grep -o 'https://[^ ]*' "$KUBECONFIG_FILE" | head -1))"
  kubectl --kubeconfig "$KUBECONFIG_FILE" get nodes -L node.kubernetes.io/pool
}

# restart <component> [--kill]: TERM (KILL after 10s; --kill: KILL at once, a crash) one running
# component, start the same command line again and wait until it answers: what a crash or a
# static pod restart does to it. etcd keeps its data folder.
restart() {
  local c=${1:-} pid exe
  [[ " ${COMPONENTS[*]} " == *" $c "* ]] || die "restart: unknown component '$c' (one of ${COMPONENTS[*]})"
  alive "$PIDS/$c.pid" || die "restart: $c is not running (state: $STATE)"
  read -r pid exe <"$PIDS/$c.pid"
  local -a cmd
  mapfile -d '' -t cmd <"/proc/$pid/cmdline"
  if [[ ${2:-} == --kill ]]; then
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
    rm -f "$PIDS/$c.pid"
    log "killed $c"
  else
    stop "$PIDS/$c.pid"
  fi
  # Keep every earlier run's log: a test that restarts a component twice reads both.
  if [[ -f $LOGS/$c.log ]]; then
    local n=1
    while [[ -e $LOGS/$c.log.$n ]]; do n=$((n + 1)); done
    mv "$LOGS/$c.log" "$LOGS/$c.log.$n"
  fi
  start "$c" "${cmd[@]}"
  # shellcheck disable=SC1091
  source "$STATE/ports.env"
  case $c in
    etcd) wait_for etcd 30 etcd http_ok "$ETCD_PORT" /health ;;
    kube-apiserver) wait_for kube-apiserver 90 kube-apiserver kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz ;;
    *) sleep 1; alive "$PIDS/$c.pid" || die "$c exited after restart (see $LOGS/$c.log)" ;;
  esac
  log "restarted $c"
}

case "${1:-}" in
  up)
    [[ ${2:-} != --real-node ]] || REAL_NODE=1
    up ;;
  node-deps) node_packages ;;
  load-image) shift; load_image "$@" ;;
  restart) shift; restart "$@" ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  status) status ;;
  *) echo "usage: $0 up [--real-node]|down|env|status|node-deps|load-image <oci>|restart <component> [--kill]   (state: \${HOURGLASS_CLUSTER_DIR:-.local/cluster})" >&2; exit 2 ;;
esac
