/**
 * Two namespaces on one veth (172.18.0.2 and 172.18.0.3, `eth0` in each) with a plain VXLAN
 * device over it (`vx0`, VNI 7, 10.244.0.1 and 10.244.0.2), and the small programs that make
 * traffic between them. Everything is named `dpc-t<random>-*`; {@link Lab.destroy} removes it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run, type Started, start } from '../../../src/sys/exec.ts';

/** The two namespaces and their addresses. */
export interface Lab {
  prefix: string;
  a: { netns: string; ip: string; vxIp: string };
  b: { netns: string; ip: string; vxIp: string };
  /** Starts a TCP server in a namespace that answers `world\n` to anything and closes. */
  tcpServer(netns: string, port: number): Promise<Started>;
  /** Starts a TCP client that is ready to connect the moment it is fired. */
  armedTcpClient(netns: string, host: string, port: number, localPort: number): Promise<ArmedClient>;
  destroy(): Promise<void>;
}

/** The VXLAN network identifier of `vx0`. */
export const LAB_VNI = 7;

// Answers one line per connection and closes its side once the client has closed its own.
const TCP_SERVER = `
const net = require('node:net');
const server = net.createServer((s) => {
  s.once('data', () => s.write('world\\n'));
  s.on('end', () => s.end());
});
server.listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));
`;

// Connects (from a fixed source port when given), sends hello, waits for the answer, closes.
const TCP_CLIENT = `
const net = require('node:net');
const [host, port, localPort] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port), localPort: localPort ? Number(localPort) : undefined });
s.on('connect', () => s.write('hello\\n'));
s.once('data', (d) => { process.stdout.write(String(d)); s.end(); });
s.on('close', () => process.exit(0));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000);
`;

// Like TCP_CLIENT, but connects only when sent SIGUSR2: the connection starts within a
// millisecond of the signal, with no process start-up in between.
const ARMED_TCP_CLIENT = `
const net = require('node:net');
const [host, port, localPort] = process.argv.slice(1);
process.on('SIGUSR2', () => {
  const s = net.connect({ host, port: Number(port), localPort: Number(localPort) });
  s.on('connect', () => s.write('hello\\n'));
  s.once('data', (d) => { process.stdout.write(String(d)); s.end(); });
  s.on('close', () => process.exit(0));
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
});
console.log('armed');
setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
`;

// Sends one datagram from a fixed source port and waits a little for an ICMP error to be reported.
const UDP_SEND = `
const dgram = require('node:dgram');
const [host, port, localPort, text] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.bind(Number(localPort), () => {
  s.connect(Number(port), host, () => {
    const done = (what) => { console.log(what); s.close(); process.exit(0); };
    s.on('error', (e) => done(e.code));
    s.send(text);
    setTimeout(() => done('no error'), 500);
  });
});
`;

// Sends N small datagrams as fast as the socket takes them.
const UDP_BURST = `
const dgram = require('node:dgram');
const [host, port, count] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const buf = Buffer.alloc(16);
let sent = 0;
const next = () => (sent++ < Number(count) ? s.send(buf, Number(port), host, next) : s.close());
next();
`;

/** Sends `count` 16-byte datagrams to host:port as fast as it can. */
export async function udpBurst(netns: string, host: string, port: number, count: number): Promise<void> {
  await inNs(netns, [process.execPath, '-e', UDP_BURST, host, String(port), String(count)]);
}

/** Runs a command in a namespace and fails on a non-zero exit. */
export async function inNs(netns: string, argv: string[]): Promise<string> {
  return (await run(argv, { netns, timeoutMs: 15_000 })).stdout;
}

/** One TCP exchange (handshake, `hello`, `world`, FIN both ways) from a namespace; returns the answer. */
export async function tcpExchange(
  netns: string,
  host: string,
  port: number,
  localPort?: number,
): Promise<string> {
  const args = [host, String(port), ...(localPort === undefined ? [] : [String(localPort)])];
  return inNs(netns, [process.execPath, '-e', TCP_CLIENT, ...args]);
}

/** Sends one UDP datagram; returns `ECONNREFUSED` when an ICMP port unreachable came back. */
export async function udpSend(
  netns: string,
  host: string,
  port: number,
  localPort: number,
  text: string,
): Promise<string> {
  return (
    await inNs(netns, [process.execPath, '-e', UDP_SEND, host, String(port), String(localPort), text])
  ).trim();
}

/** A TCP client waiting for {@link ArmedClient.fire}. */
export interface ArmedClient {
  /** Makes the client connect, send `hello`, read the answer and close. */
  fire(): void;
  /** The answer, once the connection is closed. */
  done(): Promise<string>;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Builds the two namespaces, the veth between them and the VXLAN device over it. */
export async function createLab(): Promise<Lab> {
  const prefix = `dpc-t${randomBytes(3).toString('hex')}`;
  const created: string[] = [];
  const processes: Started[] = [];
  const lab: Lab = {
    prefix,
    a: { netns: `${prefix}-a`, ip: '172.18.0.2', vxIp: '10.244.0.1' },
    b: { netns: `${prefix}-b`, ip: '172.18.0.3', vxIp: '10.244.0.2' },
    async tcpServer(netns, port) {
      const server = start([process.execPath, '-e', TCP_SERVER, String(port)], { netns });
      processes.push(server);
      await waitFor(() => server.output().includes('listening'), `the TCP server in ${netns}`);
      return server;
    },
    async armedTcpClient(netns, host, port, localPort) {
      const proc = start([process.execPath, '-e', ARMED_TCP_CLIENT, host, String(port), String(localPort)], {
        netns,
      });
      processes.push(proc);
      await waitFor(() => proc.output().includes('armed'), `the armed client in ${netns}`);
      return {
        fire: () => process.kill(proc.pid, 'SIGUSR2'),
        async done() {
          const r = await proc.exited;
          if (r.exitCode !== 0) throw new Error(`client exited ${r.exitCode}: ${r.stderr.trim()}`);
          return r.stdout.replace(/^armed\n/, '');
        },
      };
    },
    async destroy() {
      // A process pins its namespace; stop them before the namespaces go.
      for (const p of processes) await p.stop('SIGTERM', 2000).catch(() => {});
      for (const ns of created.reverse()) {
        if (existsSync(`/run/netns/${ns}`))
          await run(['ip', 'netns', 'del', ns], { reject: false, timeoutMs: 10_000 });
      }
    },
  };
  try {
    for (const ns of [lab.a.netns, lab.b.netns]) {
      await run(['ip', 'netns', 'add', ns], { timeoutMs: 10_000 });
      created.push(ns);
      await inNs(ns, ['ip', 'link', 'set', 'lo', 'up']);
      // No IPv6: router and neighbour solicitations would make the captures vary from run to run.
      await inNs(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1']);
      await inNs(ns, ['sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    // Both ends are made inside namespace a and one is moved: nothing touches the root namespace.
    await inNs(lab.a.netns, [
      'ip',
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      lab.b.netns,
    ]);
    for (const [self, peer] of [
      [lab.a, lab.b],
      [lab.b, lab.a],
    ] as const) {
      await inNs(self.netns, ['ip', 'addr', 'add', `${self.ip}/16`, 'dev', 'eth0']);
      await inNs(self.netns, ['ip', 'link', 'set', 'eth0', 'up']);
      await inNs(self.netns, [
        'ip',
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        String(LAB_VNI),
        'local',
        self.ip,
        'remote',
        peer.ip,
        'dstport',
        '4789',
        'dev',
        'eth0',
      ]);
      await inNs(self.netns, ['ip', 'addr', 'add', `${self.vxIp}/24`, 'dev', 'vx0']);
      await inNs(self.netns, ['ip', 'link', 'set', 'vx0', 'up']);
    }
    return lab;
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}
