/**
 * The suites must fail when the dataplane misbehaves. Each case breaks a working cluster in one
 * precise way (a rule, a program, a configuration record, or a control-plane bug put into a copy
 * of the project), runs only the requirements that should notice, checks that the right one
 * failed for the right reason, and puts the cluster back as it was, whatever happened.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../../../src/cluster/providers.ts';
import type { Cluster } from '../../../src/cluster/types.ts';
import { CFG_FLAG } from '../../../src/dataplane/bpf/layout.ts';
import { writeConfig } from '../../../src/dataplane/bpf/maps.ts';
import type { Pass, PassMode, Requirement } from '../../../src/report/model.ts';
import { labelledPass, REPO_ROOT, runPass } from '../../../src/run/conformance.ts';
import { FAULTS } from '../../../src/selftest/faults.ts';
import { type CopyCode, makeWorkspace, type Workspace } from '../../../src/selftest/workspace.ts';
import { matrixObjects } from '../../../suites/lib/policy-objects.ts';

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

const TUNNEL: PassMode = { dataplane: 'bpf', serviceMode: 'Tunnel' };
const IPTABLES: PassMode = { dataplane: 'iptables', serviceMode: 'Tunnel' };

function requirement(pass: Pass, id: string): Requirement {
  const r = pass.areas.flatMap((a) => a.requirements).find((x) => x.id === id);
  if (!r)
    throw new Error(
      `no ${id} in the pass (problems: ${[...pass.problems, ...pass.areas.flatMap((a) => a.problems)].join('; ')})`,
    );
  return r;
}

/** Runs only the named requirements of one area (with the given runner, this project's by default). */
function only(
  c: Cluster,
  mode: PassMode,
  area: string,
  ids: string[],
  run: typeof runPass = runPass,
): Promise<Pass> {
  return run(c, mode, { areas: [area], only: ids, out: quiet });
}

async function onEveryNode(c: Cluster, argv: string[]): Promise<void> {
  for (const n of c.topology().nodes) await c.exec(n.name, argv);
}

/** The same iptables rule command with `-I` (and its position) turned into `-D`. */
function deleting(rule: readonly string[]): string[] {
  const i = rule.indexOf('-I');
  const out = rule.map((w) => (w === '-I' ? '-D' : w));
  // `-I CHAIN 1` has a position; `-D CHAIN` takes the rule without it.
  if (i >= 0 && /^\d+$/.test(rule[i + 2] ?? '')) out.splice(i + 2, 1);
  return out;
}

describe('suites fail when the iptables dataplane misbehaves', () => {
  let c: Cluster;

  beforeAll(async () => {
    c = await startCluster('netns', { nodes: 3, dataplane: 'iptables' });
  });

  afterAll(async () => {
    await c?.down();
  });

  it('an SNAT towards the pods makes SIP-001 non-conformant, naming the address seen', async () => {
    const rule = ['iptables', '-t', 'nat', '-I', 'POSTROUTING', '1', '-o', 'cali+', '-j', 'MASQUERADE'];
    await onEveryNode(c, rule);
    try {
      const r = requirement(await only(c, IPTABLES, 'source-ip', ['SIP-001']), 'SIP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.expected).toContain('source 172.18.1.1');
      expect(r.failure?.seen).toMatch(/source 10\.244\.\d+\.1|source 172\.18\.0\.\d/);
      expect(r.failure?.where).toMatch(/dpc-\S+ 172\.18\.0\.\d+:30084/);
    } finally {
      await onEveryNode(c, deleting(rule));
    }
  });

  it('a node that stops answering NodePorts makes NP-001 non-conformant on that node, and only NP-001', async () => {
    const victim = c.topology().nodes[1]!;
    const rule = ['iptables', '-t', 'raw', '-I', 'PREROUTING', '-p', 'tcp', '--dport', '30081', '-j', 'DROP'];
    await c.exec(victim.name, rule);
    try {
      const pass = await only(c, IPTABLES, 'nodeport', ['NP-001', 'NP-005']);
      const r = requirement(pass, 'NP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.where).toBe(`${victim.name} ${victim.ip}:30081`);
      expect(r.failure?.seen).toMatch(/^timeout/);
      expect(requirement(pass, 'NP-005').verdict).toBe('conformant');
    } finally {
      await c.exec(victim.name, deleting(rule));
    }
  });

  it('a refusal turned into a silent drop makes NP-005 non-conformant', async () => {
    const rule = ['iptables', '-t', 'filter', '-I', 'INPUT', '-p', 'tcp', '--dport', '30099', '-j', 'DROP'];
    await onEveryNode(c, rule);
    try {
      const r = requirement(await only(c, IPTABLES, 'nodeport', ['NP-005']), 'NP-005');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.expected).toContain('refused within');
    } finally {
      await onEveryNode(c, deleting(rule));
    }
  });
});

describe('suites fail when the eBPF dataplane misbehaves', () => {
  let b: Cluster;
  let ws: Workspace;
  let code: CopyCode;
  /** Runs requirements from the copy (where the control-plane faults go), with the copy's runner. */
  const fromCopy = (mode: PassMode, area: string, ids: string[]) => only(b, mode, area, ids, code.runPass);

  beforeAll(async () => {
    ws = await makeWorkspace(REPO_ROOT);
    code = await ws.code();
    // The copy's code drives the cluster, as the suites run from the copy do: one code acts on it.
    b = await code.startCluster('netns', { nodes: 3, clients: 2, dataplane: 'bpf', bpfSource: ws.bpfSource });
  });

  afterAll(async () => {
    await b?.down();
    await ws?.remove();
  });

  /** Puts a control-plane fault of the self-test's list into the copy for the length of `body`. */
  async function withFault<T>(id: string, body: () => Promise<T>): Promise<T> {
    const fault = FAULTS.find((f) => f.id === id);
    if (!fault) throw new Error(`no fault ${id} in the self-test's list`);
    const restore = await ws.apply(fault);
    try {
      return await body();
    } finally {
      await restore();
    }
  }

  it('a pass whose label the nodes contradict is an error and runs nothing', async () => {
    // The nodes run Tunnel: a pass labelled DSR is not what it says.
    const dsr = await labelledPass(b, { dataplane: 'bpf', serviceMode: 'DSR' }, () => {
      throw new Error('the suites must not run');
    });
    expect(dsr.verdict).toBe('error');
    expect(dsr.areas).toEqual([]);
    expect(dsr.problems[0]).toMatch(/labelled DSR but the nodes' configuration says Tunnel/);
    expect(dsr.observed?.dataplane).toBe('bpf');
    expect(dsr.settings?.bpfExternalServiceMode).toBe('Tunnel');
    const ipt = await labelledPass(b, IPTABLES, () => {
      throw new Error('the suites must not run');
    });
    expect(ipt.problems[0]).toMatch(/labelled iptables but the nodes run the eBPF dataplane/);
  });

  // Before any case adds netfilter rules of its own: the switch must meet nodes as the eBPF
  // dataplane left them.
  it('rollback: a switch to iptables that leaves the VXLAN device makes RB-001 non-conformant', async () => {
    await withFault('uninstall-leaves-vxlan', async () => {
      const r = requirement(await fromCopy(TUNNEL, 'rollback', ['RB-001']), 'RB-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.seen).toMatch(/vx device still there/);
    });
    // The suite put the eBPF dataplane back, as the nodes show.
    expect((await code.observeMode(b)).dataplane).toBe('bpf');
  });

  it('a node whose data interface lost its program makes NP-001 non-conformant there', async () => {
    const victim = b.topology().nodes[2]!;
    // Without the ingress program the node's own stack sees NodePort traffic and answers RST.
    await b.exec(victim.name, ['tc', 'filter', 'del', 'dev', 'eth0', 'ingress']);
    try {
      const r = requirement(await fromCopy(TUNNEL, 'nodeport', ['NP-001']), 'NP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.where).toBe(`${victim.name} ${victim.ip}:30081`);
    } finally {
      // Put on again: every program back on every interface.
      await b.useBpfSource(ws.bpfSource);
    }
  });

  it('SNAT under eBPF: a masquerade towards the pods makes SIP-001 non-conformant, naming the address seen', async () => {
    const rule = ['iptables', '-t', 'nat', '-I', 'POSTROUTING', '1', '-o', 'cali+', '-j', 'MASQUERADE'];
    await onEveryNode(b, rule);
    try {
      const r = requirement(await fromCopy(TUNNEL, 'source-ip', ['SIP-001']), 'SIP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.expected).toContain('source 172.18.1.1');
      expect(r.failure?.seen).toMatch(/source (10\.244|172\.18\.0)\.\d+\.?\d*/);
    } finally {
      await onEveryNode(b, deleting(rule));
    }
  });

  it('Tunnel return path: replies sent straight to the client in Tunnel mode make DSR-004 non-conformant', async () => {
    const bpf = b.bpf()!;
    const saved = new Map<string, NonNullable<Awaited<ReturnType<typeof bpf.config>>>>();
    try {
      // The configuration record says DSR while the cluster is labelled, and set up, Tunnel.
      for (const n of b.topology().nodes) {
        const cfg = await bpf.config(n.name);
        if (!cfg) throw new Error(`${n.name} has no configuration record`);
        saved.set(n.name, cfg);
        await writeConfig(b.node(n.name), bpf.pins(n.name), { ...cfg, flags: cfg.flags | CFG_FLAG.dsr });
      }
      const r = requirement(await fromCopy(TUNNEL, 'dsr', ['DSR-004']), 'DSR-004');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.message).toContain('did not return through the entry node');
    } finally {
      for (const [n, cfg] of saved) await writeConfig(b.node(n), bpf.pins(n), cfg);
    }
  });

  it('policy: another pod answering in place of its target makes POL-001 non-conformant, never "blocked"', async () => {
    await b.apply(matrixObjects());
    const pods = b.topology().pods;
    const xa = pods.find((p) => p.namespace === 'x' && p.labels.pod === 'a')!;
    const xb = pods.find((p) => p.namespace === 'x' && p.labels.pod === 'b')!;
    const rule = [
      'iptables',
      '-t',
      'nat',
      '-I',
      'PREROUTING',
      '1',
      '-d',
      xa.ip,
      '-p',
      'tcp',
      '--dport',
      '80',
      '-j',
      'DNAT',
      '--to-destination',
      `${xb.ip}:80`,
    ];
    await onEveryNode(b, rule);
    try {
      const r = requirement(await fromCopy(TUNNEL, 'policy', ['POL-001']), 'POL-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.seen).toMatch(/-> x\/a tcp\/80: expected reached, seen wrong/);
    } finally {
      await onEveryNode(b, deleting(rule));
    }
  });

  it('LoadBalancer: a VIP balanced over every endpoint despite externalTrafficPolicy Local makes LB-003 non-conformant', async () => {
    await withFault('vip-ignores-etp-local', async () => {
      const r = requirement(await fromCopy(TUNNEL, 'loadbalancer', ['LB-003']), 'LB-003');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.message).toMatch(/was not dropped/);
      expect(r.failure?.seen).toMatch(/answered/);
    });
  });

  it('map-full: the backends of a Service refused for room, left in the kernel, make MAP-003 non-conformant', async () => {
    await withFault('refused-service-backends-kept', async () => {
      const r = requirement(await fromCopy(TUNNEL, 'map-full', ['MAP-003']), 'MAP-003');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.message).toContain('do not hold whole Services only');
      expect(r.failure?.seen).toMatch(/backend entries of no frontend/);
    });
  });

  it('DSR: replies forced back through the entry node make DSR-002 non-conformant, quoting the packets', async () => {
    const client = b.topology().clients[0]!;
    // Opting the client out turns its DSR replies back into Tunnel replies through A.
    await b.patchFelix({ bpfExternalServiceMode: 'DSR', bpfDSROptoutCIDRs: [`${client.ip}/32`] });
    try {
      const pass = await fromCopy({ dataplane: 'bpf', serviceMode: 'DSR' }, 'dsr', ['DSR-002']);
      const r = requirement(pass, 'DSR-002');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.message).toContain('did not go from the backend node straight to the client');
      expect(r.failure?.seen).toMatch(/on dpc-\S+ eth0:\n.*> 172\.18\.1\.1\.\d+: Flags/);
    } finally {
      await b.patchFelix({ bpfExternalServiceMode: 'Tunnel', bpfDSROptoutCIDRs: [] });
    }
  });
});
