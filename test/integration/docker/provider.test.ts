/**
 * The docker provider on this machine: node and client containers started with testcontainers on
 * a private engine of the run's own, places that enter them, pods inside nodes, the dataplane
 * loaded in every node, a suite run against it, and nothing left once it is down.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { containerRecords } from '../../../src/cluster/docker/containers.ts';
import {
  type DockerAvailability,
  docker,
  dockerAvailability,
  readEngine,
} from '../../../src/cluster/docker/engine.ts';
import { RUN_LABEL } from '../../../src/cluster/docker/plan.ts';
import { type OwnedCluster, startCluster } from '../../../src/cluster/providers.ts';
import { runPass } from '../../../src/run/conformance.ts';
import { run } from '../../../src/sys/exec.ts';
import { dockerLeftoversOf } from './leftovers.ts';

const ECHO = new URL('../../../fixtures/workloads/echo.yaml', import.meta.url).pathname;
const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

let available: DockerAvailability = { available: false, reason: 'not checked' };
let cluster: OwnedCluster | undefined;
let runId = '';
/** This machine's own links and rules before the run: the run must not add to them. */
let rootBefore = { links: '', rules: '' };

async function rootNamespace() {
  const links = (await run(['ip', '-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim() ?? '')
    .filter(Boolean)
    .sort()
    .join(' ');
  return {
    links,
    rules: (await run(['iptables-save'])).stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, ''),
  };
}

function need(ctx: TestContext): OwnedCluster {
  if (!available.available) ctx.skip(`docker provider unavailable on this host: ${available.reason}`);
  if (!cluster) throw new Error('the docker cluster did not come up');
  return cluster;
}

beforeAll(async () => {
  available = await dockerAvailability();
  if (!available.available) return;
  rootBefore = await rootNamespace();
  cluster = await startCluster('docker', { nodes: 2, clients: 1, dataplane: 'bpf' });
  runId = cluster.runId;
}, 300_000);

afterAll(async () => {
  await cluster?.down();
});

describe('docker provider', () => {
  it('starts node and client containers on a network of kind’s plan, labelled with the run', async (ctx) => {
    const c = need(ctx);
    const engine = (await readEngine(runId))!;
    const ps = await docker(engine, [
      'ps',
      '--filter',
      `label=${RUN_LABEL}=${runId}`,
      '--format',
      '{{.Names}} {{.Label "dpconform.role"}} {{.Label "org.testcontainers"}}',
    ]);
    expect(ps.stdout.trim().split('\n').sort()).toEqual([
      `dpc-${runId}-client client true`,
      `dpc-${runId}-control-plane node true`,
      `dpc-${runId}-worker node true`,
    ]);
    const net = await docker(engine, [
      'network',
      'inspect',
      '--format',
      '{{(index .IPAM.Config 0).Subnet}}',
      `dpc-${runId}`,
    ]);
    expect(net.stdout.trim()).toBe('172.18.0.0/16');
    for (const n of c.topology().nodes) {
      const addr = await c
        .node(n.name)
        .execJson<{ addr_info: { local: string }[] }[]>(['ip', '-j', '-4', 'addr', 'show', 'eth0']);
      expect(addr[0]?.addr_info.map((a) => a.local)).toEqual([n.ip]);
    }
    expect(c.topology().nodeImage).toMatch(/^dpconform\/node:[0-9a-f]{12}$/);
  });

  it('adds no link, address or rule to this machine’s namespace (the private engine has a namespace of its own)', async (ctx) => {
    need(ctx);
    expect(await rootNamespace()).toEqual(rootBefore);
  });

  it('runs a node’s commands inside its container, and this machine’s programs in its network only', async (ctx) => {
    const c = need(ctx);
    const node = c.node('dpc-worker');
    // The container's own files and processes: its hostname file, its init as pid 1.
    expect((await node.exec(['cat', '/etc/hostname'])).stdout.trim()).toBe('dpc-worker');
    expect((await node.exec(['cat', '/proc/1/cmdline'])).stdout).toContain('sleep');
    const pid = containerRecords(runId)[`dpc-${runId}-worker`]!.pid;
    const spawned = await node.spawn(['sh', '-c', 'readlink /proc/self/ns/net; cat /etc/hostname']).exited;
    const [netns, hostname] = spawned.stdout.trim().split('\n');
    expect(netns).toBe((await run(['readlink', `/proc/${pid}/ns/net`])).stdout.trim());
    expect(hostname).toBe(readFileSync('/etc/hostname', 'utf8').trim());
  });

  it('loads the dataplane inside every node from this machine’s build, and serves its metrics', async (ctx) => {
    const c = need(ctx);
    const footprint = await c.footprint();
    for (const n of c.topology().nodes) {
      const node = footprint.nodes[n.name]!;
      expect(node.tcFilters.length, `${n.name}: ${JSON.stringify(node.tcFilters)}`).toBeGreaterThan(0);
      expect(footprint.pins.filter((p) => p.startsWith(`${n.name}/`)).length).toBeGreaterThan(0);
      const listed = await c.node(n.name).exec(['ls', `${c.node(n.name).bpffsDir}/progs`]);
      expect(listed.stdout).toMatch(/calico_/);
    }
    const scrape = await c.metrics('dpc-worker');
    expect(scrape.text).toContain('calico_bpf_dataplane_packets_total');
  });

  it('wires pods into their node as cali veths in namespaces of the node, reachable from a client', async (ctx) => {
    const c = need(ctx);
    await c.apply(ECHO);
    const pods = c.topology().pods;
    expect(pods.length).toBeGreaterThan(0);
    for (const n of c.topology().nodes) {
      const mine = pods.filter((p) => p.nodeName === n.name);
      const netns = (await c.node(n.name).exec(['ip', 'netns', 'list'])).stdout;
      const links = (await c.node(n.name).exec(['ip', '-br', 'link'])).stdout;
      for (const p of mine) {
        expect(netns).toContain(`p-${p.hostIface}`);
        expect(links).toContain(p.hostIface);
      }
    }
    const worker = c.topology().nodes.find((n) => n.name === 'dpc-worker')!;
    const r = await c.probe('client', { kind: 'http', host: worker.ip, port: 30081, path: '/clientip' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    // The eBPF dataplane keeps the client's address: the pod saw the client container's own.
    expect(r.body?.split(':')[0]).toBe(c.topology().clients[0]!.ip);
  });

  it('passes a conformance suite (source-ip) on the docker provider', async (ctx) => {
    const c = need(ctx);
    await c.delete(ECHO);
    const pass = await runPass(
      c,
      { dataplane: 'bpf', serviceMode: 'Tunnel' },
      { areas: ['source-ip'], out: quiet },
    );
    const requirements = pass.areas.flatMap((a) => a.requirements);
    expect(requirements.length).toBeGreaterThan(0);
    expect(
      requirements
        .filter((q) => q.verdict !== 'conformant')
        .map((q) => `${q.id}: ${q.failure?.message ?? q.reason}`),
    ).toEqual([]);
  });

  it('removes pods’ namespaces and veths from their node', async (ctx) => {
    const c = need(ctx);
    await c.apply(ECHO);
    const echo = c.topology().pods.filter((p) => p.labels.app === 'echo');
    expect(echo.length).toBeGreaterThan(0);
    await c.delete(ECHO);
    for (const n of c.topology().nodes) {
      // Exactly the pods the cluster still has (a suite may have left its own) are wired in the node.
      const left = c.topology().pods.filter((p) => p.nodeName === n.name);
      const netns = (await c.node(n.name).exec(['ip', 'netns', 'list'])).stdout;
      const links = (await c.node(n.name).exec(['ip', '-br', 'link'])).stdout;
      expect(netns.match(/p-cali[0-9a-f]+/g)?.sort() ?? []).toEqual(
        left.map((p) => `p-${p.hostIface}`).sort(),
      );
      expect(links.match(/cali[0-9a-f]{11}/g)?.sort() ?? []).toEqual(left.map((p) => p.hostIface).sort());
      for (const p of echo.filter((x) => x.nodeName === n.name)) expect(links).not.toContain(p.hostIface);
    }
  });

  it('leaves no container, network, engine, namespace, cgroup, mount, pin or process once down', async (ctx) => {
    const c = need(ctx);
    expect((await dockerLeftoversOf(runId)).length).toBeGreaterThan(5);
    await c.down();
    expect(await dockerLeftoversOf(runId)).toEqual([]);
    expect(await rootNamespace()).toEqual(rootBefore);
  });
});
