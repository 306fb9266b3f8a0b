#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, without Docker: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler, with KWOK simulating the nodes (pods are scheduled
# for real and marked Running/Ready, but no container runs).
#
#   hack/local-cluster.sh up       start it (builds the binaries on first use), wait until ready
#   hack/local-cluster.sh down     stop everything it started and remove its data (safe to repeat)
#   hack/local-cluster.sh env      print `export KUBECONFIG=...` for eval
#   hack/local-cluster.sh status   show the processes and the nodes
#   hack/local-cluster.sh restart <component> [--kill]
#                                  stop one component (etcd, kube-apiserver, ...; --kill: SIGKILL, a
#                                  crash) and start it again with the same command line and data,
#                                  then wait until it is healthy
#
# HOURGLASS_AUDIT=1 turns on the API server's audit log of writes (logs/audit.log).
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
  cat <<EOF
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
  local i
  for ((i = 1; i <= 32; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $(printf 'local-pv-%02d' "$i")
spec:
  capacity:
    storage: 100Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: standard
  hostPath:
    path: $(printf '/var/lib/hourglass-local/pv-%02d' "$i")
EOF
  done
}

# --- commands --------------------------------------------------------------------------------

up() {
  if alive "$PIDS/kube-apiserver.pid" && kubectl --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz >/dev/null 2>&1; then
    log "already running: export KUBECONFIG=$KUBECONFIG_FILE"
    return 0
  fi
  command -v kubectl >/dev/null || die "kubectl not found on PATH (needed to create the nodes)"
  command -v openssl >/dev/null || die "openssl not found on PATH (needed for the certificates)"
  # Leftovers of a crashed run would hold the data dir or confuse `down`.
  down_quiet

  log "control-plane binaries (built from the Go module proxy on first use, then cached)"
  local bins
  bins=$("$ROOT/hack/control-plane-bins.sh")
  log "binaries in $bins"
  mkdir -p "$LOGS" "$PIDS" "$CONF" "$STATE/etcd"
  certs

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

  # HOURGLASS_AUDIT=1 records every write (who, verb, resource) in logs/audit.log, for make bench.
  local -a audit=()
  if [[ ${HOURGLASS_AUDIT:-} == 1 ]]; then
    cat >"$CONF/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
  verbs: [create, update, patch, delete, deletecollection]
- level: None
POLICY
    audit=(--audit-policy-file="$CONF/audit-policy.yaml" --audit-log-path="$LOGS/audit.log" --audit-log-format=json
      --audit-log-mode=batch --audit-log-maxsize=0)
  fi
  log "starting kube-apiserver on $server"
  start kube-apiserver "$bins/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --secure-port="$api_port" \
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
    --profiling=false --v=0 "${audit[@]}"
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
  log "cluster ready in $((SECONDS - START))s: export KUBECONFIG=$KUBECONFIG_FILE"
  kubectl --kubeconfig "$KUBECONFIG_FILE" get nodes -L node.kubernetes.io/pool >&2
}

down_quiet() {
  local f c
  local -a others=() comps=()
  [[ -d $PIDS ]] || return 0
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
  up) up ;;
  restart) shift; restart "$@" ;;
  down) down ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE" ;;
  status) status ;;
  *) echo "usage: $0 up|down|env|status|restart <component> [--kill]   (state: \${HOURGLASS_CLUSTER_DIR:-.local/cluster})" >&2; exit 2 ;;
esac
