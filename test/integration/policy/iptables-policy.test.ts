/**
 * NetworkPolicy enforced by the iptables dataplane on a real node namespace: default-deny
 * ingress makes a pod unreachable (a timeout, not a refusal), an allow rule for a label opens
 * it for that peer only, every denied packet is counted on the pod's drop rule, default-deny
 * egress keeps a pod from connecting out, and nothing of the policy is left after removal.
 */

import { existsSync } from 'node:fs';
import type { V1NetworkPolicySpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIptablesDataplane, type IptablesDataplane } from '../../../src/dataplane/iptables/index.ts';
import { createPolicyExtension, isPolicyChain } from '../../../src/dataplane/iptables/policy.ts';
import { removePolicyChains } from '../../../src/dataplane/iptables/policy-cleanup.ts';
import { readPolicyDrops } from '../../../src/dataplane/iptables/policy-counters.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/dataplane/types.ts';
import type { NetworkPolicyState } from '../../../src/k8s/model.ts';
import { run } from '../../../src/sys/exec.ts';
import { createPolicyLab, httpFrom, type LabPod, type PolicyLab, sendUdp } from './topology.ts';

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

describe('NetworkPolicy in the iptables dataplane', () => {
  let lab: PolicyLab | undefined;
  let dp: IptablesDataplane | undefined;

  const pod = (name: string): LabPod => {
    const found = lab?.pods.find((p) => p.name === name);
    if (!found) throw new Error(`no pod ${name}`);
    return found;
  };
  const sync = async (...policies: NetworkPolicyState[]) => {
    const report = await (dp as IptablesDataplane).sync((lab as PolicyLab).model(policies));
    expect(report.errors).toEqual([]);
  };
  const drops = async (podName: string, direction: 'ingress' | 'egress') => {
    const all = await readPolicyDrops((lab as PolicyLab).node.netns);
    return all.find((d) => d.pod === `x/${podName}` && d.direction === direction)?.packets;
  };

  beforeAll(async () => {
    lab = await createPolicyLab(
      [
        { namespace: 'x', name: 'web', labels: { app: 'web' } },
        { namespace: 'x', name: 'client', labels: { role: 'client' } },
        { namespace: 'x', name: 'other', labels: { role: 'other' } },
      ],
      [{ name: 'x', labels: {} }],
    );
    dp = createIptablesDataplane({ filterExtensions: [createPolicyExtension()] });
    await dp.install({
      runId: lab.prefix,
      nodes: [lab.node],
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      bpffsDir: `/sys/fs/bpf/${lab.prefix}`,
      cgroupDir: `/sys/fs/cgroup/unified/${lab.prefix}`,
      log: () => {},
    });
  }, 60_000);

  afterAll(async () => {
    try {
      if (lab && existsSync(`/run/netns/${lab.node.netns}`)) await removePolicyChains(lab.node.netns);
      await dp?.uninstall();
    } finally {
      await lab?.destroy();
    }
  });

  it('without policy every pod reaches the web pod', async () => {
    await sync();
    for (const from of ['client', 'other']) {
      const r = await httpFrom(pod(from), pod('web'));
      expect(r.code, `curl ${from} -> web`).toBe(0);
      expect(r.body).toBe(pod(from).ip);
    }
  });

  it('default-deny ingress: the web pod times out (dropped, not refused) for every peer', async () => {
    await sync(DENY_INGRESS);
    for (const from of ['client', 'other']) {
      const r = await httpFrom(pod(from), pod('web'), 2);
      expect(r.code, `curl ${from} -> web should time out (28), got ${r.code} ${r.body}`).toBe(28);
      expect(r.ms).toBeGreaterThanOrEqual(1900);
    }
    expect(await drops('web', 'ingress')).toBeGreaterThan(0);
  });

  it('an allow rule for role=client opens the web pod to that peer only', async () => {
    await sync(DENY_INGRESS, ALLOW_CLIENT);
    const ok = await httpFrom(pod('client'), pod('web'));
    expect(ok.code, 'curl client -> web').toBe(0);
    expect(ok.body).toBe(pod('client').ip);
    const denied = await httpFrom(pod('other'), pod('web'), 2);
    expect(denied.code, `curl other -> web should time out, got ${denied.code}`).toBe(28);
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
    expect(r.code, `curl client -> web should time out, got ${r.code}`).toBe(28);
    expect(await drops('client', 'egress')).toBeGreaterThan(0);
    const back = await httpFrom(pod('web'), pod('other'));
    expect(back.code, 'curl web -> other (web is not egress-isolated)').toBe(0);
  });

  it('removing the policies reopens everything and deletes the per-pod chains', async () => {
    await sync();
    const r = await httpFrom(pod('other'), pod('web'));
    expect(r.code, 'curl other -> web').toBe(0);
    const saved = await run(['iptables-save', '-t', 'filter'], { netns: (lab as PolicyLab).node.netns });
    const chains = saved.stdout
      .split('\n')
      .filter((l) => l.startsWith(':'))
      .map((l) => l.slice(1).split(' ')[0] ?? '');
    expect(chains.filter(isPolicyChain)).toEqual(['DPC-POLICY']);
  });

  it('removePolicyChains leaves no policy chain and no jump to one', async () => {
    await sync(DENY_INGRESS);
    const netns = (lab as PolicyLab).node.netns;
    const removed = await removePolicyChains(netns);
    expect(removed.length).toBe(2);
    const saved = (await run(['iptables-save', '-t', 'filter'], { netns })).stdout;
    expect(saved).not.toMatch(/DPC-/);
  });
});
