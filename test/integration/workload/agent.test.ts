/**
 * The agent in real places: two external clients of a lab on the same network, an agent in each,
 * probes between them, and the bring-up time of six agents at once in six pods.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Place } from '../../../src/node/place.ts';
import { type AgentHandle, startAgent, stopAgent } from '../../../src/workload/agent-process.ts';
import type { ProbeRequest } from '../../../src/workload/types.ts';
import { type Lab, startLab } from '../lab.ts';

let lab: Lab;
const agents: AgentHandle[] = [];
let dir = '';
let placeA: Place;
let placeB: Place;
let ipA = '';
let ipB = '';
// On the clients' network, but nobody has it: the address a third client would get.
let nobody = '';
let a: AgentHandle;
let b: AgentHandle;

async function agentIn(place: Place, name: string, ports: number[], extra: { cgroup?: string } = {}) {
  const h = await startAgent({
    place,
    name,
    socketPath: join(dir, `${name}.sock`),
    logFile: join(dir, `${name}.log`),
    ports,
    ...extra,
  });
  agents.push(h);
  return h;
}

const fromA = (r: Omit<ProbeRequest, 'host'> & { host?: string }) => a.client.probe({ host: ipB, ...r });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-tagent-'));
  lab = await startLab({
    nodes: 1,
    clients: 2,
    pods: Array.from({ length: 6 }, (_, i) => ({ node: 0, name: `pod-${i}` })),
  });
  [placeA, placeB] = lab.clients as [Place, Place];
  [ipA, ipB] = lab.topology.clients.map((c) => c.ip) as [string, string];
  nobody = ipB.replace(/\d+$/, (last) => String(Number(last) + 1));
  // A silent drop on port 9 in b, for tcp and udp timeouts.
  await placeB.exec(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
  await placeB.exec(['iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '9', '-j', 'DROP']);
  [a, b] = await Promise.all([agentIn(placeA, 'agent-a', [80]), agentIn(placeB, 'agent-b', [80, 8080])]);
});

afterAll(async () => {
  await Promise.allSettled(agents.map((h) => stopAgent(h)));
  await lab?.down();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('echo server and probes across a veth pair', () => {
  it('answers /ready with name, pid and ports', async () => {
    expect(await b.client.ready()).toEqual({ name: 'agent-b', pid: b.pid, listening: [80, 8080] });
  });

  it('HTTP /hostname names the agent that answered', async () => {
    const r = await fromA({ kind: 'http', port: 80, path: '/hostname' });
    expect(r).toMatchObject({ ok: true, status: 200, body: 'agent-b', target: `${ipB}:80` });
    expect(r.connectMs).toBeGreaterThan(0);
    expect(r.totalMs).toBeGreaterThanOrEqual(r.connectMs!);
  });

  it('HTTP /clientip shows the address and port the probe used', async () => {
    const chosen = await fromA({ kind: 'http', port: 80, path: '/clientip', sourcePort: 40123 });
    expect(chosen).toMatchObject({ ok: true, body: `${ipA}:40123`, localAddress: ipA, localPort: 40123 });
    const free = await fromA({ kind: 'http', port: 80, path: '/clientip' });
    expect(free.body).toBe(`${ipA}:${free.localPort}`);
  });

  it('makes a new connection for every HTTP probe', async () => {
    const rs = await a.client.probes(
      Array.from({ length: 5 }, () => ({ kind: 'http' as const, host: ipB, port: 80, path: '/clientip' })),
      1,
    );
    expect(new Set(rs.map((r) => r.body)).size).toBe(5);
  });

  it('HTTP /echo returns the message', async () => {
    const r = await fromA({ kind: 'http', port: 8080, path: '/echo?msg=hello%20world' });
    expect(r.body).toBe('hello world');
  });

  it('HTTP /size delivers a large body whole', async () => {
    const n = 3_000_000;
    const r = await fromA({ kind: 'http', port: 80, path: `/size?bytes=${n}`, timeoutMs: 10_000 });
    expect(r.ok).toBe(true);
    expect(r.body?.length).toBe(n);
    expect(r.body?.slice(0, 3)).toBe('abc');
    expect(r.body?.at(-1)).toBe(String.fromCharCode(97 + ((n - 1) % 26)));
  });

  it('UDP echo answers hostname, echo and clientip', async () => {
    expect((await fromA({ kind: 'udp', port: 8080, payload: 'hostname' })).body).toBe('agent-b');
    expect((await fromA({ kind: 'udp', port: 8080, payload: 'echo abc' })).body).toBe('abc');
    const ip = await fromA({ kind: 'udp', port: 80, sourcePort: 40124 });
    expect(ip).toMatchObject({ ok: true, body: `${ipA}:40124`, localAddress: ipA, localPort: 40124 });
  });

  it('TCP probe connects and reads what the server sends', async () => {
    const bare = await fromA({ kind: 'tcp', port: 80, sourcePort: 40125 });
    expect(bare).toMatchObject({ ok: true, localAddress: ipA, localPort: 40125 });
    expect(bare.readEnd).toBeUndefined();
    const req = 'GET /hostname HTTP/1.1\r\nHost: b\r\n\r\n';
    const r = await fromA({ kind: 'tcp', port: 80, payload: req });
    expect(r).toMatchObject({ ok: true, readEnd: 'peer-closed' });
    expect(r.body).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nagent-b$/);
  });

  it.each(['tcp', 'http', 'udp'] as const)('a closed port gives refused (%s)', async (kind) => {
    const r = await fromA({ kind, port: 81 });
    expect(r).toMatchObject({ ok: false, error: 'refused' });
    expect(r.errorMessage).toContain('ECONNREFUSED');
  });

  it.each(['tcp', 'http', 'udp'] as const)(
    'a silent drop gives timeout within the bound (%s)',
    async (kind) => {
      const r = await fromA({ kind, port: 9, timeoutMs: 400 });
      expect(r).toMatchObject({ ok: false, error: 'timeout' });
      expect(r.totalMs).toBeGreaterThanOrEqual(390);
      expect(r.totalMs).toBeLessThan(900);
    },
  );

  it('an unreachable address gives unreachable or timeout, never ok', async () => {
    // The address is on the link but nobody has it: ARP fails, the kernel reports EHOSTUNREACH.
    const r = await fromA({ kind: 'tcp', port: 80, host: nobody, timeoutMs: 4000 });
    expect(r.ok).toBe(false);
    expect(r.error).toBe('unreachable');
  });

  it('listen is idempotent and unlisten closes the port', async () => {
    await b.client.listen([8081]);
    expect((await b.client.listen([8081, 80])).listening).toEqual([80, 8080, 8081]);
    expect((await fromA({ kind: 'http', port: 8081, path: '/hostname' })).body).toBe('agent-b');
    expect((await b.client.unlisten([8081])).listening).toEqual([80, 8080]);
    expect((await fromA({ kind: 'http', port: 8081 })).error).toBe('refused');
    expect((await fromA({ kind: 'udp', port: 8081 })).error).toBe('refused');
  });

  it('rejects a bad probe request with the field it disliked', async () => {
    await expect(a.client.probe({ kind: 'tcp', host: ipB, port: 0 })).rejects.toThrow(
      /agent agent-a \(.*agent-a\.sock\): POST \/probe: HTTP 400: port must be/,
    );
  });
});

describe('streams', () => {
  it('counts requests on one long-lived connection', async () => {
    await a.client.streamStart({ id: 's1', host: ipB, port: 80, intervalMs: 50 });
    await new Promise((r) => setTimeout(r, 600));
    const mid = await a.client.streamGet('s1');
    expect(mid.running).toBe(true);
    expect(mid.ok).toBeGreaterThanOrEqual(8);
    const end = await a.client.streamStop('s1');
    expect(end).toMatchObject({ running: false, endReason: 'stopped', failed: 0, connections: 1 });
    expect(end).toMatchObject({ connectionsLost: 0, reset: false, bodies: ['agent-b'] });
    expect(end.ok).toBe(end.sent);
    expect(end.samples).toHaveLength(end.sent);
    expect(end.longestGapMs).toBeLessThan(500);
    await expect(a.client.streamGet('s1')).rejects.toThrow(/HTTP 404/);
  });

  /** Runs a stream to b:port, drops its connection on the server side, serves the port again. */
  async function dropMidStream(id: string, port: number, reconnect: boolean) {
    await b.client.listen([port]);
    await a.client.streamStart({ id, host: ipB, port, intervalMs: 30, reconnect });
    await new Promise((r) => setTimeout(r, 200));
    const before = await a.client.streamGet(id);
    await b.client.unlisten([port]);
    await new Promise((r) => setTimeout(r, 100));
    await b.client.listen([port]);
    await new Promise((r) => setTimeout(r, 300));
    const after = await a.client.streamStop(id);
    await b.client.unlisten([port]);
    return { before, after };
  }

  it('notices a connection the server drops and does not reconnect by default', async () => {
    const { before, after } = await dropMidStream('s2', 8082, false);
    expect(before).toMatchObject({ connections: 1, connectionsLost: 0, failed: 0 });
    expect(before.ok).toBeGreaterThan(0);
    expect(after).toMatchObject({ connections: 1, connectionsLost: 1 });
    // Nothing succeeds after the loss, although the port answers again (judged by the samples,
    // not by counts read at a moment a loaded machine may have moved).
    const firstFailure = after.samples.findIndex((x) => !x.ok);
    expect(firstFailure).toBeGreaterThanOrEqual(before.ok);
    expect(after.samples.slice(firstFailure).filter((x) => x.ok)).toEqual([]);
    expect(after.failed).toBeGreaterThan(5);
    expect(after.longestGapMs).toBeGreaterThanOrEqual(350);
    expect(after.lastError).toBeDefined();
  });

  it('opens a new connection after a loss when asked to', async () => {
    const { before, after } = await dropMidStream('s2r', 8083, true);
    expect(after.connections).toBe(2);
    expect(after.connectionsLost).toBe(1);
    expect(after.ok).toBeGreaterThan(before.ok + 3);
    expect(after.localPort).toBeDefined();
  });

  it('ends by itself after maxDurationMs', async () => {
    await a.client.streamStart({ id: 's3', host: ipB, port: 80, intervalMs: 20, maxDurationMs: 150 });
    await new Promise((r) => setTimeout(r, 400));
    const rec = await a.client.streamGet('s3');
    expect(rec).toMatchObject({ running: false, endReason: 'max-duration' });
    expect(rec.durationMs).toBeLessThan(300);
    await a.client.streamStop('s3');
  });
});

describe('agent processes', () => {
  it('starts six agents in parallel quickly', async () => {
    const t0 = performance.now();
    const six = await Promise.all(lab.pods.map((p, i) => agentIn(p.place, `pod-${i}`, [80, 8080])));
    const ms = performance.now() - t0;
    console.log(`six agents ready in ${ms.toFixed(0)} ms`);
    expect(new Set(six.map((h) => h.pid)).size).toBe(6);
    expect(ms).toBeLessThan(3000);
  });

  it('moves itself into the given cgroup', async () => {
    const node = lab.nodes[0]!;
    const cg = node.cgroupDir;
    const h = await agentIn(node, 'in-cgroup', [], { cgroup: cg });
    const procs = (await node.exec(['cat', join(cg, 'cgroup.procs')])).stdout.split('\n');
    expect(procs).toContain(String(h.pid));
    await stopAgent(h);
  });

  it('fails to start with the log tail when a port is taken', async () => {
    await expect(agentIn(placeB, 'clash', [80])).rejects.toThrow(
      /exited 1 before it was ready[\s\S]*port 80/,
    );
  });

  it('stops on shutdown and on SIGTERM, removing its socket', async () => {
    const one = await agentIn(placeA, 'stop-one', []);
    await stopAgent(one);
    await expect(stat(one.socketPath)).rejects.toThrow(/ENOENT/);
    expect(() => process.kill(one.pid, 0)).toThrow();

    const two = await agentIn(placeA, 'stop-two', []);
    process.kill(two.pid, 'SIGTERM');
    const r = await two.process!.exited;
    expect(r.exitCode).toBe(0);
    await expect(stat(two.socketPath)).rejects.toThrow(/ENOENT/);
    await two.client.close();
  });
});
