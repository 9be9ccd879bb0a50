#!/usr/bin/env bash
# Prepares a fresh Debian machine for dpconform: the system tools the harness drives, bpffs, and the
# project's npm dependencies (which bring the pinned Node 24 runtime). Safe to run again and again.
set -euo pipefail

die() { echo "setup: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || die "dpconform needs Linux (network namespaces, eBPF); this is $(uname -s)"
[ "$(id -u)" -eq 0 ] || die "run as root (sudo scripts/setup.sh): it installs packages and mounts bpffs"
command -v apt-get >/dev/null || die "apt-get not found: this script installs from Debian's packages"

cd "$(dirname "$0")/.."

# Debian package -> a file it provides, so we only call apt when something is missing.
declare -A NEED=(
  [iproute2]=/usr/sbin/ip
  [iptables]=/usr/sbin/iptables
  [tcpdump]=/usr/bin/tcpdump
  [clang]=/usr/bin/clang
  [llvm]=/usr/bin/llvm-objdump
  [bpftool]=/usr/sbin/bpftool
  [libbpf-dev]=/usr/include/bpf/bpf_helpers.h
  [iputils-ping]=/usr/bin/ping
  [procps]=/usr/sbin/sysctl
  [util-linux]=/usr/bin/nsenter
  [libxml2-utils]=/usr/bin/xmllint
  [chromium]=/usr/bin/chromium
  [git]=/usr/bin/git
  [conntrack]=/usr/sbin/conntrack
  # clang needs the kernel's UAPI headers (<asm/types.h>) under the multiarch include directory.
  [linux-libc-dev]=/usr/include/$(uname -m)-linux-gnu/asm/types.h
)
missing=()
for pkg in "${!NEED[@]}"; do
  [ -e "${NEED[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! mountpoint -q /sys/fs/bpf; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf || die "could not mount bpffs on /sys/fs/bpf"
fi
[ -d /sys/fs/cgroup/unified ] || mountpoint -q /sys/fs/cgroup || echo "setup: warning: no cgroup v2 mount found; connect-time load balancing will be unavailable" >&2
for mod in vxlan sch_ingress cls_bpf br_netfilter; do modprobe -q "$mod" 2>/dev/null || true; done

# npm ci only when the lock file changed since the last install (it wipes node_modules).
stamp=node_modules/.dpconform-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
node_modules/.bin/node --version | grep -q '^v24\.' || die "the pinned Node runtime is not 24.x: run npm ci"
echo "setup: ready (node $(node_modules/.bin/node --version), $(clang --version | head -1))"
