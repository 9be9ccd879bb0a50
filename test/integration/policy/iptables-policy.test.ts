/**
 * NetworkPolicy enforced by the iptables dataplane on a real node: default-deny
 * ingress makes a pod unreachable (a timeout, not a refusal), an allow rule for a label opens
 * it for that peer only, every denied packet is counted on the pod's drop rule, default-deny
 * egress keeps a pod from connecting out, and nothing of the policy is left after removal.
 */

import type { V1NetworkPolicySpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIptablesDataplane, type IptablesDataplane } from '../../../src/dataplane/iptables/index.ts';
import { createPolicyExtension, isPolicyChain } from '../../../src/dataplane/iptables/policy.ts';
import { removePolicyChains } from '../../../src/dataplane/iptables/policy-cleanup.ts';
import { readPolicyDrops } from '../../../src/dataplane/iptables/policy-counters.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import type { ClusterModel, NetworkPolicyState, PodState } from '../../../src/k8s/model.ts';
import type { NodePlace } from '../../../src/node/place.ts';
import type { AgentClient } from '../../../src/workload/agent-client.ts';
import type { ProbeResult } from '../../../src/workload/types.ts';
import { type Lab, type LabPod, startLab } from '../lab.ts';

const HTTP_PORT = 8080;
const UDP_PORT = 9000;

function policy(name: string, spec: Record<string, unknown>): NetworkPolicyState {
  return { namespace: 'x', name, spec: spec as unknown as V1NetworkPolicySpec };
}

const DENY_INGRESS = policy('deny-web', { podSelector: { matchLabels: { app: 'web' } } });
const ALLOW_CLIENT = policy('allow-client', {
  podSelector: { matchLabels: { app: 'web' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { role: 'client' } } }] }],
});
const DENY_EGRESS = policy('deny-egress', {
  podSelector: { matchLabels: { role: 'client' } },
  policyTypes: ['Egress'],
});

/** A pod of the lab with the echo server and prober running in it. */
interface EchoPod extends LabPod {
  agent: AgentClient;
}

/** The pod as the model lists it: the echo server's HTTP and UDP ports are its container ports. */
function podState({ info }: LabPod): PodState {
  return {
    namespace: info.namespace,
    name: info.name,
    labels: info.labels,
    nodeName: info.nodeName,
    ip: info.ip,
    ports: [
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
      { name: 'udp', containerPort: UDP_PORT, protocol: 'UDP' },
    ],
    hostIface: info.hostIface,
  };
}

/** One HTTP request from a pod to another pod's echo server, which answers with the caller's `ip:port`. */
function httpFrom(from: EchoPod, to: EchoPod, timeoutS = 2): Promise<ProbeResult> {
  return from.agent.probe({
    kind: 'http',
    host: to.info.ip,
    port: HTTP_PORT,
    path: '/clientip',
    timeoutMs: timeoutS * 1000,
  });
}

/** The address the echo server saw the request come from. */
function peerIp(r: ProbeResult): string | undefined {
  return r.body?.replace(/:\d+$/, '');
}

/**
 * Sends `count` UDP datagrams from one pod to another's UDP port: one datagram per probe, each
 * waiting briefly for the echo, which a dropped one never gets.
 */
async function sendUdp(from: EchoPod, to: EchoPod, count: number): Promise<void> {
  const request = { kind: 'udp' as const, host: to.info.ip, port: UDP_PORT, timeoutMs: 300 };
  await from.agent.probes(
    Array.from({ length: count }, () => request),
    count,
  );
}

describe('NetworkPolicy in the iptables dataplane', () => {
  let lab: Lab | undefined;
  let dp: IptablesDataplane | undefined;
  const pods: EchoPod[] = [];

  const node = (): NodePlace => (lab as Lab).nodes[0]!;
  const pod = (name: string): EchoPod => {
    const found = pods.find((p) => p.info.name === name);
    if (!found) throw new Error(`no pod ${name}`);
    return found;
  };
  const model = (policies: NetworkPolicyState[]): ClusterModel => {
    const n = node();
    return {
      nodes: [{ name: n.name, index: n.index, ip: n.ip, podCidr: n.podCidr }],
      pods: pods.map(podState),
      services: [],
      endpoints: [],
      clusterCidr: (lab as Lab).topology.clusterCidr,
      serviceCidr: (lab as Lab).topology.serviceCidr,
      namespaces: [{ name: 'x', labels: {} }],
      policies,
    };
  };
  const sync = async (...policies: NetworkPolicyState[]) => {
    const report = await (dp as IptablesDataplane).sync(model(policies));
    expect(report.errors).toEqual([]);
  };
  const drops = async (podName: string, direction: 'ingress' | 'egress') => {
    const all = await readPolicyDrops(node());
    return all.find((d) => d.pod === `x/${podName}` && d.direction === direction)?.packets;
  };

  beforeAll(async () => {
    lab = await startLab({
      nodes: 1,
      clients: 1,
      pods: [
        { node: 0, namespace: 'x', name: 'web', labels: { app: 'web' } },
        { node: 0, namespace: 'x', name: 'client', labels: { role: 'client' } },
        { node: 0, namespace: 'x', name: 'other', labels: { role: 'other' } },
      ],
    });
    const theLab = lab;
    pods.push(
      ...(await Promise.all(
        theLab.pods.map(async (p) => ({ ...p, agent: await theLab.agent(p.place, [HTTP_PORT, UDP_PORT]) })),
      )),
    );
    dp = createIptablesDataplane({ filterExtensions: [createPolicyExtension()] });
    await dp.install({
      runId: lab.runId,
      nodes: lab.nodes,
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      log: () => {},
    });
  }, 60_000);

  afterAll(async () => {
    try {
      if (lab) await removePolicyChains(node());
      await dp?.uninstall();
    } finally {
      await lab?.down();
    }
  });

  it('without policy every pod reaches the web pod', async () => {
    await sync();
    for (const from of ['client', 'other']) {
      const r = await httpFrom(pod(from), pod('web'));
      expect(r.ok, `probe ${from} -> web: ${r.error} ${r.errorMessage}`).toBe(true);
      expect(peerIp(r)).toBe(pod(from).info.ip);
    }
  });

  it('default-deny ingress: the web pod times out (dropped, not refused) for every peer', async () => {
    await sync(DENY_INGRESS);
    for (const from of ['client', 'other']) {
      const r = await httpFrom(pod(from), pod('web'), 2);
      expect(r.error, `probe ${from} -> web should time out, got ${r.error ?? 'an answer'} ${r.body}`).toBe(
        'timeout',
      );
      expect(r.totalMs).toBeGreaterThanOrEqual(1900);
    }
    expect(await drops('web', 'ingress')).toBeGreaterThan(0);
  });

  it('an allow rule for role=client opens the web pod to that peer only', async () => {
    await sync(DENY_INGRESS, ALLOW_CLIENT);
    const ok = await httpFrom(pod('client'), pod('web'));
    expect(ok.ok, `probe client -> web: ${ok.error} ${ok.errorMessage}`).toBe(true);
    expect(peerIp(ok)).toBe(pod('client').info.ip);
    const denied = await httpFrom(pod('other'), pod('web'), 2);
    expect(denied.error, `probe other -> web should time out, got ${denied.error ?? 'an answer'}`).toBe(
      'timeout',
    );
  });

  it('the drop counter rises by exactly N for N denied UDP packets, and not for allowed ones', async () => {
    await sync(DENY_INGRESS, ALLOW_CLIENT);
    const before = await drops('web', 'ingress');
    expect(before).toBeDefined();
    await sendUdp(pod('other'), pod('web'), 7);
    await sendUdp(pod('client'), pod('web'), 4);
    const after = await drops('web', 'ingress');
    expect((after ?? 0) - (before ?? 0), `drops on x/web ingress went ${before} -> ${after}`).toBe(7);
  });

  it('default-deny egress: the client can no longer connect out, others still can', async () => {
    await sync(DENY_INGRESS, ALLOW_CLIENT, DENY_EGRESS);
    const r = await httpFrom(pod('client'), pod('web'), 2);
    expect(r.error, `probe client -> web should time out, got ${r.error ?? 'an answer'}`).toBe('timeout');
    expect(await drops('client', 'egress')).toBeGreaterThan(0);
    const back = await httpFrom(pod('web'), pod('other'));
    expect(back.ok, `probe web -> other (web is not egress-isolated): ${back.error}`).toBe(true);
  });

  it('removing the policies reopens everything and deletes the per-pod chains', async () => {
    await sync();
    const r = await httpFrom(pod('other'), pod('web'));
    expect(r.ok, `probe other -> web: ${r.error} ${r.errorMessage}`).toBe(true);
    const saved = await node().exec(['iptables-save', '-t', 'filter']);
    const chains = saved.stdout
      .split('\n')
      .filter((l) => l.startsWith(':'))
      .map((l) => l.slice(1).split(' ')[0] ?? '');
    expect(chains.filter(isPolicyChain)).toEqual(['DPC-POLICY']);
  });

  it('removePolicyChains leaves no policy chain and no jump to one', async () => {
    await sync(DENY_INGRESS);
    const removed = await removePolicyChains(node());
    expect(removed.length).toBe(2);
    const saved = (await node().exec(['iptables-save', '-t', 'filter'])).stdout;
    expect(saved).not.toMatch(/DPC-/);
  });
});
