# shellcheck shell=bash
# Sourced by controller-pod.sh, deploy-test.sh and tools-test.sh: what the kubelet enforced on a container's
# process, read from the node's /proc.
#   proc_check PID UID GID   prints a one-line summary; on a violation prints the reason and
#                            returns 1 (GID empty: not checked, e.g. the chart's runAsUser alone)
# PROC_CHECK_EXE: the program expected (default sealed-secrets-controller; e.g. ccloud-keys).
# Checks: the exe is that program; every Uid (and Gid) field is UID (GID); CapEff 0;
# NoNewPrivs 1; Seccomp 2 (filter; not checked with PROC_CHECK_SECCOMP=0); `/` mounted read-only and a write through /proc/PID/root
# fails; for the controller, the image's /usr/local/bin/controller -> sealed-secrets-controller
# link (the upstream chart's command).
proc_check() {
  local pid=$1 uid=$2 gid=${3:-} exe v ruid euid suid fsuid rgid egid sgid fsgid rootopts
  [[ -n $pid && -d /proc/$pid ]] || { echo "no process $pid"; return 1; }
  exe=$(readlink "/proc/$pid/exe")
  local want=${PROC_CHECK_EXE:-sealed-secrets-controller}
  [[ $exe == */"$want" ]] || { echo "process $pid runs $exe, not $want"; return 1; }
  read -r _ ruid euid suid fsuid < <(grep '^Uid:' "/proc/$pid/status")
  read -r _ rgid egid sgid fsgid < <(grep '^Gid:' "/proc/$pid/status")
  for v in "$ruid" "$euid" "$suid" "$fsuid"; do
    [[ $v == "$uid" ]] || { echo "process $pid: Uid $ruid $euid $suid $fsuid, expected $uid"; return 1; }
  done
  if [[ -n $gid ]]; then
    for v in "$rgid" "$egid" "$sgid" "$fsgid"; do
      [[ $v == "$gid" ]] || { echo "process $pid: Gid $rgid $egid $sgid $fsgid, expected $gid"; return 1; }
    done
  fi
  grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || { echo "process $pid has capabilities: $(grep CapEff "/proc/$pid/status")"; return 1; }
  grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || { echo "process $pid: no_new_privs not set"; return 1; }
  if [[ ${PROC_CHECK_SECCOMP:-1} == 1 ]]; then
    grep -q '^Seccomp:[[:space:]]*2$' "/proc/$pid/status" || { echo "process $pid: no seccomp filter"; return 1; }
  fi
  rootopts=$(awk '$2 == "/" { o = $4 } END { print o }' "/proc/$pid/mounts")
  [[ $rootopts == ro,* || $rootopts == ro ]] || { echo "process $pid: / is mounted '$rootopts', not read-only"; return 1; }
  if touch "/proc/$pid/root/.write-probe" 2>/dev/null; then
    rm -f "/proc/$pid/root/.write-probe"
    echo "process $pid: a file could be written in its /"; return 1
  fi
  if [[ $want == sealed-secrets-controller ]]; then
    [[ $(readlink "/proc/$pid/root/usr/local/bin/controller") == sealed-secrets-controller ]] ||
      { echo "the image has no /usr/local/bin/controller -> sealed-secrets-controller"; return 1; }
  fi
  echo "process $pid ($exe): uid $uid${gid:+ gid $gid}, CapEff 0, no_new_privs,$([[ ${PROC_CHECK_SECCOMP:-1} == 1 ]] && echo ' seccomp,') / mounted ${rootopts%%,*}"
}
