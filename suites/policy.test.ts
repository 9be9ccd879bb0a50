/**
 * Kubernetes NetworkPolicy: the reachability matrix of namespaces x/y/z and pods a/b/c under
 * default deny and allow rules by namespace, pod and port; ipBlock rules for an external client;
 * drops counted where they happen; drops that time out rather than reset; established
 * connections kept across unrelated updates; and how soon a change takes effect.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Cluster, PodInfo } from '../src/cluster/types.ts';
import {
  attachJson,
  attachText,
  ConformanceFailure,
  counterEvidence,
  echoEvidence,
  recordEvidence,
} from '../src/report/evidence.ts';
import type { ProbeRequest, ProbeResult, StreamRecord } from '../src/workload/types.ts';
import { expectAnswer, expectNoAnswer, expectSource } from './lib/expect.ts';
import { fixture, nodePortOf, service, splitNodes, suiteCluster } from './lib/harness.ts';
import { deleteAndSettle } from './lib/objects.ts';
import {
  describeDeltas,
  dropDeltas,
  dropKey,
  hookFor,
  readDrops,
  scrapePolicyDrops,
} from './lib/policy-drops.ts';
import type { MatrixPort } from './lib/policy-matrix.ts';
import {
  allowFromNamespace,
  allowFromPod,
  allowIpBlock,
  allowTcpPort,
  denyAllEgress,
  denyAllIngress,
  MATRIX_NAMESPACES,
  matrixNamespace,
  matrixObjects,
} from './lib/policy-objects.ts';
import { expectReachability } from './lib/policy-probe.ts';

const TCP80: MatrixPort = { protocol: 'tcp', port: 80 };
const TCP81: MatrixPort = { protocol: 'tcp', port: 81 };
const UDP80: MatrixPort = { protocol: 'udp', port: 80 };

/** How soon a policy change must be in force, counted from the call to apply() (or delete()). */
const EFFECT_WITHIN_MS = 2000;
/** Datagrams sent in the counter test. */
const DATAGRAMS = 7;

let c: Cluster;

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(matrixObjects());
});

afterAll(async () => {
  // Deleting a namespace takes its Deployments and policies with it.
  if (c) await deleteAndSettle(c, MATRIX_NAMESPACES.map(matrixNamespace));
  await c?.delete([ipBlockPolicy('unused')]);
});

/** Applies policies for the length of `body`, then deletes them whatever happened. */
async function withPolicies<T>(policies: object[], body: () => Promise<T>): Promise<T> {
  await c.apply(policies);
  try {
    return await body();
  } finally {
    await c.delete(policies);
  }
}

/** The one pod labelled `pod: <label>` in a matrix namespace. */
function pod(namespace: string, label: string): PodInfo {
  const p = c.topology().pods.find((x) => x.namespace === namespace && x.labels.pod === label);
  if (!p) throw new Error(`no pod labelled pod=${label} in namespace ${namespace}`);
  return p;
}

function keyOf(p: PodInfo): string {
  return `${p.namespace}/${p.name}`;
}

function describeProbe(r: ProbeResult): string {
  return r.ok ? `answered in ${r.totalMs.toFixed(0)} ms` : `${r.error} (${r.errorMessage ?? 'no detail'})`;
}

/** The ipBlock policy of POL-007 over the `app: echo` pods in `default`. */
function ipBlockPolicy(cidr: string, except: string[] = []): object {
  return allowIpBlock('default', 'echo-from-ipblock', 'echo', cidr, except);
}

/** Sends `count` UDP datagrams at once, each its own flow; returns what came of each. */
function datagrams(from: PodInfo, to: PodInfo, count: number): Promise<ProbeResult[]> {
  const req: ProbeRequest = { kind: 'udp', host: to.ip, port: 80, payload: 'hostname', timeoutMs: 500 };
  return c.probes(
    keyOf(from),
    Array.from({ length: count }, () => req),
    count,
  );
}

/** Probes until `done(result)` or `limitMs`; returns ms from `since` to the start of the first probe that was done. */
async function timeUntil(
  from: string,
  req: ProbeRequest,
  since: number,
  limitMs: number,
  done: (r: ProbeResult) => boolean,
): Promise<{ ms: number | undefined; probes: number; last: ProbeResult | undefined }> {
  let probes = 0;
  let last: ProbeResult | undefined;
  while (performance.now() - since < limitMs) {
    const started = performance.now();
    last = await c.probe(from, req);
    probes++;
    if (done(last)) return { ms: started - since, probes, last };
  }
  return { ms: undefined, probes, last };
}

function streamSummary(r: StreamRecord): string {
  return `${r.target}: ${r.sent} sent, ${r.ok} ok, ${r.failed} failed, ${r.connections} connection(s), ${r.connectionsLost} lost, reset ${r.reset}, longest gap ${r.longestGapMs.toFixed(0)} ms${r.firstError ? `, first error ${r.firstError}` : ''}`;
}

describe('policy', () => {
  it('POL-001: without any policy every pod reaches every pod on TCP 80 and 81', async (ctx) => {
    await expectReachability(ctx, c, 'no policy', [TCP80, TCP81], () => true);
  });

  it('POL-002: default-deny ingress in x blocks all traffic into x and nothing else', async (ctx) => {
    await withPolicies([denyAllIngress('x')], () =>
      expectReachability(ctx, c, 'default-deny ingress in x', [TCP80, TCP81], (_f, t) => t.namespace !== 'x'),
    );
  });

  it('POL-003: default-deny egress in x blocks all traffic out of x and nothing else', async (ctx) => {
    await withPolicies([denyAllEgress('x')], () =>
      expectReachability(ctx, c, 'default-deny egress in x', [TCP80, TCP81], (f) => f.namespace !== 'x'),
    );
  });

  it('POL-004: ingress to x/a allowed from namespace y admits y only', async (ctx) => {
    await withPolicies([allowFromNamespace('x', 'a', 'y')], () =>
      expectReachability(
        ctx,
        c,
        'x/a allows ingress from namespace ns=y',
        [TCP80, TCP81],
        (f, t) => t.label !== 'x/a' || f.namespace === 'y',
      ),
    );
  });

  it('POL-005: ingress to x/a allowed from pods pod=b in x admits x/b only', async (ctx) => {
    await withPolicies([allowFromPod('x', 'a', 'b')], () =>
      expectReachability(
        ctx,
        c,
        'x/a allows ingress from pod=b in x',
        [TCP80, TCP81],
        (f, t) => t.label !== 'x/a' || (f.namespace === 'x' && f.pod === 'b'),
      ),
    );
  });

  it('POL-006: ingress to x/a allowed on TCP port 80 only blocks TCP 81 and UDP 80', async (ctx) => {
    await withPolicies([allowTcpPort('x', 'a', 80)], () =>
      expectReachability(
        ctx,
        c,
        'x/a allows ingress on TCP 80 only',
        [TCP80, TCP81, UDP80],
        (_f, t, p) => t.label !== 'x/a' || (p.protocol === 'tcp' && p.port === 80),
      ),
    );
  });

  it('POL-007: an ipBlock policy admits an external client through a NodePort (eTP Local) only when it allows the client', async (ctx) => {
    const svc = service(c, 'echo-local');
    const node = splitNodes(c, svc).withBackend[0]!;
    const client = c.topology().clients[0]!;
    const port = nodePortOf(svc);
    const where = `${client.name} ${client.ip} -> ${node.name} ${node.ip}:${port} (echo-local, eTP Local)`;
    const req: ProbeRequest = { kind: 'http', host: node.ip, port, path: '/clientip', timeoutMs: 1500 };
    try {
      await c.apply([ipBlockPolicy(`${client.ip}/32`)]);
      const seen = await expectAnswer(ctx, c, client.name, req, `${where}, ipBlock ${client.ip}/32`);
      expectSource(seen, client.ip, 'ipBlock allowing the client', where);
      // The same range without the client: the policy must read the except list, not just the CIDR.
      const range = `${client.ip.split('.').slice(0, 2).join('.')}.0.0/16`;
      await c.apply([ipBlockPolicy(range, [`${client.ip}/32`])]);
      await expectNoAnswer(
        ctx,
        c,
        client.name,
        req,
        ['timeout'],
        `${where}, ipBlock ${range} except ${client.ip}/32`,
      );
    } finally {
      await c.delete([ipBlockPolicy('unused')]);
    }
  });

  it(`POL-008: ${DATAGRAMS} denied UDP datagrams raise "dropped by policy" by ${DATAGRAMS} on the pod's interface; allowed ones raise nothing`, async (ctx) => {
    const target = pod('x', 'a');
    const allowed = pod('x', 'b');
    const denied = pod('y', 'b');
    const bpf = c.bpf() !== undefined;
    const key = dropKey(c, target, 'ingress');
    const hook = hookFor('ingress');
    const where = bpf
      ? `${target.nodeName} ${target.hostIface} tc ${hook} (host veth of ${keyOf(target)} ${target.ip})`
      : `${target.nodeName} iptables drop rule of ${keyOf(target)} ingress`;
    const metric = (): Promise<number> =>
      bpf ? scrapePolicyDrops(c, target.nodeName, target.hostIface, hook) : Promise.resolve(0);
    await withPolicies([allowFromPod('x', 'a', 'b')], async () => {
      const before = await readDrops(c);
      const metricBefore = await metric();
      const ok = await datagrams(allowed, target, DATAGRAMS);
      const mid = await readDrops(c);
      const metricMid = await metric();
      const dropped = await datagrams(denied, target, DATAGRAMS);
      const after = await readDrops(c);
      const metricAfter = await metric();
      attachJson(
        ctx,
        {
          name: 'policy-drops.json',
          kind: 'counters',
          title: `"dropped by policy" on every node: before, after ${DATAGRAMS} allowed and after ${DATAGRAMS} denied datagrams`,
        },
        {
          before: Object.fromEntries(before),
          afterAllowed: Object.fromEntries(mid),
          afterDenied: Object.fromEntries(after),
        },
      );
      if (bpf) {
        const scrape = await c.metrics(target.nodeName);
        attachText(
          ctx,
          {
            name: `metrics-${target.nodeName}.prom`,
            kind: 'metrics',
            title: `scrape of ${scrape.url} after the denied datagrams`,
            where: scrape.url,
          },
          scrape.text,
        );
      }
      for (const r of ok.slice(0, 1))
        recordEvidence(ctx, echoEvidence(keyOf(allowed), r, { label: 'allowed' }));
      for (const r of dropped.slice(0, 1))
        recordEvidence(ctx, echoEvidence(keyOf(denied), r, { label: 'denied' }));
      recordEvidence(
        ctx,
        counterEvidence(`dropped by policy (${key})`, before.get(key) ?? 0, mid.get(key) ?? 0, {
          where,
          label: `${DATAGRAMS} allowed datagrams`,
        }),
      );
      recordEvidence(
        ctx,
        counterEvidence(`dropped by policy (${key})`, mid.get(key) ?? 0, after.get(key) ?? 0, {
          where,
          label: `${DATAGRAMS} denied datagrams`,
        }),
      );
      if (bpf) {
        recordEvidence(
          ctx,
          counterEvidence('calico_bpf_dataplane_policy_drops', metricBefore, metricMid, {
            where,
            label: 'allowed',
          }),
        );
        recordEvidence(
          ctx,
          counterEvidence('calico_bpf_dataplane_policy_drops', metricMid, metricAfter, {
            where,
            label: 'denied',
          }),
        );
      }
      const unanswered = ok.filter((r) => !r.ok);
      if (unanswered.length > 0) {
        throw new ConformanceFailure(`allowed datagrams from ${keyOf(allowed)} went unanswered`, {
          expected: `${DATAGRAMS} answers from ${target.name}`,
          seen: unanswered.map(describeProbe).join('; '),
          where,
        });
      }
      const answered = dropped.filter((r) => r.ok || r.error !== 'timeout');
      if (answered.length > 0) {
        throw new ConformanceFailure(`denied datagrams from ${keyOf(denied)} were not dropped`, {
          expected: `${DATAGRAMS} timeouts`,
          seen: answered.map(describeProbe).join('; '),
          where,
        });
      }
      const quiet = dropDeltas(before, mid);
      if (quiet.size > 0 || metricMid !== metricBefore) {
        throw new ConformanceFailure('allowed traffic raised "dropped by policy"', {
          expected: 'no policy drop counter moves',
          seen: `${describeDeltas(quiet)}${bpf ? `\ncalico_bpf_dataplane_policy_drops +${metricMid - metricBefore}` : ''}`,
          where,
        });
      }
      const moved = dropDeltas(mid, after);
      if (moved.get(key) !== DATAGRAMS || moved.size !== 1) {
        throw new ConformanceFailure(
          `${DATAGRAMS} denied datagrams did not raise "dropped by policy" by ${DATAGRAMS} at ${key}`,
          {
            expected: `${key} +${DATAGRAMS} and no other policy drop counter moves`,
            seen: describeDeltas(moved),
            where,
          },
        );
      }
      if (bpf && metricAfter - metricMid !== DATAGRAMS) {
        throw new ConformanceFailure(`calico_bpf_dataplane_policy_drops did not rise by ${DATAGRAMS}`, {
          expected: `+${DATAGRAMS} for iface=${target.hostIface} hook=${hook}`,
          seen: `+${metricAfter - metricMid} (${metricMid} -> ${metricAfter})`,
          where: `http://${c.topology().nodes.find((n) => n.name === target.nodeName)?.ip}:9091/metrics`,
        });
      }
    });
  });

  it('POL-009: a denied TCP connection times out; it is neither reset nor refused', async (ctx) => {
    const target = pod('x', 'a');
    const from = keyOf(pod('y', 'b'));
    const req: ProbeRequest = { kind: 'tcp', host: target.ip, port: 80, timeoutMs: 1500 };
    const where = `${from} -> ${keyOf(target)} ${target.ip}:80`;
    // First the port answers, so that a timeout below is the policy's doing.
    await expectAnswer(ctx, c, from, req, `${where} (no policy)`);
    await withPolicies([denyAllIngress('x')], () =>
      expectNoAnswer(ctx, c, from, req, ['timeout'], `${where} (default-deny ingress in x)`),
    );
  });

  it('POL-010: an allowed long-lived connection survives an unrelated policy update', async (ctx) => {
    const target = pod('x', 'a');
    const fromPod = pod('y', 'b');
    const from = keyOf(fromPod);
    const where = `${from} -> ${keyOf(target)} ${target.ip}:80`;
    const unrelated = pod('z', 'a');
    await withPolicies([allowFromNamespace('x', 'a', 'y')], async () => {
      const id = `pol010-${Date.now()}`;
      await c.streamStart(from, {
        id,
        host: target.ip,
        port: 80,
        intervalMs: 100,
        requestTimeoutMs: 1000,
        maxDurationMs: 60_000,
      });
      let final: StreamRecord | undefined;
      try {
        await sleep(1000);
        const updateAt = (await c.streamGet(from, id)).durationMs;
        await c.apply([denyAllIngress('z')]);
        try {
          // The update must really be in force, or the connection survived nothing.
          await expectNoAnswer(
            ctx,
            c,
            from,
            { kind: 'tcp', host: unrelated.ip, port: 80, timeoutMs: 600 },
            ['timeout'],
            `${from} -> ${keyOf(unrelated)} (default-deny ingress in z)`,
          );
          await sleep(1000);
        } finally {
          final = await c.streamStop(from, id);
          await c.delete([denyAllIngress('z')]);
        }
        recordEvidence(ctx, {
          kind: 'text',
          label: 'stream across the update',
          text: `${streamSummary(final)}\nupdate applied at ${updateAt.toFixed(0)} ms`,
        });
        const afterUpdate = final.samples.filter((s) => s.sentMs > updateAt);
        const failedAfter = afterUpdate.filter((s) => !s.ok);
        if (
          final.connections !== 1 ||
          final.connectionsLost > 0 ||
          final.failed > 0 ||
          afterUpdate.length < 5
        ) {
          throw new ConformanceFailure(
            'the established connection did not survive an unrelated policy update',
            {
              expected: 'one connection, never lost, every request answered, at least 5 after the update',
              seen: `${streamSummary(final)}; ${afterUpdate.length} requests after the update, ${failedAfter.length} failed`,
              where,
            },
          );
        }
      } finally {
        if (!final) await c.streamStop(from, id).catch(() => undefined);
      }
    });
  });

  it(`POL-011: a policy change takes effect within ${EFFECT_WITHIN_MS} ms of the call that makes it, both ways`, async (ctx) => {
    const target = pod('x', 'a');
    const from = keyOf(pod('y', 'b'));
    const req: ProbeRequest = { kind: 'tcp', host: target.ip, port: 80, timeoutMs: 300 };
    const where = `${from} -> ${keyOf(target)} ${target.ip}:80`;
    const limit = EFFECT_WITHIN_MS + 3000;
    await expectAnswer(ctx, c, from, { ...req, timeoutMs: 1500 }, `${where} (no policy)`);
    const policy = denyAllIngress('x');
    // Counted from the call: a dataplane that programs before apply() returns has spent that
    // time too, and a probe can only start once the call is back.
    let since = performance.now();
    await c.apply([policy]);
    const applyMs = performance.now() - since;
    let deny: Awaited<ReturnType<typeof timeUntil>>;
    let deleteMs = 0;
    try {
      deny = await timeUntil(from, req, since, limit, (r) => !r.ok && r.error === 'timeout');
    } finally {
      since = performance.now();
      await c.delete([policy]);
      deleteMs = performance.now() - since;
      recordEvidence(ctx, {
        kind: 'text',
        label: 'apply/delete duration',
        text: `apply() ${applyMs.toFixed(0)} ms, delete() ${deleteMs.toFixed(0)} ms`,
      });
    }
    const allow = await timeUntil(from, { ...req, timeoutMs: 1000 }, since, limit, (r) => r.ok);
    const figure = (t: typeof deny): string =>
      t.ms === undefined
        ? `not within ${limit} ms (${t.probes} probes, last ${t.last ? describeProbe(t.last) : 'none'})`
        : `${t.ms.toFixed(0)} ms (${t.probes} probes)`;
    recordEvidence(ctx, {
      kind: 'text',
      label: 'time to effect, from the call',
      text: `deny (default-deny ingress in x applied): ${figure(deny)}, of which apply() ${applyMs.toFixed(0)} ms\nallow (policy deleted): ${figure(allow)}, of which delete() ${deleteMs.toFixed(0)} ms`,
    });
    for (const [what, t] of [
      ['applying default-deny ingress in x', deny],
      ['deleting it', allow],
    ] as const) {
      if (t.ms === undefined || t.ms > EFFECT_WITHIN_MS) {
        throw new ConformanceFailure(`${what} did not take effect within ${EFFECT_WITHIN_MS} ms`, {
          expected: `the new verdict seen by a probe started within ${EFFECT_WITHIN_MS} ms of the call`,
          seen: figure(t),
          where,
        });
      }
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
