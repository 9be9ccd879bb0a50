/**
 * The suites must fail when the dataplane misbehaves. Each case breaks a working cluster in one
 * precise way, runs the suite that should notice, and checks the requirement that names it.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../../../src/cluster/providers.ts';
import type { Cluster } from '../../../src/cluster/types.ts';
import type { Pass, Requirement } from '../../../src/report/model.ts';
import { runPass } from '../../../src/run/conformance.ts';

let c: Cluster;

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

beforeAll(async () => {
  c = await startCluster('netns', { nodes: 3, dataplane: 'iptables' });
});

afterAll(async () => {
  await c?.down();
});

function requirement(pass: Pass, id: string): Requirement {
  const r = pass.areas.flatMap((a) => a.requirements).find((x) => x.id === id);
  if (!r) throw new Error(`no ${id} in the pass`);
  return r;
}

async function onEveryNode(argv: string[]): Promise<void> {
  for (const n of c.topology().nodes) await c.exec(n.name, argv);
}

describe('suites fail when the dataplane misbehaves', () => {
  it('an SNAT towards the pods makes SIP-001 non-conformant, naming the address seen', async () => {
    const rule = ['-t', 'nat', '-I', 'POSTROUTING', '1', '-o', 'cali+', '-j', 'MASQUERADE'];
    await onEveryNode(['iptables', ...rule]);
    try {
      const pass = await runPass(
        c,
        { dataplane: 'iptables', serviceMode: 'Tunnel' },
        { areas: ['source-ip'], out: quiet },
      );
      const r = requirement(pass, 'SIP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.expected).toContain('source 172.18.1.1');
      expect(r.failure?.seen).toMatch(/source 10\.244\.\d+\.1|source 172\.18\.0\.\d/);
      expect(r.failure?.where).toMatch(/dpc-\S+ 172\.18\.0\.\d+:30084/);
    } finally {
      await onEveryNode(['iptables', ...rule.map((w) => (w === '-I' ? '-D' : w)).filter((w) => w !== '1')]);
    }
  });

  it('a node that stops answering NodePorts makes NP-001 non-conformant on that node', async () => {
    const victim = c.topology().nodes[1]!;
    const rule = ['-t', 'raw', '-I', 'PREROUTING', '-p', 'tcp', '--dport', '30081', '-j', 'DROP'];
    await c.exec(victim.name, ['iptables', ...rule]);
    try {
      const pass = await runPass(
        c,
        { dataplane: 'iptables', serviceMode: 'Tunnel' },
        { areas: ['nodeport'], out: quiet },
      );
      const r = requirement(pass, 'NP-001');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.where).toBe(`${victim.name} ${victim.ip}:30081`);
      expect(r.failure?.seen).toMatch(/^timeout/);
      // The other requirements of the suite are unaffected by this one fault.
      expect(requirement(pass, 'NP-005').verdict).toBe('conformant');
    } finally {
      await c.exec(victim.name, ['iptables', ...rule.map((w) => (w === '-I' ? '-D' : w))]);
    }
  });

  it('a refusal turned into a silent drop makes NP-005 non-conformant', async () => {
    const rule = ['-t', 'filter', '-I', 'INPUT', '-p', 'tcp', '--dport', '30099', '-j', 'DROP'];
    await onEveryNode(['iptables', ...rule]);
    try {
      const pass = await runPass(
        c,
        { dataplane: 'iptables', serviceMode: 'Tunnel' },
        { areas: ['nodeport'], out: quiet },
      );
      const r = requirement(pass, 'NP-005');
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.expected).toContain('refused within');
    } finally {
      await onEveryNode(['iptables', ...rule.map((w) => (w === '-I' ? '-D' : w))]);
    }
  });
});

describe('suites fail when the eBPF dataplane misbehaves', () => {
  let b: Cluster;

  beforeAll(async () => {
    b = await startCluster('netns', { nodes: 3, dataplane: 'bpf' });
  });

  afterAll(async () => {
    await b?.down();
  });

  it('a node whose data interface lost its program makes NP-001 non-conformant there', async () => {
    const victim = b.topology().nodes[2]!;
    // Without the ingress program the node's own stack sees NodePort traffic and answers RST.
    await b.exec(victim.name, ['tc', 'filter', 'del', 'dev', 'eth0', 'ingress']);
    const pass = await runPass(
      b,
      { dataplane: 'bpf', serviceMode: 'Tunnel' },
      { areas: ['nodeport'], out: quiet },
    );
    const r = pass.areas.flatMap((a) => a.requirements).find((x) => x.id === 'NP-001')!;
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure?.where).toBe(`${victim.name} ${victim.ip}:30081`);
  });

  it('DSR replies forced back through the entry node make DSR-002 non-conformant, quoting the packets', async () => {
    const client = b.topology().clients[0]!;
    // Opting the client out turns its DSR replies back into Tunnel replies through A.
    await b.patchFelix({ bpfExternalServiceMode: 'DSR', bpfDSROptoutCIDRs: [`${client.ip}/32`] });
    try {
      const pass = await runPass(b, { dataplane: 'bpf', serviceMode: 'DSR' }, { areas: ['dsr'], out: quiet });
      const r = pass.areas.flatMap((a) => a.requirements).find((x) => x.id === 'DSR-002')!;
      expect(r.verdict).toBe('non-conformant');
      expect(r.failure?.message).toContain('did not go from the backend node straight to the client');
      expect(r.failure?.seen).toMatch(/on dpc-\S+ eth0:\n.*> 172\.18\.1\.1\.\d+: Flags/);
    } finally {
      await b.patchFelix({ bpfExternalServiceMode: 'Tunnel', bpfDSROptoutCIDRs: [] });
    }
  });
});
