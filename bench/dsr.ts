/**
 * Tunnel vs DSR through a NodePort whose only backend is on another node: requests per second,
 * latency, and how many packets the entry node handles per request (counted from a capture).
 */
import { startCluster } from '../src/cluster/providers.ts';
import type { Cluster } from '../src/cluster/types.ts';
import { withCaptures } from '../src/observe/index.ts';
import type { ProbeRequest } from '../src/workload/types.ts';
import { median, ms, percentile } from './stats.ts';

const SOLO = new URL('../fixtures/workloads/solo.yaml', import.meta.url).pathname;

interface ModeFigures {
  mode: 'Tunnel' | 'DSR';
  rps: number;
  p50: number;
  p99: number;
  packetsOnEntryPerRequest: number;
}

async function measureMode(
  c: Cluster,
  mode: 'Tunnel' | 'DSR',
  req: ProbeRequest,
  entry: string,
): Promise<ModeFigures> {
  await c.patchFelix({ bpfExternalServiceMode: mode });
  await c.probes(
    'client',
    Array.from({ length: 20 }, () => req),
    1,
  );
  const lat = await c.probes(
    'client',
    Array.from({ length: 300 }, () => req),
    1,
  );
  if (lat.some((r) => !r.ok)) throw new Error(`${mode}: probes failed`);
  const t0 = performance.now();
  const burst = await c.probes(
    'client',
    Array.from({ length: 600 }, () => req),
    8,
  );
  const rps = burst.length / ((performance.now() - t0) / 1000);
  if (burst.some((r) => !r.ok)) throw new Error(`${mode}: burst probes failed`);
  const requests = 20;
  const run = await withCaptures(
    { entry: c.captureSpec(entry, 'eth0', `host ${c.topology().clients[0]!.ip} or udp port 4789`) },
    () =>
      c.probes(
        'client',
        Array.from({ length: requests }, () => req),
        1,
      ),
  );
  const totals = lat.map((r) => r.totalMs);
  return {
    mode,
    rps,
    p50: median(totals),
    p99: percentile(totals, 99),
    packetsOnEntryPerRequest: run.packets.entry.length / requests,
  };
}

/** The DSR section of `npm run bench`. */
export async function dsrSection(): Promise<string[]> {
  const c = await startCluster('netns', { nodes: 3, dataplane: 'bpf' });
  try {
    await c.apply(SOLO);
    const svc = c.model().services.find((s) => s.name === 'solo-cluster')!;
    const backendNode = c.model().pods.find((p) => p.labels.app === 'solo')!.nodeName;
    const entry = c.topology().nodes.find((n) => n.name !== backendNode)!;
    const port = svc.ports.find((p) => p.name === 'http')!.nodePort!;
    const req: ProbeRequest = { kind: 'http', host: entry.ip, port, path: '/hostname', timeoutMs: 2000 };
    const tunnel = await measureMode(c, 'Tunnel', req, entry.name);
    const dsr = await measureMode(c, 'DSR', req, entry.name);
    const row = (f: ModeFigures) =>
      `  ${f.mode.padEnd(7)} ${f.rps.toFixed(0).padStart(6)} req/s   p50 ${ms(f.p50).padEnd(9)} p99 ${ms(f.p99).padEnd(9)} packets on the entry node per request ${f.packetsOnEntryPerRequest.toFixed(1)}`;
    return [
      `Tunnel vs DSR, NodePort on ${entry.name} with its backend on ${backendNode} (HTTP, a new connection per request)`,
      row(tunnel),
      row(dsr),
      `  DSR/Tunnel: req/s ${(dsr.rps / tunnel.rps).toFixed(2)}x, p50 ${(dsr.p50 / tunnel.p50).toFixed(2)}x, entry-node packets ${(dsr.packetsOnEntryPerRequest / tunnel.packetsOnEntryPerRequest).toFixed(2)}x`,
    ];
  } finally {
    await c.down();
  }
}
