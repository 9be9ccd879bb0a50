/**
 * NetworkPolicy in the eBPF dataplane on a two-node netns cluster: a default-deny ingress policy
 * makes a NodePort (eTP Local) time out for an external client, an ipBlock with the client's /32
 * admits it again (seen by the echo server with its own address), and N denied datagrams raise
 * "dropped by policy" by exactly N on the target pod's veth, egress hook, and nowhere else.
 */
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../../../src/cluster/providers.ts';
import type { BpfDataplane, Cluster, PodInfo } from '../../../src/cluster/types.ts';

const ECHO = resolve(import.meta.dirname, '../../../fixtures/workloads/echo.yaml');
const LOCAL_NODEPORT = 30082;
const DATAGRAMS = 5;

function policy(name: string, spec: object): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: 'default' },
    spec,
  };
}
const DENY_INGRESS = policy('deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
const allowClient = (ip: string) =>
  policy('allow-client', {
    podSelector: { matchLabels: { app: 'echo' } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ ipBlock: { cidr: `${ip}/32` } }] }],
  });

let c: Cluster;
let bpf: BpfDataplane;

beforeAll(async () => {
  c = await startCluster('netns', { nodes: 2, dataplane: 'bpf' });
  const dp = c.bpf();
  if (!dp) throw new Error('the cluster did not start the bpf dataplane');
  bpf = dp;
  await c.apply(ECHO);
}, 180_000);

afterAll(async () => {
  await c?.down();
}, 120_000);

/** Policy drop counters of every node, by `node/iface/hook`. */
async function policyDrops(): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const n of c.topology().nodes) {
    for (const r of await bpf.counters(n.name)) {
      if (r.reason !== 'dropped by policy') continue;
      const k = `${n.name}/${r.iface}/${r.hook}`;
      out.set(k, (out.get(k) ?? 0n) + r.packets);
    }
  }
  return out;
}

function deltas(before: Map<string, bigint>, after: Map<string, bigint>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0n);
    if (d !== 0n) out[k] = Number(d);
  }
  return out;
}

function echoPods(): PodInfo[] {
  return c.topology().pods.filter((p) => p.labels.app === 'echo');
}

describe('NetworkPolicy end to end (bpf)', () => {
  it('BPF-POL-E2E-001 default deny ingress: an external client through a NodePort (eTP Local) times out; an ipBlock /32 admits it', async () => {
    const client = c.topology().clients[0]!;
    const node = c.topology().nodes.find((n) => echoPods().some((p) => p.nodeName === n.name))!;
    const req = {
      kind: 'http' as const,
      host: node.ip,
      port: LOCAL_NODEPORT,
      path: '/clientip',
      timeoutMs: 1500,
    };
    const open = await c.probe(client.name, req);
    expect(open.ok, `before any policy: ${open.error} ${open.errorMessage}`).toBe(true);

    await c.apply([DENY_INGRESS]);
    try {
      const denied = await c.probe(client.name, req);
      expect(denied, 'denied traffic must be dropped (timeout), not refused').toMatchObject({
        ok: false,
        error: 'timeout',
      });

      await c.apply([allowClient(client.ip)]);
      const allowed = await c.probe(client.name, req);
      expect(allowed.ok, `after ipBlock ${client.ip}/32: ${allowed.error} ${allowed.errorMessage}`).toBe(
        true,
      );
      expect(allowed.body).toContain(client.ip);
    } finally {
      await c.delete([allowClient(client.ip), DENY_INGRESS]);
    }
  }, 60_000);

  it('BPF-POL-E2E-002 N denied datagrams raise "dropped by policy" by N on the target veth, egress hook, only', async () => {
    const pods = echoPods();
    const target = pods.find((p) => p.nodeName === c.topology().nodes[1]!.name)!;
    const from = pods.find((p) => p.nodeName !== target.nodeName)!;
    await c.apply([DENY_INGRESS]);
    try {
      const before = await policyDrops();
      const req = { kind: 'udp' as const, host: target.ip, port: 8080, payload: 'hostname', timeoutMs: 500 };
      const results = await c.probes(
        `${from.namespace}/${from.name}`,
        Array.from({ length: DATAGRAMS }, () => req),
        DATAGRAMS,
      );
      expect(results.filter((r) => r.ok)).toEqual([]);
      const moved = deltas(before, await policyDrops());
      expect(moved).toEqual({ [`${target.nodeName}/${target.hostIface}/egress`]: DATAGRAMS });
    } finally {
      await c.delete([DENY_INGRESS]);
    }
  }, 60_000);
});
