import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostIfaceName } from '../../../src/k8s/naming.ts';
import {
  type Capture,
  CaptureError,
  countPackets,
  decodePcap,
  describePackets,
  type Flow,
  icmpErrorsFor,
  replyPackets,
  requestPackets,
  startCapture,
  withCaptures,
} from '../../../src/observe/index.ts';
import { run } from '../../../src/sys/exec.ts';
import { ECHO_PORT, LAB_VNI, type OverlayLab, startOverlayLab, tcpExchange, udpSend } from './overlay-lab.ts';

const PORT = ECHO_PORT;
let lab: OverlayLab;

// The temporary directories of captures: a stopped capture leaves none behind.
function captureDirs(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith('dpc-cap-'));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  lab = await startOverlayLab();
});

afterAll(async () => {
  await lab?.down();
});

describe('startCapture', () => {
  it('is listening when it resolves: the first SYN is captured, five times in a row', async () => {
    const before = captureDirs();
    for (let i = 0; i < 5; i++) {
      const localPort = 41000 + i;
      // The prober is already running and connects the moment it is asked, right after the
      // capture resolves: no process start-up between "listening" and the SYN to hide a capture
      // that was not ready.
      const cap = await startCapture({ place: lab.b.place, iface: 'eth0', filter: `tcp port ${PORT}` });
      let packets: Awaited<ReturnType<Capture['stop']>>;
      try {
        const exchanged = await tcpExchange(lab.a, lab.b.ip, PORT, localPort);
        expect(exchanged.bodies).toEqual([lab.b.place.name]);
      } finally {
        packets = await cap.stop();
      }
      const flow: Flow = {
        client: { ip: lab.a.ip, port: localPort },
        frontend: { ip: lab.b.ip, port: PORT },
      };
      const why = `run ${i}, captured:\n${describePackets(packets)}`;
      expect(packets[0], why).toMatchObject({ src: lab.a.ip, sport: localPort, dport: PORT, flags: 'S' });
      // Handshake, request, its ack, answer, its ack, FIN, FIN, last ack: nothing lost at either end.
      expect(
        requestPackets(packets, flow).map((p) => p.flags),
        why,
      ).toEqual(['S', '.', 'P.', '.', 'F.', '.']);
      expect(
        replyPackets(packets, flow).map((p) => p.flags),
        why,
      ).toEqual(['S.', '.', 'P.', 'F.']);
      expect(cap.stats(), why).toMatchObject({ captured: 10, droppedByKernel: 0, exitCode: 0 });
    }
    expect(captureDirs()).toEqual(before);
  });

  it('captures VXLAN on the underlay and decodes the VNI and the packet inside', async () => {
    const cap = await startCapture({
      place: lab.b.place,
      iface: 'eth0',
      filter: 'udp port 4789',
      label: 'node-b',
    });
    try {
      await tcpExchange(lab.a, lab.b.vxIp, PORT, 42000);
    } finally {
      await cap.stop();
    }
    const packets = await cap.stop();
    const flow: Flow = { client: { ip: lab.a.vxIp, port: 42000 }, frontend: { ip: lab.b.vxIp, port: PORT } };
    const syn = requestPackets(packets, flow)[0];
    expect(syn?.vxlan?.vni).toBe(LAB_VNI);
    expect(syn).toMatchObject({ src: lab.a.ip, dst: lab.b.ip, dport: 4789, label: 'node-b', iface: 'eth0' });
    expect(syn?.vxlan?.inner).toMatchObject({ src: lab.a.vxIp, sport: 42000, dport: PORT, flags: 'S' });
    expect(replyPackets(packets, flow, 'outer')).toEqual([]);
    expect(replyPackets(packets, flow, 'inner')).toHaveLength(4);
  });

  it('captures the ICMP port unreachable a closed UDP port answers with', async () => {
    const cap = await startCapture({ place: lab.a.place, iface: 'eth0', filter: 'udp or icmp' });
    try {
      const sent = await udpSend(lab.a, lab.b.ip, 9999, 42001, 'ping\n');
      expect(sent).toMatchObject({ error: 'refused', errorMessage: expect.stringContaining('ECONNREFUSED') });
    } finally {
      await cap.stop();
    }
    const packets = await cap.stop();
    const flow: Flow = {
      client: { ip: lab.a.ip, port: 42001 },
      frontend: { ip: lab.b.ip, port: 9999 },
      proto: 'udp',
    };
    const [icmp] = icmpErrorsFor(packets, flow);
    expect(icmp, describePackets(packets)).toMatchObject({
      src: lab.b.ip,
      dst: lab.a.ip,
      icmp: { type: 3, code: 3 },
    });
  });

  it('names the interface and direction of each packet of an -i any capture', async () => {
    const cap = await startCapture({ place: lab.b.place, iface: 'any', filter: 'icmp' });
    try {
      await lab.a.place.exec(['ping', '-c', '1', '-W', '2', lab.b.ip]);
    } finally {
      await cap.stop();
    }
    const packets = await cap.stop();
    expect(packets.map((p) => [p.iface, p.direction, p.icmp?.type])).toEqual([
      ['eth0', 'in', 8],
      ['eth0', 'out', 0],
    ]);
  });

  it('keeps the pcap as evidence, and stopping twice returns the same packets', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpc-tkeep-'));
    try {
      const cap = await startCapture({ place: lab.b.place, iface: 'eth0', filter: `tcp port ${PORT}` });
      await tcpExchange(lab.a, lab.b.ip, PORT, 42002);
      const kept = join(dir, 'sub', 'b.pcap');
      const packets = await cap.stopAndKeep(kept);
      expect(packets).toHaveLength(10);
      expect(await cap.stop()).toBe(packets);
      expect(decodePcap(await readFile(kept))).toHaveLength(10);
      // tcpdump itself reads the kept file.
      const read = await run(['tcpdump', '-n', '-r', kept]);
      expect(read.stdout.trim().split('\n')).toHaveLength(10);
      // Keeping after the stop still writes the whole capture.
      await cap.stopAndKeep(join(dir, 'again.pcap'));
      expect(decodePcap(await readFile(join(dir, 'again.pcap')))).toHaveLength(10);
      expect(existsSync(cap.file)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes every packet the kernel handed it before it stops, even when tcpdump lags behind', async () => {
    // Answered, so that each datagram of the burst costs one round trip and no ICMP error.
    await lab.b.agent.listen([9]);
    const cap = await startCapture({ place: lab.b.place, iface: 'eth0', filter: 'udp dst port 9' });
    // A stopped tcpdump leaves the burst in the kernel's ring; stopping it the moment it runs
    // again would lose what it has not yet read.
    process.kill(cap.pid, 'SIGSTOP');
    try {
      const burst = Array.from({ length: 2000 }, () => ({
        kind: 'udp' as const,
        host: lab.b.ip,
        port: 9,
        timeoutMs: 2000,
      }));
      await lab.a.agent.probes(burst, 256);
    } finally {
      process.kill(cap.pid, 'SIGCONT');
      await lab.b.agent.unlisten([9]);
    }
    const packets = await cap.stop();
    expect(packets).toHaveLength(2000);
    expect(cap.stats()).toMatchObject({ captured: 2000, receivedByFilter: 2000, droppedByKernel: 0 });
  });

  it('fails with tcpdump own words on a missing interface, and leaves nothing behind', async () => {
    const before = captureDirs();
    const err = await startCapture({ place: lab.a.place, iface: 'nosuch0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as CaptureError).message).toMatch(
      /nosuch0.*exited 1 before it was listening.*No such device/s,
    );
    expect((err as CaptureError).commandLine).toContain('tcpdump -i nosuch0');
    expect(captureDirs()).toEqual(before);
  });

  it('fails on a filter tcpdump cannot compile', async () => {
    const err = await startCapture({ place: lab.a.place, iface: 'eth0', filter: 'tcp port nonsense' }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/before it was listening.*nonsense/s);
  });

  it('fails on a namespace that does not exist', async () => {
    // The place of a pod the node never had: the provider hands it out, but it cannot be entered.
    const { provider, topology, runId } = lab.lab;
    const node = topology.nodes[0]!;
    const missing = provider.podPlace(
      topology,
      provider.podInfo(runId, {
        namespace: 'default',
        name: 'nosuch',
        labels: {},
        nodeName: node.name,
        ip: '10.244.0.250',
        ports: [],
        hostIface: hostIfaceName('default', 'nosuch'),
      }),
    );
    const err = await startCapture({ place: missing, iface: 'eth0' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/before it was listening.*No such file or directory/s);
  });

  it('reports a capture whose interface disappeared under it, with what it had captured', async () => {
    await lab.a.place.exec(['ip', 'link', 'add', 'dpcx0', 'type', 'veth', 'peer', 'name', 'dpcx1']);
    await lab.a.place.exec(['ip', 'link', 'set', 'dpcx0', 'up']);
    const cap = await startCapture({ place: lab.a.place, iface: 'dpcx0' });
    await lab.a.place.exec(['ip', 'link', 'del', 'dpcx0']);
    const err = await cap.stop().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaptureError);
    expect((err as Error).message).toMatch(/tcpdump exited 1 before it was stopped.*interface disappeared/s);
  });
});

describe('a capture never stopped', () => {
  it('leaves no directory behind when the process exits', async () => {
    const before = captureDirs();
    const captureModule = new URL('../../../src/observe/capture.ts', import.meta.url).href;
    const providersModule = new URL('../../../src/cluster/providers.ts', import.meta.url).href;
    const topology = lab.lab.topology;
    // The other process finds the node's place as any later process of a run does: from the topology.
    const script = `
      const { startCapture } = await import(${JSON.stringify(captureModule)});
      const { providerFor } = await import(${JSON.stringify(providersModule)});
      const topology = ${JSON.stringify(topology)};
      const provider = await providerFor(topology.provider);
      const place = provider.nodePlace(topology, topology.nodes[${lab.a.place.index}]);
      const cap = await startCapture({ place, iface: 'eth0' });
      console.log(cap.file);
      process.exit(0);
    `;
    const r = await run([process.execPath, '--input-type=module', '-e', script]);
    expect(r.stdout).toContain('/dpc-cap-');
    expect(captureDirs()).toEqual(before);
  });
});

describe('withCaptures', () => {
  it('captures on several interfaces at once and returns packets by name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dpc-tkeep-'));
    try {
      const { result, packets } = await withCaptures(
        {
          client: { place: lab.a.place, iface: 'eth0', filter: 'tcp or udp port 4789' },
          underlay: { place: lab.b.place, iface: 'eth0', filter: 'udp port 4789' },
          overlay: { place: lab.b.place, iface: 'vx0', filter: 'tcp' },
        },
        () => tcpExchange(lab.a, lab.b.vxIp, PORT, 42003),
        { keepDir: dir },
      );
      expect(result.bodies).toEqual([lab.b.place.name]);
      const flow: Flow = {
        client: { ip: lab.a.vxIp, port: 42003 },
        frontend: { ip: lab.b.vxIp, port: PORT },
      };
      // The same ten packets seen three ways: in VXLAN on both ends of the underlay, bare on vx0.
      expect(countPackets(packets.client, { vni: LAB_VNI, port: 42003 })).toBe(10);
      expect(countPackets(packets.underlay, { vni: LAB_VNI, port: 42003 })).toBe(10);
      expect(replyPackets(packets.overlay, flow, 'outer')).toHaveLength(4);
      expect(packets.overlay.every((p) => p.label === 'overlay' && p.iface === 'vx0')).toBe(true);
      expect(readdirSync(dir).sort()).toEqual(['client.pcap', 'overlay.pcap', 'underlay.pcap']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops every capture when the action throws, and rethrows its error', async () => {
    const before = captureDirs();
    let seen: Record<string, Capture> | undefined;
    const err = await withCaptures(
      {
        a: { place: lab.a.place, iface: 'eth0' },
        b: { place: lab.b.place, iface: 'eth0' },
      },
      (captures) => {
        seen = captures;
        throw new Error('the action failed');
      },
    ).catch((e: unknown) => e);
    expect((err as Error).message).toBe('the action failed');
    expect(seen).toBeDefined();
    for (const cap of Object.values(seen ?? {})) {
      expect(cap.stats()?.exitCode).toBe(0);
    }
    expect(captureDirs()).toEqual(before);
  });

  it('stops the captures that started when another cannot start', async () => {
    const before = captureDirs();
    const pids = (await run(['pgrep', '-x', 'tcpdump'], { reject: false })).stdout.trim();
    const err = await withCaptures(
      {
        good: { place: lab.a.place, iface: 'eth0' },
        bad: { place: lab.b.place, iface: 'nosuch0' },
      },
      () => 'never',
    ).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/capture bad: .*No such device/s);
    expect((await run(['pgrep', '-x', 'tcpdump'], { reject: false })).stdout.trim()).toBe(pids);
    expect(captureDirs()).toEqual(before);
    expect(alive(process.pid)).toBe(true);
  });
});
