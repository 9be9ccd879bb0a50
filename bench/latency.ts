/**
 * The seed guide's "O(1)" claim, measured: connection latency (TCP connect plus one HTTP GET)
 * from the external client through a NodePort while 10, 1,000 and 10,000 services are
 * programmed, in eBPF mode and in iptables mode, side by side.
 */
import { startCluster } from '../src/cluster/providers.ts';
import type { Cluster } from '../src/cluster/types.ts';
import type { DataplaneMode } from '../src/k8s/felix-settings.ts';
import type { ProbeRequest } from '../src/workload/types.ts';
import { median, ms, percentile } from './stats.ts';

const ECHO = new URL('../fixtures/workloads/echo.yaml', import.meta.url).pathname;

/** `count` ClusterIP services over the echo pods (NodePorts could not number 10,000). */
function fillerServices(from: number, count: number): object[] {
  return Array.from({ length: count }, (_, k) => from + k).map((i) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `filler-${i}`, namespace: 'default' },
    spec: { selector: { app: 'echo' }, ports: [{ port: 80, targetPort: 8080 }] },
  }));
}

/** One mode at one scale. */
export interface LatencyFigures {
  mode: DataplaneMode;
  services: number;
  p50: number;
  p99: number;
  programMs: number;
}

async function measure(c: Cluster, samples: number): Promise<{ p50: number; p99: number }> {
  const node = c.topology().nodes[0]!;
  const req: ProbeRequest = { kind: 'http', host: node.ip, port: 30081, path: '/hostname', timeoutMs: 2000 };
  await c.probes(
    'client',
    Array.from({ length: 20 }, () => req),
    1,
  );
  const results = await c.probes(
    'client',
    Array.from({ length: samples }, () => req),
    1,
  );
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) throw new Error(`${failed.length} of ${samples} probes failed: ${failed[0]!.error}`);
  const totals = results.map((r) => r.totalMs);
  return { p50: median(totals), p99: percentile(totals, 99) };
}

/** Measures one dataplane at each scale on one cluster, growing the service count. */
export async function benchLatency(
  mode: DataplaneMode,
  scales: readonly number[],
  samples: number,
): Promise<LatencyFigures[]> {
  const out: LatencyFigures[] = [];
  const c = await startCluster('netns', { nodes: 2, dataplane: mode });
  try {
    await c.apply(ECHO);
    for (const total of scales) {
      const t0 = performance.now();
      // The echo fixture already brings a handful of services; fillers make up the rest.
      const fillers = Math.max(0, total - c.model().services.length);
      if (fillers > 0) await c.apply(fillerServices(c.model().services.length, fillers));
      const programMs = performance.now() - t0;
      out.push({ mode, services: c.model().services.length, programMs, ...(await measure(c, samples)) });
    }
  } finally {
    await c.down();
  }
  return out;
}

/** The latency section of `npm run bench`. */
export async function latencySection(): Promise<string[]> {
  const scales = [10, 1000, 10000];
  const samples = 300;
  const bpf = await benchLatency('bpf', scales, samples);
  const ipt = await benchLatency('iptables', scales, samples);
  const lines = [
    `NodePort connection latency, TCP connect + HTTP GET, ${samples} connections each (2 nodes)`,
    '  services  | eBPF p50    p99       program   | iptables p50  p99       program   | p50 iptables/eBPF',
  ];
  for (let i = 0; i < scales.length; i++) {
    const b = bpf[i]!;
    const t = ipt[i]!;
    lines.push(
      `  ${String(b.services).padStart(8)}  | ${ms(b.p50).padEnd(10)} ${ms(b.p99).padEnd(9)} ${`${(b.programMs / 1000).toFixed(1)} s`.padEnd(9)} | ${ms(t.p50).padEnd(12)} ${ms(t.p99).padEnd(9)} ${`${(t.programMs / 1000).toFixed(1)} s`.padEnd(9)} | ${(t.p50 / b.p50).toFixed(2)}x`,
    );
  }
  const last = scales.length - 1;
  lines.push(
    `  eBPF p50 at ${bpf[last]!.services} services / at ${bpf[0]!.services}: ${(bpf[last]!.p50 / bpf[0]!.p50).toFixed(2)}x (aim: within 1.2x)`,
    `  iptables p50 at ${ipt[last]!.services} services / at ${ipt[0]!.services}: ${(ipt[last]!.p50 / ipt[0]!.p50).toFixed(2)}x`,
  );
  return lines;
}
