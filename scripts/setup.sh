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
  # dpconform run --kernel: qemu boots Debian's kernels with a busybox initramfs; kmod indexes
  # and loads their modules, xz-utils and zstd unpack compressed ones.
  [qemu-system-x86]=/usr/bin/qemu-system-x86_64
  [busybox-static]=/bin/busybox
  [kmod]=/usr/sbin/depmod
  [xz-utils]=/usr/bin/xz
  [zstd]=/usr/bin/zstd
  [iperf3]=/usr/bin/iperf3
  # The docker provider: the engine and client, and mmdebstrap to build the node image from the
  # machine's apt mirror where no image registry is reachable.
  [docker.io]=/usr/sbin/dockerd
  [mmdebstrap]=/usr/bin/mmdebstrap
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
  # Installing docker.io would start a system Docker engine, with its bridge and rules in this
  # machine's namespace; the docker provider starts a private one of its own when none runs, so
  # services are kept from starting while packages install.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! mountpoint -q /sys/fs/bpf; then
  mkdir -p /sys/fs/bpf
  mount -t bpf bpf /sys/fs/bpf || die "could not mount bpffs on /sys/fs/bpf"
fi
# The cgroup v2 hierarchy is wherever mountinfo says (the third field from the end is the file system type).
awk '$(NF-2) == "cgroup2" { found = 1 } END { exit !found }' /proc/self/mountinfo || echo "setup: warning: no cgroup v2 mount found; connect-time load balancing will be unavailable" >&2
for mod in vxlan sch_ingress cls_bpf br_netfilter; do modprobe -q "$mod" 2>/dev/null || true; done

# npm ci only when the lock file changed since the last install (it wipes node_modules).
stamp=node_modules/.dpconform-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund
  echo "$want" > "$stamp"
fi
node_modules/.bin/node --version | grep -q '^v24\.' || die "the pinned Node runtime is not 24.x: run npm ci"
# The docker provider's node image (kept between runs; about a minute the first time).
node_modules/.bin/node src/cli.ts image build ||
  echo "setup: warning: the node image could not be built; the docker provider builds it on its first run" >&2
echo "setup: ready (node $(node_modules/.bin/node --version), $(clang --version | head -1))"
