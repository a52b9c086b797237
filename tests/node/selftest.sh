#!/usr/bin/env bash
# Self-test of the node harness (tests/node/node.sh), bounded in time (about 65 s here; every
# wait has a limit, at most ~10 minutes in all):
#   round "pod":   start the node, run a Pod (a ServiceAccount token mount, a CNI netns and veth),
#                  SIGKILL the harness while the Pod runs, then `node.sh stop`;
#   round "start": SIGKILL the harness in the middle of `node.sh start` (right after the kubelet
#                  was spawned), then `node.sh stop`.
# After each round it asserts that nothing is left behind: no process of the node, no mount under
# the state dir, no Pod netns, no bridge ssnode0, no new veth or netns, no KUBE-*/CNI-* iptables
# chain (legacy and nft, v4 and v6), no kubepods cgroup, sysctls and host directories as before.
# Exit status 0 when clean; otherwise 1 with a one-line reason on stderr (the last line).
#   tests/node/selftest.sh [WORKDIR]     (default: a new directory under /tmp)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
NODE="$HERE/node.sh"
NODE_ASSETS="${NODE_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/node}"
CP_BIN="${KUBEBUILDER_ASSETS:-$HOME/.cache/sealed-secrets-rs/k8s-1.20.2/bin}"
BR=ssnode0
if [[ -n ${1:-} ]]; then WORK=$(realpath -m -- "$1") own_work=0; else WORK=$(mktemp -d /tmp/ssnode-selftest.XXXXXX) own_work=1; fi
DIR=$WORK/node
SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward
  net.ipv4.conf.all.route_localnet)
HOST_DIRS=(/run/containerd /var/lib/cni /var/lib/kubelet /var/log/pods /var/log/containers)

log() { printf '[node/selftest] %s\n' "$*" >&2; }
fail() { printf '[node/selftest] FAIL: %s\n' "$*" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || fail "must run as root (the node needs it)"
mkdir -p "$WORK"

chains() { # every KUBE-*/CNI-* chain, as "TOOL TABLE CHAIN"
  local ipt t
  for ipt in iptables-legacy iptables-nft ip6tables-legacy ip6tables-nft; do
    command -v "$ipt-save" >/dev/null || continue
    # Running a legacy tool loads the legacy tables: only when something loaded them already.
    case $ipt in
      iptables-legacy) [[ -s /proc/net/ip_tables_names ]] || continue ;;
      ip6tables-legacy) [[ -s /proc/net/ip6_tables_names ]] || continue ;;
    esac
    for t in filter nat mangle raw; do
      "$ipt-save" -t $t 2>/dev/null | awk -v i="$ipt" -v t=$t '/^:(KUBE|CNI)-/ { print i, t, substr($1, 2) }'
    done
  done
}
veths() { ip -o link show type veth 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
netns() { ls -1 /run/netns 2>/dev/null | sort; }
sysctls() { local s; for s in "${SYSCTLS[@]}"; do echo "$s=$(cat "/proc/sys/${s//.//}" 2>/dev/null)"; done; }
node_pids() { # processes of the node: cmdline naming the state dir, or a node binary, or in kubepods
  local f pid exe
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}; pid=${pid%/cmdline}
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    case $exe in */bash | */sh | */dash) continue ;; esac
    case $exe in
      "$NODE_ASSETS"/bin/* | /usr/bin/containerd | /usr/bin/containerd-shim* | /usr/sbin/runc | /usr/bin/runc)
        echo "$pid $(tr '\0' ' ' <"$f" | cut -c1-120)"; continue ;;
    esac
    if tr '\0' '\n' <"$f" 2>/dev/null | grep -qF -- "$DIR/"; then echo "$pid $(tr '\0' ' ' <"$f" | cut -c1-120)"; fi
  done
  cat /sys/fs/cgroup/*/kubepods/cgroup.procs 2>/dev/null | sed 's/$/ (in a kubepods cgroup)/' || true
}

before_veths=$(veths) before_netns=$(netns) before_sysctls=$(sysctls)
before_dirs=$(for d in "${HOST_DIRS[@]}"; do [[ -e $d ]] && echo "$d"; done || true)
[[ -z $(chains) ]] || fail "KUBE-/CNI- iptables chains exist before the test: $(chains | head -1) (a node running? node.sh stop DIR)"
! ip link show "$BR" >/dev/null 2>&1 || fail "bridge $BR exists before the test: a node runs on this machine"
[[ -z $(node_pids) ]] || fail "node processes run before the test: $(node_pids | head -1)"

assert_clean() { # assert_clean ROUND
  local r=$1 x
  x=$(node_pids); [[ -z $x ]] || fail "$r: processes left: $(head -1 <<<"$x")"
  x=$(awk -v d="$DIR" 'index($2, d) == 1 || $2 ~ "^/run/netns/cni-" || $2 ~ "^/var/lib/kubelet" { print $2 }' /proc/self/mounts)
  [[ -z $x ]] || fail "$r: mounts left: $(head -1 <<<"$x")"
  ! ip link show "$BR" >/dev/null 2>&1 || fail "$r: bridge $BR left"
  x=$(comm -13 <(echo "$before_veths") <(veths) | grep . || true); [[ -z $x ]] || fail "$r: veths left: $x"
  x=$(comm -13 <(echo "$before_netns") <(netns) | grep . || true); [[ -z $x ]] || fail "$r: netns left: $x"
  x=$(chains); [[ -z $x ]] || fail "$r: iptables chains left: $(head -1 <<<"$x") ($(wc -l <<<"$x") in all)"
  x=$(ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null || true); [[ -z $x ]] || fail "$r: cgroups left: $(head -1 <<<"$x")"
  x=$(diff <(echo "$before_sysctls") <(sysctls) | grep '^>' || true); [[ -z $x ]] || fail "$r: sysctls not restored: $x"
  for x in "${HOST_DIRS[@]}"; do
    [[ ! -e $x ]] || grep -qxF "$x" <<<"$before_dirs" || fail "$r: host directory left: $x"
  done
  [[ ! -e $DIR ]] || fail "$r: state dir $DIR left"
  ! ss -Hltn 'sport = :10250' | grep -q . || fail "$r: port 10250 still listened on"
  log "$r: clean"
}

# wait_until SECONDS WHAT CMD...: bounded poll; fails (one line) with the harness log named.
wait_until() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || { tail -n 5 "$WORK/harness.log" >&2; fail "$what: not within ${secs}s (log: $WORK/harness.log)"; }
    kill -0 "$harness" 2>/dev/null || { tail -n 5 "$WORK/harness.log" >&2; fail "$what: the harness exited first (log: $WORK/harness.log)"; }
    sleep 0.5
  done
}

kill_harness() { # SIGKILL the harness' whole process group (the node's components have their own sessions)
  kill -KILL -- "-$harness" 2>/dev/null || kill -KILL "$harness" 2>/dev/null || true
  wait "$harness" 2>/dev/null || true
}

stop_node() { # stop_node ROUND: `node.sh stop`, bounded
  local r=$1 t0=$SECONDS
  timeout 120 "$NODE" stop "$DIR" >"$WORK/stop.log" 2>&1 || { tail -n 5 "$WORK/stop.log" >&2; fail "$r: node.sh stop failed (log: $WORK/stop.log)"; }
  log "$r: stop took $((SECONDS - t0))s"
}

# ---- round "pod": SIGKILL while a Pod runs ----
t0=$SECONDS
# Every new connection during the round (node.md: the kubelet must not dial the cloud metadata
# address; Pods have no way off the bridge). Checked after the round.
ct=""
trap 'if [[ -n $ct ]]; then kill "$ct" 2>/dev/null || true; fi' EXIT
if command -v conntrack >/dev/null; then
  timeout 400 conntrack -E -e NEW >"$WORK/conntrack.log" 2>/dev/null &
  ct=$!
fi
log "pod: starting the node in $DIR and a Pod (harness log: $WORK/harness.log)"
rm -f "$WORK/pod-running"
setsid bash -c '
  set -euo pipefail
  "$1" start "$2"
  "$3/kubectl" --kubeconfig "$2/admin.kubeconfig" apply -f - <<POD
apiVersion: v1
kind: Pod
metadata: {name: selftest}
spec:
  containers:
  - name: pause
    image: localhost/pause:3.4
    imagePullPolicy: Never
    securityContext: {runAsNonRoot: true, runAsUser: 65535, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false}
POD
  "$3/kubectl" --kubeconfig "$2/admin.kubeconfig" wait --for=condition=Ready pod/selftest --timeout=90s
  touch "$4"
  sleep 600
' selftest "$NODE" "$DIR" "$CP_BIN" "$WORK/pod-running" </dev/null >"$WORK/harness.log" 2>&1 &
harness=$!
wait_until 240 "pod: node start and Pod Ready" test -e "$WORK/pod-running"
log "pod: Pod Ready after $((SECONDS - t0))s"
# Something to clean up, or the test proves nothing.
grep -qF "$DIR/kubelet/pods/" /proc/self/mounts || fail "pod: no token mount under $DIR/kubelet/pods while the Pod runs"
[[ -n $(comm -13 <(echo "$before_netns") <(netns) | grep cni- || true) ]] || fail "pod: no Pod netns while the Pod runs"
[[ -n $(chains) ]] || fail "pod: no KUBE- iptables chain while the node runs (kube-proxy?)"
kill_harness
log "pod: harness SIGKILLed"
stop_node pod
assert_clean pod
if [[ -n $ct ]]; then
  kill "$ct" 2>/dev/null || true; wait "$ct" 2>/dev/null || true
  # Original direction only: to a link-local (metadata) address from anywhere, or from the Pod
  # or Service range to anything but loopback, the node's bridge and the Service range.
  x=$(awk '{ s = ""; d = ""; for (i = 1; i <= NF; i++) { if (s == "" && $i ~ /^src=/) s = substr($i, 5); else if (d == "" && $i ~ /^dst=/) d = substr($i, 5) }
             if (d ~ /^169\.254\./ || ((s ~ /^10\.244\.77\./ || s ~ /^10\.96\.0\./) && d !~ /^(127\.|10\.244\.77\.|10\.96\.0\.)/)) print }' "$WORK/conntrack.log")
  [[ -z $x ]] || fail "pod: a connection left the node's networks: $(head -1 <<<"$x")"
  log "pod: $(wc -l <"$WORK/conntrack.log") new connections seen, none off loopback/bridge/Service range"
fi

# ---- round "start": SIGKILL in the middle of node.sh start ----
log "start: starting the node, SIGKILL once the kubelet is spawned"
setsid "$NODE" start "$DIR" </dev/null >"$WORK/harness.log" 2>&1 &
harness=$!
wait_until 120 "start: kubelet spawned" grep -qs '^kubelet ' "$DIR/pids"
kill_harness
log "start: harness SIGKILLed"
stop_node start
assert_clean start

log "OK: nothing left behind after SIGKILL (both rounds) in $((SECONDS))s"
if ((own_work)); then rm -rf "$WORK"; else rm -f "$WORK"/{harness.log,stop.log,conntrack.log,pod-running}; fi
