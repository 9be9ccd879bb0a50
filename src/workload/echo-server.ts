/**
 * The echo workload's sockets: an HTTP server and a UDP echo on each listen port, bound to
 * 0.0.0.0 so that every address of the namespace answers.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { echoHttp, echoUdp, fillerChunk } from './echo-routes.ts';
import { formatPeer } from './peer.ts';

// Streams keep one connection open with pauses between requests; the server must not close
// it first, or a dataplane test would blame the dataplane for our idle timer.
const KEEP_ALIVE_MS = 10 * 60_000;
const FILLER_CHUNK = 64 * 1024;

interface PortListeners {
  http: Server;
  udp: UdpSocket;
  sockets: Set<Socket>;
}

function listenTcp(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function bindUdp(sock: UdpSocket, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port, address: '0.0.0.0', exclusive: true }, () => {
      sock.off('error', reject);
      resolve();
    });
  });
}

function sendFiller(res: ServerResponse, size: number): void {
  let offset = 0;
  const pump = (): void => {
    while (offset < size) {
      const n = Math.min(FILLER_CHUNK, size - offset);
      const more = res.write(fillerChunk(offset, n));
      offset += n;
      if (!more) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** The set of echo ports of one agent. */
export class EchoListeners {
  readonly #name: string;
  readonly #log: (line: string) => void;
  readonly #ports = new Map<number, PortListeners>();
  readonly #pending = new Map<number, Promise<void>>();

  constructor(name: string, log: (line: string) => void) {
    this.#name = name;
    this.#log = log;
  }

  /** Ports currently served, ascending. */
  ports(): number[] {
    return [...this.#ports.keys()].sort((a, b) => a - b);
  }

  /** Starts HTTP and UDP echo on each port not yet served; a port already served is left alone. */
  async listen(ports: readonly number[]): Promise<void> {
    await Promise.all(ports.map((p) => this.#listenOne(p)));
  }

  /** Stops serving the given ports and drops their open connections. */
  async unlisten(ports: readonly number[]): Promise<void> {
    await Promise.all(ports.map((p) => this.#closeOne(p)));
  }

  /** Stops everything. */
  async close(): Promise<void> {
    await this.unlisten([...this.#ports.keys()]);
  }

  #listenOne(port: number): Promise<void> {
    if (this.#ports.has(port)) return Promise.resolve();
    const inFlight = this.#pending.get(port);
    if (inFlight) return inFlight;
    const p = this.#open(port).finally(() => this.#pending.delete(port));
    this.#pending.set(port, p);
    return p;
  }

  async #open(port: number): Promise<void> {
    const sockets = new Set<Socket>();
    const http = createServer((req, res) => this.#answer(req, res));
    http.keepAliveTimeout = KEEP_ALIVE_MS;
    http.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    http.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy(err);
    });
    const udp = createSocket({ type: 'udp4' });
    udp.on('message', (msg, rinfo) => {
      const reply = echoUdp(msg.toString('utf8'), this.#name, formatPeer(rinfo.address, rinfo.port));
      udp.send(reply, rinfo.port, rinfo.address);
    });
    try {
      await listenTcp(http, port);
      await bindUdp(udp, port);
    } catch (err) {
      http.close();
      udp.close();
      throw new Error(`cannot listen on port ${port}: ${(err as Error).message}`, { cause: err });
    }
    // Errors after binding (e.g. a send to a vanished peer) must not bring the agent down.
    udp.on('error', (err) => this.#log(`udp ${port}: ${err.message}`));
    http.on('error', (err) => this.#log(`http ${port}: ${err.message}`));
    this.#ports.set(port, { http, udp, sockets });
  }

  async #closeOne(port: number): Promise<void> {
    await this.#pending.get(port)?.catch(() => undefined);
    const l = this.#ports.get(port);
    if (!l) return;
    this.#ports.delete(port);
    for (const s of l.sockets) s.destroy();
    await Promise.all([
      new Promise<void>((resolve) => l.http.close(() => resolve())),
      new Promise<void>((resolve) => l.udp.close(() => resolve())),
    ]);
  }

  #answer(req: IncomingMessage, res: ServerResponse): void {
    const peer = formatPeer(req.socket.remoteAddress, req.socket.remotePort);
    const reply = echoHttp(req.url ?? '/', this.#name, peer);
    // Drain whatever the client sent so keep-alive connections stay in step.
    req.resume();
    if ('size' in reply) {
      res.writeHead(reply.status, {
        'content-type': 'application/octet-stream',
        'content-length': reply.size,
      });
      if (req.method === 'HEAD') res.end();
      else sendFiller(res, reply.size);
      return;
    }
    const body = Buffer.from(reply.body, 'utf8');
    res.writeHead(reply.status, {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': body.length,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}
