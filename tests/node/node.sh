#!/usr/bin/env bash
# A single-node Kubernetes v1.20.2 cluster on this machine, for tests and the demo:
#   node.sh start DIR   start etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#                       containerd, kubelet and kube-proxy (state, logs, kubeconfig in DIR);
#                       returns once the node is Ready (bounded: 120 s) or fails naming the
#                       component and its log
#   node.sh stop DIR    stop everything and remove every trace (processes, mounts, the bridge,
#                       veths, netns, iptables chains, cgroups, sysctls restored, DIR removed)
#   node.sh import DIR IMAGE.tar...   import OCI archives into the node's containerd
# Pod traffic stays on the bridge ssnode0 (10.244.77.0/24, node IP 10.244.77.1): no default
# route in Pods, no masquerading, ip_forward untouched. One node per machine (fixed names).
set -euo pipefail

BR=ssnode0
NODE_IP=10.244.77.1
SUBNET=10.244.77.0/24
SVC_RANGE=10.96.0.0/24
API_PORT=16443
NODE_NAME=ssnode
# kube-proxy 1.20 rejects port 0 ("must be a valid port"): its default ports, on loopback.
PROXY_HEALTHZ_PORT=10256
PROXY_METRICS_PORT=10249
# Host sysctls the kubelet (panic, overcommit, keys), kube-proxy (route_localnet) and the CNI bridge
# plugin (ip_forward, set because the bridge is the Pods' gateway) change: saved, restored at stop.
SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet net.netfilter.nf_conntrack_max net.bridge.bridge-nf-call-iptables)
# Host directories the kubelet, containerd (shim sockets, /run/containerd/s) and libcni (its
# result cache) use whatever the configuration says: removed at stop when start created them.
HOST_DIRS=(/run/containerd /var/lib/cni /var/lib/kubelet /var/log/pods /var/log/containers)
NODE_ASSETS="${NODE_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/node}"
CP_BIN="${KUBEBUILDER_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/bin}"

log() { printf '[node] %s\n' "$*" >&2; }
die() { printf '[node] error: %s\n' "$*" >&2; exit 1; }

cmd=${1:-}
dir=${2:-}
[[ -n $cmd && -n $dir ]] || die "usage: node.sh start|stop|import DIR [IMAGE.tar...]"
dir=$(realpath -m -- "$dir")
[[ $dir != / && $dir != "$HOME" ]] || die "refusing $dir as the state directory"

tail_log() { tail -n 20 "$dir/$1.log" 2>/dev/null | sed 's/^/    /' >&2 || true; }

# spawn NAME CMD...: runs CMD in the background, its own session, output to DIR/NAME.log.
spawn() {
  local name=$1; shift
  setsid "$@" </dev/null >"$dir/$name.log" 2>&1 &
  echo "$name $!" >>"$dir/pids"
}

# wait_for WHAT SECONDS LOG CMD...: polls CMD until it succeeds; fails naming the log.
wait_for() {
  local what=$1 secs=$2 logname=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    local pid
    pid=$(awk -v n="$logname" '$1 == n { print $2 }' "$dir/pids" 2>/dev/null | tail -1)
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "$logname exited; last lines of $dir/$logname.log:"; tail_log "$logname"
      die "$what: $logname exited (log: $dir/$logname.log)"
    fi
    if ((SECONDS >= deadline)); then
      log "last lines of $dir/$logname.log:"; tail_log "$logname"
      die "$what: not within ${secs}s (log: $dir/$logname.log)"
    fi
    sleep 0.5
  done
  log "$what after $((SECONDS - deadline + secs))s"
}

kc() { "$CP_BIN/kubectl" --kubeconfig "$dir/admin.kubeconfig" "$@"; }

kubeconfig() { # kubeconfig FILE TOKEN
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $dir/pki/ca.crt
users:
- name: u
  user:
    token: $2
contexts:
- name: node
  context: {cluster: node, user: u}
current-context: node
KC
}

make_pki() {
  local p=$dir/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ssnode-ca \
    -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$p/apiserver.key" \
    -out "$p/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n' \
    "$NODE_IP" >"$p/san.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
    -days 2 -extfile "$p/san.ext" -out "$p/apiserver.crt" 2>/dev/null
  # The API server's identity towards the kubelet (logs, exec): system:masters.
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$p/kubelet-client.key" -out "$p/kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$p/kubelet-client.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" \
    -CAcreateserial -days 2 -out "$p/kubelet-client.crt" 2>/dev/null
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$p/sa.key" 2>/dev/null
  openssl pkey -pubout -in "$p/sa.key" -out "$p/sa.pub"
  local who t
  : >"$p/tokens.csv"
  for who in "admin,admin,system:masters" "system:node:$NODE_NAME,kubelet,system:nodes" \
    "system:kube-controller-manager,kcm," "system:kube-scheduler,scheduler," \
    "system:kube-proxy,kube-proxy,"; do
    t=$(openssl rand -hex 16)
    echo "$t,$who" >>"$p/tokens.csv"
    kubeconfig "$dir/$(cut -d, -f2 <<<"$who").kubeconfig" "$t"
  done
}

write_configs() {
  mkdir -p "$dir/cni/net.d" "$dir/containerd"
  cat >"$dir/cni/net.d/10-ssnode.conflist" <<CNI
{"cniVersion": "0.4.0", "name": "ssnode", "plugins": [
  {"type": "bridge", "bridge": "$BR", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$dir/cni/ipam",
     "ranges": [[{"subnet": "$SUBNET", "rangeStart": "10.244.77.10", "gateway": "$NODE_IP"}]],
     "routes": [{"dst": "$SVC_RANGE"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
CNI
  cat >"$dir/containerd/config.toml" <<TOML
version = 2
root = "$dir/containerd/root"
state = "$dir/containerd/state"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "$dir/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/pause:3.4"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$dir/runc"
TOML
  cat >"$dir/kubelet.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
oomScoreAdj: 0
failSwapOn: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%}
makeIPTablesUtilChains: false
protectKernelDefaults: false
serializeImagePulls: false
# Ready is reported on the next status update after registration (default every 10 s).
nodeStatusUpdateFrequency: 2s
KUBELET
  cat >"$dir/kube-proxy.yaml" <<PROXY
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
bindAddress: $NODE_IP
clusterCIDR: $SUBNET
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
clientConnection: {kubeconfig: $dir/kube-proxy.kubeconfig}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
PROXY
}

save_sysctls() {
  local s
  for s in "${SYSCTLS[@]}"; do
    [[ -e /proc/sys/${s//.//} ]] && echo "$s $(cat "/proc/sys/${s//.//}")"
  done >"$dir/sysctls" || true
  local d
  for d in "${HOST_DIRS[@]}"; do [[ -e $d ]] || echo "$d"; done >"$dir/host-dirs"
}

start_control_plane() {
  local etcd_port=$((API_PORT + 1)) peer_port=$((API_PORT + 2))
  spawn etcd "$CP_BIN/etcd" --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port"
  local p=$dir/pki
  spawn kube-apiserver "$CP_BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" --insecure-port 0 \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/kubelet-client.crt" --kubelet-client-key "$p/kubelet-client.key" \
    --kubelet-certificate-authority "" --kubelet-preferred-address-types InternalIP \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --token-auth-file "$p/tokens.csv" --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range "$SVC_RANGE" --allow-privileged=false
  wait_for "kube-apiserver ready" 60 kube-apiserver kc get --raw /readyz
  spawn kube-controller-manager "$CP_BIN/kube-controller-manager" --kubeconfig "$dir/kcm.kubeconfig" \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --use-service-account-credentials --leader-elect=false --port 0 --secure-port 0 \
    --controllers '*,-nodeipam,-route,-cloud-node-lifecycle' --cluster-cidr "$SUBNET"
  spawn kube-scheduler "$NODE_ASSETS/bin/kube-scheduler" --kubeconfig "$dir/scheduler.kubeconfig" \
    --leader-elect=false --port 0 --bind-address 127.0.0.1 --secure-port 0
}

start_node() {
  mkdir -p "$dir/containerd"
  spawn containerd containerd --config "$dir/containerd/config.toml"
  wait_for "containerd socket" 30 containerd ctr --address "$dir/containerd.sock" --connect-timeout 1s version
  ctr --address "$dir/containerd.sock" --connect-timeout 2s -n k8s.io images import \
    "$NODE_ASSETS/pause.tar" >"$dir/pause-import.log" 2>&1 ||
    { cat "$dir/pause-import.log" >&2; die "importing the pause image into containerd"; }
  spawn kubelet env AWS_EC2_METADATA_DISABLED=true "$NODE_ASSETS/bin/kubelet" \
    --kubeconfig "$dir/kubelet.kubeconfig" --config "$dir/kubelet.yaml" \
    --container-runtime remote --container-runtime-endpoint "unix://$dir/containerd.sock" \
    --root-dir "$dir/kubelet" --cert-dir "$dir/kubelet/pki" --node-ip "$NODE_IP" \
    --hostname-override "$NODE_NAME" --v 1
  spawn kube-proxy "$NODE_ASSETS/bin/kube-proxy" --config "$dir/kube-proxy.yaml"
  wait_for "node $NODE_NAME Ready" 90 kubelet \
    sh -c "'$CP_BIN/kubectl' --kubeconfig '$dir/admin.kubeconfig' get node $NODE_NAME \
      -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  # kube-proxy has written the Service rules (10.96.0.1 -> the API server) once healthy.
  wait_for "kube-proxy healthy" 30 kube-proxy \
    curl -sf --max-time 2 "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
  # Pods may only run as the default ServiceAccount once its token exists.
  wait_for "default ServiceAccount token" 30 kube-controller-manager \
    sh -c "'$CP_BIN/kubectl' --kubeconfig '$dir/admin.kubeconfig' get sa default -o jsonpath='{.secrets[0].name}' | grep -q ."
}

start() {
  [[ "$(id -u)" -eq 0 ]] || die "the node needs root (containerd, kubelet, network)"
  [[ -d /sys/fs/cgroup/memory && -d /sys/fs/cgroup/cpu ]] || die "no cgroup v1 memory/cpu controllers at /sys/fs/cgroup: the kubelet cannot run Pods here"
  for b in kubelet kube-scheduler kube-proxy; do [[ -x $NODE_ASSETS/bin/$b ]] || die "$NODE_ASSETS/bin/$b missing: run tests/node/install.sh"; done
  for b in kube-apiserver kube-controller-manager kubectl etcd; do [[ -x $CP_BIN/$b ]] || die "$CP_BIN/$b missing: run tests/envtest/install.sh"; done
  command -v containerd >/dev/null || die "containerd missing: run tests/node/install.sh"
  ! ip link show "$BR" >/dev/null 2>&1 || die "bridge $BR exists: another node runs on this machine (or stop it: node.sh stop DIR)"
  local port
  for port in 10250 10248 "$PROXY_HEALTHZ_PORT" "$PROXY_METRICS_PORT" "$API_PORT" $((API_PORT + 1)) $((API_PORT + 2)); do
    if ss -Hltn "sport = :$port" | grep -q .; then die "port $port is in use (another node on this machine?): the node needs it"; fi
  done
  mkdir -p "$dir"
  : >"$dir/pids"
  save_sysctls
  ip link add "$BR" type bridge
  ip addr add "$NODE_IP/24" dev "$BR"
  ip link set "$BR" up
  make_pki
  write_configs
  local t0=$SECONDS
  start_control_plane
  start_node
  local name pid
  while read -r name pid; do
    kill -0 "$pid" 2>/dev/null || { tail_log "$name"; die "$name exited during start (log: $dir/$name.log)"; }
  done <"$dir/pids"
  log "node $NODE_NAME Ready after $((SECONDS - t0))s; KUBECONFIG=$dir/admin.kubeconfig"
}

# ---- teardown: everything, idempotent, also after the harness was SIGKILLed ----
kill_pids() { # kill_pids NAME...: SIGTERM, then SIGKILL after 10 s
  local name pid pids=()
  for name in "$@"; do
    pid=$(awk -v n="$name" '$1 == n { print $2 }' "$dir/pids" 2>/dev/null) || true
    for p in $pid; do kill -0 "$p" 2>/dev/null && { kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p"; pids+=("$p"); }; done
  done
  local deadline=$((SECONDS + 10))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
}

live_tasks() { # live_tasks CTR... NS: ids of the tasks not STOPPED
  "${@:1:$#-1}" -n "${!#}" tasks ls 2>/dev/null | awk 'NR > 1 && $3 != "STOPPED" { print $1 }'
}

stop_tasks() { # every container task and sandbox: SIGKILL, then wait (bounded) until none runs
  local sock=$dir/containerd.sock ns id
  [[ -S $sock ]] || return 0
  local c=(ctr --address "$sock" --connect-timeout 2s --timeout 10s)
  for ns in $("${c[@]}" namespaces ls -q 2>/dev/null); do
    for id in $(live_tasks "${c[@]}" "$ns"); do
      "${c[@]}" -n "$ns" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
    done
    local deadline=$((SECONDS + 20))
    while [[ -n $(live_tasks "${c[@]}" "$ns") ]] && ((SECONDS < deadline)); do sleep 0.3; done
  done
}

# Every process whose command line names the state dir (the components, containerd-shims with
# -address DIR/containerd.sock, a starter killed between fork and recording its PID).
dir_pids() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    [[ $pid != "$$" && $pid != "$BASHPID" ]] || continue
    # Not a shell (this script, its caller): only the components and their shims.
    case $(readlink "/proc/$pid/exe" 2>/dev/null) in */bash | */sh | */dash | "") continue ;; esac
    tr '\0' '\n' <"$f" 2>/dev/null | grep -qF -- "$dir/" && echo "$pid"
  done
  return 0
}

# Processes left in the kubelet's cgroups (containers whose shim died first).
cgroup_pids() {
  cat /sys/fs/cgroup/*/kubepods/cgroup.procs /sys/fs/cgroup/*/kubepods/*/cgroup.procs \
    /sys/fs/cgroup/*/kubepods/*/*/cgroup.procs /sys/fs/cgroup/*/kubepods/*/*/*/cgroup.procs \
    2>/dev/null | sort -u
  return 0
}

kill_rest() { # SIGKILL whatever dir_pids/cgroup_pids still find, bounded wait for them to go
  local p left deadline=$((SECONDS + 10))
  while :; do
    left=$( { dir_pids; cgroup_pids; } | sort -u)
    [[ -n $left ]] || return 0
    ((SECONDS < deadline)) || { log "processes still alive after SIGKILL: $(tr '\n' ' ' <<<"$left")"; return 0; }
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    sleep 0.2
  done
}

stop() {
  # Without DIR (removed by hand): processes naming it, and the fixed names (no sysctls to restore).
  [[ -d $dir ]] || { log "$dir does not exist: cleaning fixed names only"; kill_rest; clean_host; return 0; }
  kill_pids kubelet kube-proxy kube-scheduler kube-controller-manager
  stop_tasks
  kill_pids containerd
  kill_pids kube-apiserver etcd
  # containerd-shim processes outlive containerd: they hold the dir's mounts.
  kill_rest
  clean_host
  # Mounts under the state dir (overlay rootfs, shm, secret tmpfs, the kubelet's rshared
  # bind mount of its root dir), deepest first.
  local m
  for m in $(awk -v d="$dir/" 'index($2, d) == 1 || $2 == substr(d, 1, length(d) - 1) { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  [[ ! -f $dir/sysctls ]] || while read -r k v; do sysctl -qw "$k=$v" >/dev/null 2>&1 || true; done <"$dir/sysctls"
  [[ ! -f $dir/host-dirs ]] || while read -r d; do if [[ -n $d ]]; then rm -rf -- "$d"; fi; done <"$dir/host-dirs"
  rm -rf -- "$dir"
  log "node stopped, $dir removed"
}

# The legacy tools instantiate the legacy x_tables when they run: only look at them when
# something loaded them already (/proc/net/ip{,6}_tables_names lists a table).
legacy_loaded() {
  case $1 in
    iptables-legacy) [[ -s /proc/net/ip_tables_names ]] ;;
    ip6tables-legacy) [[ -s /proc/net/ip6_tables_names ]] ;;
    *) return 0 ;;
  esac
}

clean_host() {
  local ns m
  # The Pods' network namespaces (CNI's /run/netns) that belong to no running sandbox any more.
  for ns in /run/netns/cni-*; do
    [[ -e $ns ]] || continue
    umount "$ns" 2>/dev/null || true; rm -f "$ns"
  done
  for m in $(awk '$2 ~ "^/var/lib/kubelet" { print $2 }' /proc/self/mounts | sort -r); do umount -l "$m" || true; done
  ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR"
  [[ -x $NODE_ASSETS/bin/kube-proxy ]] && timeout 20 "$NODE_ASSETS/bin/kube-proxy" --cleanup >/dev/null 2>&1 || true
  local ipt chain t
  for ipt in iptables-legacy iptables-nft ip6tables-legacy ip6tables-nft; do
    command -v $ipt >/dev/null || continue
    legacy_loaded "$ipt" || continue
    for t in filter nat mangle; do
      "$ipt-save" -t $t 2>/dev/null | grep -qE '^:(KUBE|CNI)-' || continue
      # Jumps into KUBE-*/CNI-* chains first, then the chains (flushed, then deleted).
      { "$ipt-save" -t $t 2>/dev/null | grep -E '^-A [A-Z-]+ .*-j (KUBE|CNI)-' | grep -vE '^-A (KUBE|CNI)-' | sed 's/^-A /-D /' || true; } |
        while read -r rule; do eval "$ipt -t $t $rule" 2>/dev/null || true; done
      for chain in $("$ipt-save" -t $t 2>/dev/null | awk '/^:(KUBE|CNI)-/ { print substr($1, 2) }'); do $ipt -t $t -F "$chain" 2>/dev/null || true; done
      for chain in $("$ipt-save" -t $t 2>/dev/null | awk '/^:(KUBE|CNI)-/ { print substr($1, 2) }'); do $ipt -t $t -X "$chain" 2>/dev/null || true; done
    done
  done
  # The kubelet's cgroups (cgroupfs driver: /kubepods under each v1 controller).
  for m in /sys/fs/cgroup/*/kubepods; do
    [[ -d $m ]] || continue
    find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  rm -rf /var/log/pods /var/log/containers /var/lib/kubelet/device-plugins
  rmdir /var/lib/kubelet 2>/dev/null || true
}

import() {
  local sock=$dir/containerd.sock f
  [[ -S $sock ]] || die "no containerd socket at $sock: is the node started?"
  for f in "$@"; do
    ctr --address "$sock" --connect-timeout 2s -n k8s.io images import "$f" >&2 || die "importing $f into containerd"
  done
}

case $cmd in
  start) start ;;
  stop) stop ;;
  import) shift 2; import "$@" ;;
  *) die "unknown command $cmd (start, stop, import)" ;;
esac
