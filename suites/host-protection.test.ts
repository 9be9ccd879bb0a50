/**
 * Host protection: automatic and written host endpoints under GlobalNetworkPolicy. A node's own
 * port that is not a Service (the kubelet's 10250), closed to all but an allowed client and
 * counted where it is dropped; failsafe ports open under deny-all; pre-DNAT policy on a NodePort
 * by client address, leaving pod traffic alone; applyOnForward; one policy over pods of every
 * namespace; order and Pass; and changes that take effect without restarting anything.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Cluster, NodeInfo, PodInfo } from '../src/cluster/types.ts';
import { ConformanceFailure, counterEvidence, echoEvidence, recordEvidence } from '../src/report/evidence.ts';
import type { ProbeRequest, ProbeResult, StreamRecord } from '../src/workload/types.ts';
import { expectAnswer, expectNoAnswer, expectSource } from './lib/expect.ts';
import { fixture, suiteCluster } from './lib/harness.ts';
import {
  describeMoves,
  type HostDropPlace,
  hostDropKey,
  moved,
  readHostDrops,
  scrapeHostDrops,
} from './lib/host-drops.ts';

/** The node's own service the suite protects: the kubelet's port, served by the node itself. */
const KUBELET = 10250;
/** SSH: in failsafeInboundHostPorts by default. */
const SSH = 22;
const NODE_PORTS = [KUBELET, SSH];
/** The echo workload's NodePort (fixtures/workloads/echo.yaml). */
const NODEPORT = 30081;
/** Datagrams sent where drops are counted. */
const DATAGRAMS = 7;
/** How soon a change must be in force after apply() or delete() returns. */
const EFFECT_WITHIN_MS = 2000;

const FIXTURES = {
  auto: fixture('host-protection/auto-host-endpoints.yaml'),
  kubelet: fixture('host-protection/kubelet-from-admin.yaml'),
  external: fixture('host-protection/no-external-clients.yaml'),
  prednat: fixture('host-protection/nodeport-from-admin.yaml'),
  locked: fixture('host-protection/locked-down-host.yaml'),
  workloads: fixture('host-protection/guarded-workloads.yaml'),
  denyGuarded: fixture('host-protection/deny-guarded.yaml'),
  pass: fixture('host-protection/pass-from-hp-b.yaml'),
};

let c: Cluster;
let admin: { name: string; ip: string };
let other: { name: string; ip: string };
let node: NodeInfo;

beforeAll(async () => {
  c = await suiteCluster();
  const [first, second] = c.topology().clients;
  if (!first || !second) throw new Error('the host-protection suite needs two external clients');
  // The fixtures name the admin workstation and the written host endpoint's node by address.
  if (first.ip !== '172.18.1.1')
    throw new Error(`the fixtures allow 172.18.1.1, but the first client is ${first.ip}`);
  admin = first;
  other = second;
  const worker = c.topology().nodes.find((n) => n.name === 'dpc-worker');
  if (!worker) throw new Error('the fixtures protect dpc-worker, which this cluster does not have');
  node = worker;
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(FIXTURES.workloads);
  await c.apply(FIXTURES.auto);
  for (const n of c.topology().nodes) await c.serve(n.name, NODE_PORTS);
});

afterAll(async () => {
  if (!c) return;
  // Whatever a failed test left, then the endpoints and workloads the suite set up.
  for (const f of Object.values(FIXTURES)) await deleteQuietly(f);
  for (const n of c.topology().nodes) await c.unserve(n.name, NODE_PORTS).catch(() => undefined);
});

/** Deletes what a fixture names; objects already gone are fine. */
async function deleteQuietly(file: string): Promise<void> {
  await c.delete(file).catch(() => undefined);
}

async function withFixtures<T>(files: string[], body: () => Promise<T>): Promise<T> {
  for (const f of files) await c.apply(f);
  try {
    return await body();
  } finally {
    for (const f of [...files].reverse()) await c.delete(f);
  }
}

const http = (host: string, port: number, path = '/hostname', timeoutMs = 1500): ProbeRequest => ({
  kind: 'http',
  host,
  port,
  path,
  timeoutMs,
});

function describeProbe(r: ProbeResult): string {
  return r.ok ? `answered in ${r.totalMs.toFixed(0)} ms` : `${r.error} (${r.errorMessage ?? 'no detail'})`;
}

/** The pod of a Deployment in a namespace. */
function podOf(namespace: string, app: string): PodInfo {
  const p = c.topology().pods.find((x) => x.namespace === namespace && x.labels.app === app);
  if (!p) throw new Error(`no pod of ${namespace}/${app}`);
  return p;
}

function keyOf(p: PodInfo): string {
  return `${p.namespace}/${p.name}`;
}

/** Where a node's host endpoint drops of one direction are counted. */
function hostDrops(
  n: NodeInfo,
  endpoint: string,
  stage: string,
  hook: 'ingress' | 'egress' = 'ingress',
): HostDropPlace {
  return { node: n.name, iface: 'eth0', hook, endpoint, stage };
}

/**
 * Sends {@link DATAGRAMS} UDP datagrams from a client, each its own flow, and requires every
 * one unanswered and counted exactly once where `at` says (counters and, in eBPF mode, the
 * metric), and nothing else to move.
 */
async function expectCountedDrops(
  ctx: Parameters<typeof recordEvidence>[0],
  from: string,
  host: string,
  port: number,
  at: HostDropPlace,
): Promise<void> {
  const key = hostDropKey(c, at);
  const where = c.bpf()
    ? `${at.node} ${at.iface} tc ${at.hook}`
    : `${at.node} iptables drop rules of host endpoint ${at.endpoint}, stage ${at.stage}`;
  const before = await readHostDrops(c);
  const metricBefore = await scrapeHostDrops(c, at);
  const req: ProbeRequest = { kind: 'udp', host, port, payload: 'hostname', timeoutMs: 500 };
  const results = await c.probes(
    from,
    Array.from({ length: DATAGRAMS }, () => req),
    DATAGRAMS,
  );
  const after = await readHostDrops(c);
  const metricAfter = await scrapeHostDrops(c, at);
  recordEvidence(ctx, echoEvidence(from, results[0]!, { label: 'a denied datagram' }));
  recordEvidence(
    ctx,
    counterEvidence(`dropped by policy (${key})`, before.get(key) ?? 0, after.get(key) ?? 0, { where }),
  );
  if (c.bpf())
    recordEvidence(
      ctx,
      counterEvidence('calico_bpf_dataplane_policy_drops', metricBefore, metricAfter, { where }),
    );
  const answered = results.filter((r) => r.ok || r.error !== 'timeout');
  if (answered.length > 0) {
    throw new ConformanceFailure(`denied datagrams from ${from} to ${host}:${port} were not dropped`, {
      expected: `${DATAGRAMS} timeouts`,
      seen: answered.map(describeProbe).join('; '),
      where,
    });
  }
  const delta = moved(before, after);
  if (delta.get(key) !== DATAGRAMS || delta.size !== 1) {
    throw new ConformanceFailure(`${DATAGRAMS} denied datagrams were not counted once each at ${key}`, {
      expected: `${key} +${DATAGRAMS} and no other policy drop counter moves`,
      seen: describeMoves(delta),
      where,
    });
  }
  if (c.bpf() && metricAfter - metricBefore !== DATAGRAMS) {
    throw new ConformanceFailure(`calico_bpf_dataplane_policy_drops did not rise by ${DATAGRAMS}`, {
      expected: `+${DATAGRAMS} for iface=${at.iface} hook=${at.hook}`,
      seen: `+${metricAfter - metricBefore} (${metricBefore} -> ${metricAfter})`,
      where: `http://${c.topology().nodes.find((n) => n.name === at.node)?.ip}:9091/metrics`,
    });
  }
}

/** Probes until `done(result)` or `limitMs`; ms from `since` to the start of the first probe that was. */
async function timeUntil(
  from: string,
  req: ProbeRequest,
  since: number,
  limitMs: number,
  done: (r: ProbeResult) => boolean,
): Promise<{ ms: number | undefined; last: ProbeResult | undefined }> {
  let last: ProbeResult | undefined;
  while (performance.now() - since < limitMs) {
    const started = performance.now();
    last = await c.probe(from, req);
    if (done(last)) return { ms: started - since, last };
  }
  return { ms: undefined, last };
}

/** Program ids on a node's data interface, which a reinstall changes (iptables has none: the stream shows it). */
async function dataplaneIdentity(n: NodeInfo): Promise<string> {
  if (!c.bpf()) return 'iptables';
  const r = await c.exec(n.name, ['tc', '-j', 'filter', 'show', 'dev', 'eth0', 'ingress']);
  const rows = JSON.parse(r.stdout || '[]') as { options?: { prog?: { id?: number } } }[];
  return rows.map((x) => x.options?.prog?.id ?? '').join(',');
}

function streamSummary(r: StreamRecord): string {
  return `${r.target}: ${r.sent} sent, ${r.ok} ok, ${r.failed} failed, ${r.connections} connection(s), ${r.connectionsLost} lost, reset ${r.reset}${r.firstError ? `, first error ${r.firstError}` : ''}`;
}

describe('host-protection', () => {
  it('HEP-001: with automatic host endpoints and no policy, every node answers external clients on its own port 10250 (not a Service), TCP and UDP', async (ctx) => {
    const auto = (c.model().hostEndpoints ?? []).filter((h) => h.auto).map((h) => h.name);
    recordEvidence(ctx, { kind: 'text', label: 'automatic host endpoints', text: auto.join('\n') || 'none' });
    const missing = c.topology().nodes.filter((n) => !auto.includes(`${n.name}-auto-hep`));
    if (missing.length > 0) {
      throw new ConformanceFailure('automatic host endpoints were not created for every node', {
        expected: c
          .topology()
          .nodes.map((n) => `${n.name}-auto-hep`)
          .join(', '),
        seen: auto.join(', ') || 'none',
        where: 'KubeControllersConfiguration default (fixtures/host-protection/auto-host-endpoints.yaml)',
      });
    }
    for (const n of c.topology().nodes) {
      for (const client of [admin, other]) {
        const body = await expectAnswer(
          ctx,
          c,
          client.name,
          http(n.ip, KUBELET),
          `${client.name} -> ${n.name} ${n.ip}:${KUBELET}`,
        );
        if (!body.includes(n.name))
          throw new ConformanceFailure(`${n.ip}:${KUBELET} was answered by someone else`, {
            expected: `the node ${n.name} itself`,
            seen: body,
            where: `${n.name} ${n.ip}:${KUBELET}`,
          });
      }
      await expectAnswer(
        ctx,
        c,
        other.name,
        { kind: 'udp', host: n.ip, port: KUBELET, payload: 'hostname', timeoutMs: 1000 },
        `${other.name} -> ${n.name} ${n.ip}:${KUBELET}/udp`,
      );
    }
  });

  it(`HEP-002: a GlobalNetworkPolicy selecting the host endpoints drops other clients at port 10250, ${DATAGRAMS} datagrams counted ${DATAGRAMS} times as dropped by policy on the node's interface`, async (ctx) => {
    await withFixtures([FIXTURES.kubelet], async () => {
      // Datagrams first: a refused TCP connect retransmits its SYN, which would land in the count.
      await expectCountedDrops(
        ctx,
        other.name,
        node.ip,
        KUBELET,
        hostDrops(node, `${node.name}-auto-hep`, 'ingress'),
      );
      await expectNoAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, KUBELET, '/hostname', 1000),
        ['timeout'],
        `${other.name} -> ${node.name} ${node.ip}:${KUBELET} (kubelet-from-admin)`,
      );
    });
  });

  it('HEP-003: the allowed client still reaches port 10250 under that policy, seen with its own address, and other host ports stay open to everyone', async (ctx) => {
    await withFixtures([FIXTURES.kubelet], async () => {
      for (const n of c.topology().nodes) {
        const seen = await expectAnswer(
          ctx,
          c,
          admin.name,
          http(n.ip, KUBELET, '/clientip'),
          `${admin.name} -> ${n.name} ${n.ip}:${KUBELET} (kubelet-from-admin)`,
        );
        expectSource(seen, admin.ip, 'the allowed client', `${n.name} ${n.ip}:${KUBELET}`);
        await expectAnswer(
          ctx,
          c,
          other.name,
          http(n.ip, SSH),
          `${other.name} -> ${n.name} ${n.ip}:${SSH} (not covered by the policy)`,
        );
      }
    });
  });

  it('HEP-004: under a deny-all policy on a written host endpoint without a profile, failsafe port 22 stays reachable and 10250 does not; emptying failsafeInboundHostPorts closes 22 too', async (ctx) => {
    if (node.ip !== '172.18.0.3')
      throw new Error(`locked-down-host.yaml expects dpc-worker at 172.18.0.3, it is at ${node.ip}`);
    const where = `${other.name} -> ${node.name} ${node.ip}`;
    await withFixtures([FIXTURES.locked], async () => {
      await expectAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, SSH),
        `${where}:${SSH} (failsafe, deny-all in force)`,
      );
      await expectNoAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, KUBELET, '/hostname', 1000),
        ['timeout'],
        `${where}:${KUBELET} (deny-all in force)`,
      );
      const inbound = c.settings().settings.failsafeInboundHostPorts;
      await c.patchFelix({ failsafeInboundHostPorts: [] });
      try {
        await expectNoAnswer(
          ctx,
          c,
          other.name,
          http(node.ip, SSH, '/hostname', 1000),
          ['timeout'],
          `${where}:${SSH} (failsafeInboundHostPorts: [])`,
        );
      } finally {
        await c.patchFelix({ failsafeInboundHostPorts: inbound });
      }
      await expectAnswer(ctx, c, other.name, http(node.ip, SSH), `${where}:${SSH} (failsafe restored)`);
    });
  });

  it(`HEP-005: a preDNAT policy restricts NodePort ${NODEPORT} by client address: the allowed client is answered with its own address kept (eBPF), another client is dropped and counted before NAT`, async (ctx) => {
    await withFixtures([FIXTURES.prednat], async () => {
      for (const n of c.topology().nodes) {
        const seen = await expectAnswer(
          ctx,
          c,
          admin.name,
          http(n.ip, NODEPORT, '/clientip'),
          `${admin.name} -> ${n.name} ${n.ip}:${NODEPORT} (nodeport-from-admin)`,
        );
        if (c.bpf()) expectSource(seen, admin.ip, 'pre-DNAT allowed client', `${n.name} ${n.ip}:${NODEPORT}`);
        await expectNoAnswer(
          ctx,
          c,
          other.name,
          http(n.ip, NODEPORT, '/hostname', 1000),
          ['timeout'],
          `${other.name} -> ${n.name} ${n.ip}:${NODEPORT} (nodeport-from-admin)`,
        );
      }
      // The same client still reaches the node's own port: the policy is about the NodePort only.
      await expectAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, KUBELET),
        `${other.name} -> ${node.name} ${node.ip}:${KUBELET}`,
      );
      const before = await readHostDrops(c);
      await c.probe(other.name, http(node.ip, NODEPORT, '/hostname', 500));
      const after = await readHostDrops(c);
      const at = hostDrops(node, `${node.name}-auto-hep`, 'preDnat');
      const key = hostDropKey(c, at);
      recordEvidence(
        ctx,
        counterEvidence(`dropped by policy (${key})`, before.get(key) ?? 0, after.get(key) ?? 0, {
          where: key,
        }),
      );
      if ((after.get(key) ?? 0) <= (before.get(key) ?? 0)) {
        throw new ConformanceFailure(
          'the refused NodePort connection was not counted as dropped by policy where it arrived',
          {
            expected: `${key} rises`,
            seen: describeMoves(moved(before, after)),
            where: key,
          },
        );
      }
    });
  });

  it('HEP-006: that preDNAT policy leaves pod traffic alone: pods reach pods on other nodes, and the NodePort', async (ctx) => {
    await withFixtures([FIXTURES.prednat], async () => {
      const from = podOf('hp-a', 'open');
      const targets = c
        .topology()
        .pods.filter(
          (p) => p.namespace === 'default' && p.labels.app === 'echo' && p.nodeName !== from.nodeName,
        );
      if (targets.length === 0) throw new Error('no echo pod on another node than hp-a/open');
      for (const t of targets)
        await expectAnswer(
          ctx,
          c,
          keyOf(from),
          http(t.ip, 8080),
          `${keyOf(from)} (${from.nodeName}) -> ${keyOf(t)} ${t.ip}:8080 (${t.nodeName})`,
        );
      for (const n of c.topology().nodes)
        await expectAnswer(
          ctx,
          c,
          keyOf(from),
          http(n.ip, NODEPORT),
          `${keyOf(from)} -> ${n.name} ${n.ip}:${NODEPORT}`,
        );
    });
  });

  it('HEP-007: without applyOnForward a deny on the host endpoints leaves NodePort traffic to pods alone; with applyOnForward: true it drops it too', async (ctx) => {
    const where = `${other.name} -> ${node.name} ${node.ip}`;
    await withFixtures([FIXTURES.external], async () => {
      await expectNoAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, KUBELET, '/hostname', 1000),
        ['timeout'],
        `${where}:${KUBELET} (no-external-clients)`,
      );
      await expectAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, NODEPORT),
        `${where}:${NODEPORT} (no-external-clients, applyOnForward false)`,
      );
      await c.apply([forwarding(true)]);
      await expectNoAnswer(
        ctx,
        c,
        other.name,
        http(node.ip, NODEPORT, '/hostname', 1000),
        ['timeout'],
        `${where}:${NODEPORT} (no-external-clients, applyOnForward true)`,
      );
    });
  });

  it('HEP-008: one GlobalNetworkPolicy selecting pods by label applies in every namespace, and to no other pod', async (ctx) => {
    const client = keyOf(podOf('default', 'echo'));
    await withFixtures([FIXTURES.denyGuarded], async () => {
      for (const ns of ['hp-a', 'hp-b']) {
        const t = podOf(ns, 'guarded');
        await expectNoAnswer(
          ctx,
          c,
          client,
          http(t.ip, 80, '/hostname', 1000),
          ['timeout'],
          `${client} -> ${keyOf(t)} ${t.ip}:80 (deny-guarded)`,
        );
      }
      const open = podOf('hp-a', 'open');
      await expectAnswer(
        ctx,
        c,
        client,
        http(open.ip, 80),
        `${client} -> ${keyOf(open)} ${open.ip}:80 (not labelled)`,
      );
    });
  });

  it('HEP-009: policy order and Pass: Pass at order 10 skips the deny-all at order 20 for namespace hp-b only; ordered first, the deny-all wins', async (ctx) => {
    const target = podOf('hp-a', 'guarded');
    const trusted = keyOf(podOf('hp-b', 'guarded'));
    const untrusted = keyOf(podOf('default', 'echo'));
    const where = (from: string, what: string) => `${from} -> ${keyOf(target)} ${target.ip}:80 (${what})`;
    await withFixtures([FIXTURES.pass], async () => {
      await expectAnswer(ctx, c, trusted, http(target.ip, 80), where(trusted, 'Pass at order 10'));
      await expectNoAnswer(
        ctx,
        c,
        untrusted,
        http(target.ip, 80, '/hostname', 1000),
        ['timeout'],
        where(untrusted, 'deny-all at order 20'),
      );
      await c.apply([reordered(5)]);
      await expectNoAnswer(
        ctx,
        c,
        trusted,
        http(target.ip, 80, '/hostname', 1000),
        ['timeout'],
        where(trusted, 'deny-all moved to order 5'),
      );
    });
  });

  it(`HEP-010: applying and removing a host policy takes effect within ${EFFECT_WITHIN_MS} ms without restarting anything: an allowed client's connection lives through both`, async (ctx) => {
    const id = `hep010-${Date.now()}`;
    const identity = await dataplaneIdentity(node);
    await c.streamStart(admin.name, {
      id,
      host: node.ip,
      port: KUBELET,
      intervalMs: 100,
      requestTimeoutMs: 1000,
      maxDurationMs: 60_000,
    });
    let final: StreamRecord | undefined;
    const req = http(node.ip, KUBELET, '/hostname', 300);
    const times: string[] = [];
    try {
      await c.apply(FIXTURES.kubelet);
      let since = performance.now();
      const deny = await timeUntil(
        other.name,
        req,
        since,
        EFFECT_WITHIN_MS + 3000,
        (r) => !r.ok && r.error === 'timeout',
      );
      await c.delete(FIXTURES.kubelet);
      since = performance.now();
      const allow = await timeUntil(
        other.name,
        { ...req, timeoutMs: 1000 },
        since,
        EFFECT_WITHIN_MS + 3000,
        (r) => r.ok,
      );
      times.push(
        `deny after apply: ${deny.ms?.toFixed(0) ?? 'never'} ms`,
        `allow after delete: ${allow.ms?.toFixed(0) ?? 'never'} ms`,
      );
      for (const [what, t] of [
        ['applying kubelet-from-admin', deny],
        ['deleting it', allow],
      ] as const) {
        if (t.ms === undefined || t.ms > EFFECT_WITHIN_MS) {
          throw new ConformanceFailure(`${what} did not take effect within ${EFFECT_WITHIN_MS} ms`, {
            expected: `the new verdict for ${other.name} within ${EFFECT_WITHIN_MS} ms`,
            seen:
              t.ms === undefined
                ? `not at all (last: ${t.last ? describeProbe(t.last) : 'none'})`
                : `${t.ms.toFixed(0)} ms`,
            where: `${other.name} -> ${node.name} ${node.ip}:${KUBELET}`,
          });
        }
      }
    } finally {
      final = await c.streamStop(admin.name, id).catch(() => undefined);
      await deleteQuietly(FIXTURES.kubelet);
    }
    const after = await dataplaneIdentity(node);
    recordEvidence(ctx, {
      kind: 'text',
      label: 'across the change',
      text: `${times.join('\n')}\n${final ? streamSummary(final) : 'no stream record'}\nprograms on eth0: ${identity} -> ${after}`,
    });
    if (identity !== after) {
      throw new ConformanceFailure('the dataplane was reloaded to apply host policy', {
        expected: `the same programs on ${node.name} eth0 (${identity})`,
        seen: after,
        where: `${node.name} tc filter show dev eth0 ingress`,
      });
    }
    if (final?.connections !== 1 || final.connectionsLost > 0 || final.failed > 0) {
      throw new ConformanceFailure("the allowed client's connection did not live through the policy change", {
        expected: 'one connection, never lost, every request answered',
        seen: final ? streamSummary(final) : 'no stream record',
        where: `${admin.name} -> ${node.name} ${node.ip}:${KUBELET}`,
      });
    }
  });
});

/** no-external-clients with applyOnForward set as given. */
function forwarding(applyOnForward: boolean): object {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'no-external-clients' },
    spec: {
      selector: 'has(kubernetes.io/hostname)',
      order: 200,
      applyOnForward,
      ingress: [{ action: 'Deny', source: { nets: ['172.18.1.0/24'] } }, { action: 'Allow' }],
    },
  };
}

/** guarded-deny-all at another order. */
function reordered(order: number): object {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'guarded-deny-all' },
    spec: { selector: "hp-guard == 'true'", order, ingress: [{ action: 'Deny' }] },
  };
}
