/**
 * The metrics endpoint and the `bpf` inspection commands on a real two-node eBPF cluster: the
 * counters a scrape reports move with the traffic sent, and the NAT gauge matches the map.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseCommand } from '../../../src/cli/command.ts';
import { bpf } from '../../../src/cli/commands/bpf.ts';
import { metrics } from '../../../src/cli/commands/metrics.ts';
import type { CounterLine, MapLine, NatLine } from '../../../src/cli/inspect.ts';
import { startCluster } from '../../../src/cluster/providers.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import type { Cluster, FelixSettings, NodeInfo } from '../../../src/cluster/types.ts';
import { metricsFiles, stopMetricsServers } from '../../../src/dataplane/bpf/metrics/process.ts';
import { parseExposition, sumOf } from '../../../src/observe/prometheus.ts';
import { leftoversOf } from '../cluster/leftovers.ts';

const ECHO = new URL('../../../fixtures/workloads/echo.yaml', import.meta.url).pathname;
const PROBES = 12;
const NODEPORT = 30081;

let c: Cluster;
let settings: FelixSettings;
let node: NodeInfo;

beforeAll(async () => {
  // An eBPF cluster starts a metrics server on every node.
  c = await startCluster('netns', { nodes: 2, dataplane: 'bpf' });
  await c.apply(ECHO);
  settings = c.settings().settings;
  node = c.topology().nodes[0]!;
});

afterAll(async () => {
  const runId = c?.runId;
  await c?.down();
  if (runId) expect(await leftoversOf(runId)).toEqual([]);
});

/** Runs a CLI command in this process and returns what it printed. */
async function cli(cmd: typeof bpf, argv: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  });
  try {
    const code = await cmd.run(parseCommand(cmd, [...argv, '--run', c.runId]));
    return { code, out };
  } finally {
    spy.mockRestore();
  }
}

describe('node metrics endpoint', () => {
  it(`counts ${PROBES} NodePort requests in calico_bpf_dataplane_packets_total on the node's data interface`, async () => {
    const labels = { iface: node.iface, hook: 'ingress' };
    const before = sumOf((await c.metrics(node.name)).samples, 'calico_bpf_dataplane_packets_total', labels);
    for (let i = 0; i < PROBES; i++) {
      const r = await c.probe('client', { kind: 'http', host: node.ip, port: NODEPORT, path: '/clientip' });
      expect(r.ok, `probe ${i} to ${node.ip}:${NODEPORT}: ${r.error} ${r.errorMessage}`).toBe(true);
    }
    const after = (await c.metrics(node.name)).samples;
    const rise = sumOf(after, 'calico_bpf_dataplane_packets_total', labels) - before;
    expect(
      rise,
      `calico_bpf_dataplane_packets_total{iface="${node.iface}",hook="ingress"} on ${node.name} rose by ${rise}`,
    ).toBeGreaterThanOrEqual(PROBES);
    // The same traffic as the dataplane's own counter map reports it.
    const own = (await c.bpf()!.counters(node.name))
      .filter((x) => x.iface === node.iface && x.hook === 'ingress' && x.reason === 'total')
      .reduce((t, x) => t + Number(x.packets), 0);
    expect(own).toBeGreaterThanOrEqual(before + PROBES);
  });

  it('reports as many NAT frontend entries as the dataplane has programmed, on every node', async () => {
    const dp = c.bpf()!;
    for (const n of c.topology().nodes) {
      const fe = (await dp.frontends(n.name)).length;
      expect(fe).toBeGreaterThan(0);
      const s = (await c.metrics(n.name)).samples;
      expect(sumOf(s, 'calico_bpf_nat_frontend_entries'), `frontends on ${n.name}`).toBe(fe);
      expect(sumOf(s, 'calico_bpf_map_entries', { map: 'cali_v4_nat_fe' })).toBe(fe);
    }
  });

  it('reports conntrack entries and each map capacity from the FelixConfiguration sizes', async () => {
    const s = (await c.metrics(node.name)).samples;
    expect(sumOf(s, 'calico_bpf_connections_total')).toBeGreaterThan(0);
    expect(sumOf(s, 'calico_bpf_map_max_entries', { map: 'cali_v4_ct' })).toBe(settings.bpfMapSizeConntrack);
    expect(sumOf(s, 'calico_bpf_map_max_entries', { map: 'cali_v4_nat_fe' })).toBe(
      settings.bpfMapSizeNATFrontend,
    );
  });
});

describe('bpf inspection commands', () => {
  it('bpf counters dump --json shows the NodePort traffic on the data interface', async () => {
    const r = await cli(bpf, ['counters', 'dump', '--node', node.name, '--iface', node.iface, '--json']);
    expect(r.code).toBe(0);
    const lines = JSON.parse(r.out) as CounterLine[];
    const total = lines.find((l) => l.hook === 'ingress' && l.reason === 'total');
    expect(total?.packets).toBeGreaterThanOrEqual(PROBES);
    expect(lines.every((l) => l.node === node.name && l.iface === node.iface)).toBe(true);
  });

  it('bpf nat dump names echo-nodeport with its three backends', async () => {
    const r = await cli(bpf, ['nat', 'dump', '--node', node.name, '--json']);
    const lines = JSON.parse(r.out) as NatLine[];
    expect(lines).toHaveLength((await c.bpf()!.frontends(node.name)).length);
    const np = lines.find((l) => l.frontend === `${node.ip}:${NODEPORT}/TCP`);
    expect(np?.service).toBe('default/echo-nodeport:http');
    expect(np?.backends).toHaveLength(3);
    const text = await cli(bpf, ['nat', 'dump', '--node', node.name]);
    expect(text.out).toMatch(
      new RegExp(`${node.ip}:${NODEPORT}/TCP\\s+nodeport\\s+default/echo-nodeport:http`),
    );
  });

  it('bpf maps and conntrack stats read every map of every node', async () => {
    const maps = JSON.parse((await cli(bpf, ['maps', '--json'])).out) as MapLine[];
    expect(new Set(maps.map((m) => m.node))).toEqual(new Set(c.topology().nodes.map((n) => n.name)));
    expect(maps.find((m) => m.node === node.name && m.map === 'cali_v4_ct')?.max).toBe(
      settings.bpfMapSizeConntrack,
    );
    expect(maps.some((m) => m.flagged)).toBe(false);
    const stats = await cli(bpf, ['conntrack', 'stats', '--node', node.name]);
    expect(stats.out).toMatch(/^NODE\s+ENTRIES\s+MAX/);
  });

  it('dpconform metrics prints the exposition the node serves', async () => {
    const r = await cli(metrics, ['--node', node.name]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('# TYPE calico_bpf_dataplane_packets_total counter');
    expect(parseExposition(r.out).length).toBeGreaterThan(0);
  });
});

describe('metrics server lifecycle', () => {
  it('stops: its process and pid file are gone and a scrape is refused', async () => {
    const pidFile = metricsFiles(stateDir(c.runId), node.name).pidFile;
    const { readFile } = await import('node:fs/promises');
    const pid = Number(await readFile(pidFile, 'utf8'));
    await stopMetricsServers(
      c.topology().nodes.map((n) => c.node(n.name)),
      stateDir(c.runId),
    );
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(readFile(pidFile, 'utf8')).rejects.toThrow(/ENOENT/);
    await expect(c.metrics(node.name)).rejects.toThrow(/refused/);
  });
});

describe('iptables mode', () => {
  it('bpf and metrics commands say in one line that the cluster runs iptables, exit 2', async () => {
    const ipt = await startCluster('netns', { nodes: 1, dataplane: 'iptables' });
    try {
      for (const [cmd, argv] of [
        [bpf, ['maps']],
        [bpf, ['counters', 'dump']],
        [metrics, []],
      ] as const) {
        const run = cmd.run(parseCommand(cmd, [...argv, '--run', ipt.runId]));
        await expect(run).rejects.toThrow(
          expect.objectContaining({
            exitCode: 2,
            message: expect.stringMatching(/^run \w+ runs the iptables dataplane: [^\n]+$/),
          }),
        );
      }
    } finally {
      await ipt.down();
    }
  });
});
