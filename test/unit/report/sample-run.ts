/**
 * A run with every shape the report must handle: three passes, every verdict, every evidence
 * kind, evidence files (kept and left out by the size cap), summaries, area and run problems,
 * and text that would break each format if it were not escaped.
 */
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import { finalizeRun, type Requirement, type Run, SCHEMA_VERSION } from '../../../src/report/model.ts';

/** Text that is markup in XML, HTML and Markdown, plus characters XML cannot hold. */
export const NASTY = `<script>alert("x")</script> & 'q' | *b* _i_ \`c\` ]]> [l](http://e.invalid) \u0001 # ~`;

function req(partial: Partial<Requirement> & Pick<Requirement, 'id' | 'statement' | 'verdict'>): Requirement {
  return { durationMs: 120, evidence: [], ...partial };
}

/** Builds the sample run (verdicts recomputed by {@link finalizeRun}). */
export function sampleRun(): Run {
  const environment: Run['environment'] = {
    hostname: 'ci-runner-7',
    arch: 'x64',
    kernel: {
      release: '6.8.0-45-generic',
      version: '#45-Ubuntu SMP PREEMPT_DYNAMIC',
      btf: true,
      bpffsMounted: true,
    },
    features: [
      { name: 'tc clsact + sched_cls programs', state: 'yes', detail: 'CONFIG_NET_SCH_INGRESS=y' },
      { name: 'BPF JIT', state: 'yes', detail: 'bpf_jit_enable=1' },
      { name: 'helper bpf_skb_set_tunnel_key (sched_cls)', state: 'yes' },
      { name: 'helper bpf_redirect_neigh (sched_cls)', state: 'no' },
      { name: 'LRU hash maps', state: 'yes' },
      { name: 'VXLAN', state: 'unknown', detail: 'not loaded and no module list to check' },
    ],
    tools: [
      { name: 'clang', found: true, version: '14.0.6', detail: 'Debian clang version 14.0.6' },
      { name: 'bpftool', found: true, version: '7.1.0', detail: 'libbpf v1.1' },
      { name: 'iptables', found: true, version: '1.8.9', detail: 'nf_tables' },
      { name: 'tcpdump', found: false },
      { name: 'node', found: true, version: '24.21.0' },
    ],
    bpfSource: { commit: '0123456789abcdef0123456789abcdef01234567', dirty: true },
  };
  const nodeport = (dsrBroken: boolean) => ({
    name: 'nodeport',
    verdict: 'conformant' as const,
    problems: [],
    requirements: [
      req({
        id: 'NP-001',
        statement: "a NodePort answers on every node's IP",
        verdict: 'conformant',
        durationMs: 842,
        summary: 'every node answered; the echo server saw 172.18.0.100 each time',
        evidence: [
          {
            kind: 'echo',
            from: 'dpc-client',
            target: '172.18.0.3:30080',
            protocol: 'http',
            ok: true,
            sourceSeen: '172.18.0.100',
            reply: '{"client":"172.18.0.100:41234","pod":"echo-7d9c-2"}',
            totalMs: 3,
          },
          {
            kind: 'counter',
            name: 'calico_bpf_connections_total',
            where: 'dpc-worker',
            before: 10,
            after: 13,
            delta: 3,
          },
        ],
      }),
      req({
        id: 'NP-002',
        statement: 'a NodePort hit on node A for a backend on node B replies through A',
        verdict: dsrBroken ? 'non-conformant' : 'conformant',
        durationMs: 2310,
        attachments: [
          {
            path: `evidence/${dsrBroken ? 'bpf-DSR' : 'bpf-Tunnel'}/NP-002/dpc-client-eth0.pcap`,
            kind: 'pcap',
            title: 'capture on dpc-client eth0, the client (tcp port 30080)',
            where: 'dpc-client eth0',
            mediaType: 'application/vnd.tcpdump.pcap',
            bytes: 412,
            sha256: 'ab'.repeat(32),
          },
          {
            path: `evidence/${dsrBroken ? 'bpf-DSR' : 'bpf-Tunnel'}/NP-002/probes.txt`,
            kind: 'transcript',
            title: 'every probe the requirement made, with its whole reply',
            mediaType: 'text/plain',
            bytes: 230,
            sha256: 'cd'.repeat(32),
          },
        ],
        ...(dsrBroken
          ? {
              failure: {
                message: 'the reply did not come from the frontend',
                expected: 'source 172.18.0.2:30080',
                seen: 'source 10.244.2.5:8080 (the backend pod)',
                where: 'dpc-client eth0',
                source: 'suites/nodeport.test.ts:88:7',
                type: 'ConformanceFailure',
              },
            }
          : {}),
        evidence: [
          {
            kind: 'packet',
            where: 'dpc-client eth0',
            filter: 'tcp port 30080',
            packets: [
              'IP 172.18.0.100.41234 > 172.18.0.2.30080: Flags [S], seq 1',
              'IP 10.244.2.5.8080 > 172.18.0.100.41234: Flags [S.], seq 9, ack 2',
            ],
          },
        ],
      }),
      req({
        id: 'NP-010',
        statement: `a statement with markup ${NASTY}`,
        verdict: 'skipped',
        reason: `kind not installed ${NASTY}`,
        durationMs: 0,
      }),
    ],
  });
  const passes: Run['passes'] = [
    {
      mode: { dataplane: 'bpf', serviceMode: 'Tunnel' },
      startedAt: '2025-03-01T10:00:00.000Z',
      durationMs: 61_000,
      verdict: 'conformant',
      problems: [],
      areas: [
        nodeport(false),
        {
          name: 'map-full',
          verdict: 'conformant',
          problems: [],
          requirements: [
            req({
              id: 'MF-001',
              statement: 'a full conntrack map refuses new flows and keeps established ones',
              verdict: 'conformant',
              durationMs: 5400,
              evidence: [
                {
                  kind: 'map',
                  name: 'cali_v4_ct',
                  where: 'dpc-worker',
                  entries: 490,
                  capacity: 512,
                  warnAt: 0.8,
                },
                { kind: 'text', label: 'control plane log', text: `conntrack map full\n${NASTY}` },
                {
                  kind: 'figure',
                  name: 'new flows per second with the map full',
                  value: 1520,
                  unit: 'flows/s',
                  spread: 40,
                  better: 'higher',
                },
              ],
              attachments: [
                {
                  path: 'evidence/bpf-Tunnel/MF-001/conntrack-dpc-worker.json',
                  kind: 'map-dump',
                  title: 'cali_v4_ct on dpc-worker',
                  where: 'dpc-worker',
                  mediaType: 'application/json',
                  bytes: 900,
                  sha256: 'ef'.repeat(32),
                },
                {
                  path: 'evidence/bpf-Tunnel/MF-001/metrics-dpc-worker.prom',
                  kind: 'metrics',
                  title: `scrape of http://172.18.0.3:9091/metrics ${NASTY}`,
                  mediaType: 'text/plain; version=0.0.4',
                  bytes: 2_000_000,
                  omitted: "the run's evidence size cap (1.0 MiB) was reached",
                },
              ],
            }),
          ],
        },
      ],
    },
    {
      mode: { dataplane: 'bpf', serviceMode: 'DSR' },
      startedAt: '2025-03-01T10:01:01.000Z',
      durationMs: 75_500,
      verdict: 'conformant',
      problems: [],
      areas: [
        nodeport(true),
        {
          name: 'map-full',
          verdict: 'conformant',
          problems: [],
          requirements: [
            req({
              id: 'MF-001',
              statement: 'a full conntrack map refuses new flows and keeps established ones',
              verdict: 'error',
              reason: 'command exited 1: bpftool map show pinned /sys/fs/bpf/dpc-x/ct',
              durationMs: 310,
              failure: {
                message: `command exited 1: bpftool map show pinned /sys/fs/bpf/dpc-x/ct — ${NASTY}`,
                seen: 'Error: bpf obj get (/sys/fs/bpf/dpc-x): No such file or directory',
                source: 'suites/map-full.test.ts:20:5',
                type: 'CommandError',
              },
            }),
          ],
        },
      ],
    },
    {
      mode: { dataplane: 'iptables', serviceMode: 'Tunnel' },
      startedAt: '2025-03-01T10:02:17.000Z',
      durationMs: 30_000,
      verdict: 'conformant',
      problems: ['unhandled error: socket hang up'],
      areas: [
        {
          name: 'policy',
          verdict: 'conformant',
          problems: [`suites/policy.test.ts > ingress: teardown broke ${NASTY}`],
          requirements: [
            req({ id: 'POL-001', statement: 'a default-deny policy drops ingress', verdict: 'conformant' }),
          ],
        },
      ],
    },
  ];
  return finalizeRun({
    schemaVersion: SCHEMA_VERSION,
    runId: 'r20250301-100000-ab12',
    startedAt: '2025-03-01T10:00:00.000Z',
    endedAt: '2025-03-01T10:02:47.500Z',
    environment,
    config: {
      provider: 'netns',
      nodeCount: 3,
      settings: { ...DEFAULT_FELIX_SETTINGS },
      areas: ['nodeport', 'map-full', 'policy'],
      argv: ['dpconform', 'run', '--all-modes'],
    },
    passes,
    evidenceFiles: {
      policy: 'all',
      capBytes: 1024 * 1024,
      files: 5,
      bytes: 2184,
      omittedFiles: 1,
      omittedBytes: 2_000_000,
    },
  });
}

/** The sample run as report schema 1 wrote it: no evidence files, summaries or figures. */
export function schemaOneRun(): Omit<Run, 'schemaVersion'> & { schemaVersion: 1 } {
  const run = sampleRun();
  const { evidenceFiles: _e, ...rest } = run;
  const passes = rest.passes.map((p) => ({
    ...p,
    areas: p.areas.map((a) => ({
      ...a,
      requirements: a.requirements.map((r) => {
        const { attachments: _a, summary: _s, ...plain } = r;
        return { ...plain, evidence: plain.evidence.filter((e) => e.kind !== 'figure') };
      }),
    })),
  }));
  return { ...rest, passes, schemaVersion: 1 };
}

/** A run in which every requirement conforms. */
export function conformantRun(): Run {
  const run = sampleRun();
  const passes = run.passes.slice(0, 1).map((p) => ({
    ...p,
    problems: [],
    areas: p.areas.map((a) => ({
      ...a,
      problems: [],
      requirements: a.requirements.map((r) => {
        const { failure: _f, reason: _r, ...rest } = r;
        return { ...rest, verdict: 'conformant' as const };
      }),
    })),
  }));
  return finalizeRun({ ...run, passes });
}
