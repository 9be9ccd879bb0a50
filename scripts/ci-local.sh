#!/usr/bin/env bash
# The CI recipe of docs/ci/dpconform.yml, run on this machine: three jobs of its matrix (eBPF in
# Tunnel mode, eBPF in DSR mode, the iptables baseline), each a real `dpconform run` whose report
# directory is "uploaded" to an artifacts folder; then the final job: "download" them, merge them
# into one qualification report, and diff it against the main branch's last report, failing on a
# regression. Run it as root on a machine `scripts/setup.sh` has prepared.
#
#   scripts/ci-local.sh [--out DIR] [--suite LIST] [--baseline DIR]
#
#   --out DIR       where the jobs' artifacts, the qualification and the diff go (default: a new
#                   folder under /tmp, printed at the end)
#   --suite LIST    the suites each job runs (default dsr: short, and it exercises every mode)
#   --baseline DIR  the main branch's last qualification report; without it, this run's own
#                   merge stands in for it (the diff must then be empty)
#
# Exit codes: 0 no regression, 1 a regression (the diff says which), 2 bad command line,
# 3 a job could not run.
set -euo pipefail

die() { echo "ci-local: $1" >&2; exit "${2:-2}"; }

out='' suite='dsr' baseline=''
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
    --suite) [ $# -ge 2 ] || die "--suite needs a list of suites"; suite=$2; shift 2 ;;
    --baseline) [ $# -ge 2 ] || die "--baseline needs a report folder"; baseline=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument \"$1\" (see scripts/ci-local.sh --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (sudo scripts/ci-local.sh): each job is a dpconform run" 3
[ -z "$baseline" ] || [ -f "$baseline/report.json" ] || die "--baseline $baseline holds no report.json"

cd "$(dirname "$0")/.."
node=node_modules/.bin/node
[ -x "$node" ] || die "node_modules/.bin/node is missing: run scripts/setup.sh first" 3
dpconform() { "$node" bin/dpconform.js "$@"; }

if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/dpc-ci-local-XXXXXX)
else
  mkdir -p "$out"
  [ -z "$(ls -A "$out")" ] || die "--out $out is not empty: remove it or choose another folder"
fi
out=$(cd "$out" && pwd)

# The matrix: name, then the flags of `dpconform run` for that mode (docs/ci/dpconform.yml).
jobs=(
  "tunnel --dataplane bpf --service-mode Tunnel"
  "dsr --dataplane bpf --service-mode DSR"
  "iptables --dataplane iptables"
)

for job in "${jobs[@]}"; do
  read -r name rest <<<"$job"
  read -r -a flags <<<"$rest"
  echo "== job $name: dpconform run ${flags[*]} --suite $suite"
  workspace="$out/jobs/$name"
  mkdir -p "$workspace"
  # A non-conformant run (exit 1) still uploads its report; anything else stops the workflow.
  status=0; dpconform run "${flags[@]}" --suite "$suite" --report-dir "$workspace/reports" || status=$?
  # Bad input (exit 2) is the command line's fault, anything else the machine's.
  [ "$status" -le 1 ] || die "job $name: dpconform run exited $status" "$([ "$status" -eq 2 ] && echo 2 || echo 3)"
  # upload-artifact: the job's reports/ folder, under the job's artifact name.
  mkdir -p "$out/artifacts/dpconform-local-$name"
  cp -a "$workspace/reports/." "$out/artifacts/dpconform-local-$name/"
done

echo "== final job: merge"
# download-artifact puts each artifact in a folder of its own: artifacts/<artifact>/<run-id>/.
status=0; dpconform report merge "$out"/artifacts/*/*/report.json --out "$out/qualification" || status=$?
[ "$status" -le 1 ] || die "report merge exited $status" 3

if [ -z "$baseline" ]; then
  echo "== no --baseline: this run's own merge stands in for the main branch's last report"
  status=0; dpconform report merge "$out"/artifacts/*/*/report.json --out "$out/main-last" >/dev/null || status=$?
  [ "$status" -le 1 ] || die "report merge exited $status" 3
  baseline="$out/main-last"
fi

echo "== final job: diff against $baseline"
status=0; dpconform report diff "$baseline" "$out/qualification" >"$out/diff.md" || status=$?
[ "$status" -le 1 ] || die "report diff exited $status" 3
if [ -s "$out/diff.md" ]; then cat "$out/diff.md"; else echo "no difference from the baseline"; fi
echo "qualification: $out/qualification/report.html"
exit "$status"
