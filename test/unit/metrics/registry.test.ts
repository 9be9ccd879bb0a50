import { describe, expect, it } from 'vitest';
import { reply } from '../../../src/dataplane/bpf/metrics/http.ts';
import { METRIC } from '../../../src/dataplane/bpf/metrics/names.ts';
import { createNodeMetrics } from '../../../src/dataplane/bpf/metrics/registry.ts';
import type { NodeSnapshot } from '../../../src/dataplane/bpf/metrics/snapshot.ts';
import { parseExposition, samplesOf, sumOf } from '../../../src/observe/prometheus.ts';

function snapshot(over: Partial<NodeSnapshot> = {}): NodeSnapshot {
  const c = (iface: string, hook: 'ingress' | 'egress', reason: string, packets: number) => ({
    ifindex: iface === 'eth0' ? 2 : 7,
    iface,
    hook,
    reason,
    packets: BigInt(packets),
  });
  return {
    counters: [
      c('eth0', 'ingress', 'total', 5),
      c('eth0', 'ingress', 'accepted', 5),
      c('cali1a2b3c', 'egress', 'total', 3),
      c('cali1a2b3c', 'egress', 'accepted', 2),
      c('cali1a2b3c', 'egress', 'dropped by policy', 1),
    ],
    natFrontends: 11,
    conntrack: 4,
    maps: [
      { name: 'cali_v4_nat_fe', entries: 11, maxEntries: 65536, ratio: 11 / 65536 },
      { name: 'cali_v4_ct', entries: 4, maxEntries: 512000, ratio: 4 / 512000 },
    ],
    endpoints: { total: 3, happy: 2 },
    ...over,
  };
}

describe('node metrics', () => {
  it('uses the names the Calico guide tells operators to watch', () => {
    expect(Object.values(METRIC).map((m) => m.name)).toEqual([
      'calico_bpf_dataplane_packets_total',
      'calico_bpf_dataplane_policy_drops',
      'calico_bpf_connections_total',
      'calico_bpf_nat_frontend_entries',
      'calico_bpf_map_entries',
      'calico_bpf_map_max_entries',
      'felix_bpf_dataplane_endpoints',
      'felix_bpf_happy_dataplane_endpoints',
      'felix_bpf_dirty_dataplane_endpoints',
      'felix_bpf_conntrack_used',
      'felix_bpf_conntrack_cleaned',
      'felix_bpf_conntrack_sweeps',
    ]);
  });

  it("exports Felix's names for endpoints and conntrack sweeps", async () => {
    const m = createNodeMetrics(async () => snapshot());
    m.recordSweep({ used: { fwd: 5, rev: 4 }, cleaned: { fwd: 2, rev: 1 } });
    m.recordSweep({ used: { fwd: 3, rev: 3 }, cleaned: { fwd: 1, rev: 0 } });
    const s = parseExposition(await m.scrape());
    expect(sumOf(s, 'felix_bpf_dataplane_endpoints')).toBe(3);
    expect(sumOf(s, 'felix_bpf_happy_dataplane_endpoints')).toBe(2);
    expect(sumOf(s, 'felix_bpf_dirty_dataplane_endpoints')).toBe(1);
    // The gauge is the last sweep's; the counter adds every sweep's deletions.
    expect(sumOf(s, 'felix_bpf_conntrack_used', { type: 'fwd' })).toBe(3);
    expect(sumOf(s, 'felix_bpf_conntrack_cleaned', { type: 'fwd' })).toBe(3);
    expect(sumOf(s, 'felix_bpf_conntrack_cleaned', { type: 'rev' })).toBe(1);
    expect(sumOf(s, 'felix_bpf_conntrack_sweeps')).toBe(2);
  });

  it('exposes packets per interface and hook from the total reason only', async () => {
    const m = createNodeMetrics(async () => snapshot());
    const text = await m.scrape();
    expect(text).toContain('# TYPE calico_bpf_dataplane_packets_total counter');
    expect(text).toContain('calico_bpf_dataplane_packets_total{iface="eth0",hook="ingress"} 5');
    expect(text).toContain('calico_bpf_dataplane_packets_total{iface="cali1a2b3c",hook="egress"} 3');
    const s = parseExposition(text);
    expect(samplesOf(s, 'calico_bpf_dataplane_packets_total')).toHaveLength(2);
  });

  it('counts policy drops, at 0 where an interface saw traffic but no drop', async () => {
    const s = parseExposition(await createNodeMetrics(async () => snapshot()).scrape());
    expect(sumOf(s, 'calico_bpf_dataplane_policy_drops', { iface: 'cali1a2b3c', hook: 'egress' })).toBe(1);
    const eth0 = samplesOf(s, 'calico_bpf_dataplane_policy_drops', { iface: 'eth0', hook: 'ingress' });
    expect(eth0.map((x) => x.value)).toEqual([0]);
  });

  it('reports conntrack and frontend entries and every map as used and maximum', async () => {
    const text = await createNodeMetrics(async () => snapshot()).scrape();
    expect(text).toContain('# TYPE calico_bpf_connections_total gauge');
    expect(text).toMatch(/^calico_bpf_connections_total 4$/m);
    expect(text).toMatch(/^calico_bpf_nat_frontend_entries 11$/m);
    expect(text).toContain('calico_bpf_map_entries{map="cali_v4_ct"} 4');
    expect(text).toContain('calico_bpf_map_max_entries{map="cali_v4_ct"} 512000');
    expect(text).toContain('calico_bpf_map_max_entries{map="cali_v4_nat_fe"} 65536');
  });

  it('reads the maps again on every scrape and forgets series that are gone', async () => {
    let n = 0;
    const m = createNodeMetrics(async () => {
      n++;
      return n === 1 ? snapshot() : snapshot({ counters: [], natFrontends: 0 });
    });
    await m.scrape();
    const second = parseExposition(await m.scrape());
    expect(n).toBe(2);
    expect(samplesOf(second, 'calico_bpf_dataplane_packets_total')).toHaveLength(0);
    expect(sumOf(second, 'calico_bpf_nat_frontend_entries')).toBe(0);
  });
});

describe('metrics endpoint', () => {
  it('serves the exposition on GET /metrics with the Prometheus content type', async () => {
    const r = await reply(
      createNodeMetrics(async () => snapshot()),
      'GET',
      '/metrics',
    );
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain('calico_bpf_nat_frontend_entries 11');
  });

  it('answers 404 elsewhere and 500 with the reason when the maps cannot be read', async () => {
    const ok = createNodeMetrics(async () => snapshot());
    expect((await reply(ok, 'GET', '/')).status).toBe(404);
    expect((await reply(ok, 'POST', '/metrics')).status).toBe(405);
    const broken = createNodeMetrics(async () => {
      throw new Error('bpftool: No such file or directory');
    });
    const r = await reply(broken, 'GET', '/metrics');
    expect(r.status).toBe(500);
    expect(r.body).toContain('No such file or directory');
  });
});
