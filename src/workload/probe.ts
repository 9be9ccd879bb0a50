/**
 * The probes an agent makes on the harness's behalf. Every probe is a fresh flow (new socket, new
 * source port unless one is asked for) and is bounded by its timeout, whatever the network does.
 */
import { createSocket } from 'node:dgram';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { DEFAULT_PROBE_TIMEOUT_MS } from './control-parse.ts';
import { classifyError, ProbeTimeoutError } from './net-errors.ts';
import { plainAddress } from './peer.ts';
import type { ProbeRequest, ProbeResult, TcpReadEnd } from './types.ts';

/** Most bytes a tcp or http probe keeps of what it reads (the rest is counted, not kept). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

function target(req: ProbeRequest): string {
  return isIP(req.host) === 6 ? `[${req.host}]:${req.port}` : `${req.host}:${req.port}`;
}

function failed(req: ProbeRequest, err: unknown, started: number, extra: Partial<ProbeResult>): ProbeResult {
  const c = classifyError(err);
  return {
    ok: false,
    kind: req.kind,
    target: target(req),
    error: c.kind,
    errorMessage: c.message,
    ...extra,
    totalMs: performance.now() - started,
  };
}

type Undici = typeof import('undici');
let undici: Promise<Undici> | undefined;

// undici costs ~100 ms to load; agents that never make an HTTP probe should not pay it at start.
function loadUndici(): Promise<Undici> {
  undici ??= import('undici');
  return undici;
}

/** An HTTP GET over a connection of its own, closed afterwards, so each probe is a new flow. */
export async function probeHttp(req: ProbeRequest): Promise<ProbeResult> {
  const { Client, buildConnector } = await loadUndici();
  const timeoutMs = req.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = performance.now();
  const local: { address?: string; port?: number; connectMs?: number } = {};
  const base = buildConnector({
    timeout: timeoutMs,
    ...(req.sourcePort !== undefined ? { localPort: req.sourcePort } : {}),
  } as Parameters<typeof buildConnector>[0]);
  const client = new Client(`http://${target(req)}`, {
    connect: (opts, cb) =>
      base(opts, (err, socket) => {
        if (!err && socket) {
          local.connectMs = performance.now() - started;
          local.address = plainAddress(socket.localAddress ?? '');
          local.port = socket.localPort;
        }
        cb(err as Error & null, socket as Socket & null);
      }),
    pipelining: 1,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // undici settles an aborted request only once its pending connect gives up (up to a second
  // later), so the bound is kept by racing the request rather than by the signal alone.
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new ProbeTimeoutError(`http ${target(req)}`, timeoutMs);
      abort.abort(err);
      reject(err);
    }, timeoutMs);
  });
  const seen = (): Partial<ProbeResult> => ({
    ...(local.address !== undefined ? { localAddress: local.address } : {}),
    ...(local.port !== undefined ? { localPort: local.port } : {}),
    ...(local.connectMs !== undefined ? { connectMs: local.connectMs } : {}),
  });
  const exchange = (async () => {
    const res = await client.request({
      method: 'GET',
      path: req.path ?? '/',
      headers: { 'user-agent': 'dpconform-agent' },
      reset: true,
      signal: abort.signal,
    });
    return { status: res.statusCode, body: await res.body.text() };
  })();
  exchange.catch(() => undefined);
  try {
    const { status, body } = await Promise.race([exchange, expired]);
    return {
      ok: true,
      kind: 'http',
      target: target(req),
      status,
      body,
      ...seen(),
      totalMs: performance.now() - started,
    };
  } catch (err) {
    const why = abort.signal.aborted ? abort.signal.reason : err;
    return failed(req, why, started, seen());
  } finally {
    clearTimeout(timer);
    client.destroy().catch(() => undefined);
  }
}

/**
 * Connects, writes the payload if there is one (then half-closes, so a request/response server
 * answers and closes), and reads until the peer closes or the time is up. `ok` means connected;
 * without a payload the probe ends as soon as it has connected.
 */
export function probeTcp(req: ProbeRequest): Promise<ProbeResult> {
  const timeoutMs = req.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve) => {
    let connectMs: number | undefined;
    let here: Partial<ProbeResult> = {};
    const chunks: Buffer[] = [];
    let kept = 0;
    let done = false;
    const sock: Socket = tcpConnect({
      host: req.host,
      port: req.port,
      ...(req.sourcePort !== undefined ? { localPort: req.sourcePort } : {}),
    });
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    };
    const connected = (readEnd?: TcpReadEnd): ProbeResult => ({
      ok: true,
      kind: 'tcp',
      target: target(req),
      body: Buffer.concat(chunks).toString('utf8'),
      ...here,
      connectMs: connectMs ?? 0,
      totalMs: performance.now() - started,
      ...(readEnd !== undefined ? { readEnd } : {}),
    });
    const timer = setTimeout(() => {
      if (connectMs !== undefined) finish(connected('timeout'));
      else finish(failed(req, new ProbeTimeoutError(`tcp connect ${target(req)}`, timeoutMs), started, {}));
    }, timeoutMs);
    sock.once('connect', () => {
      connectMs = performance.now() - started;
      // Read now: once the socket is gone its local address is too.
      here = { localAddress: plainAddress(sock.localAddress ?? ''), localPort: sock.localPort ?? 0 };
      if (req.payload === undefined || req.payload === '') finish(connected());
      else sock.end(req.payload);
    });
    sock.on('data', (chunk: Buffer) => {
      if (kept < MAX_BODY_BYTES) chunks.push(chunk);
      kept += chunk.length;
    });
    sock.once('end', () => finish(connected('peer-closed')));
    sock.once('error', (err) => {
      if (connectMs === undefined) finish(failed(req, err, started, {}));
      else finish(connected(classifyError(err).kind === 'reset' ? 'reset' : 'error'));
    });
  });
}

/**
 * Sends one datagram from a connected UDP socket and waits for one reply. Connected, because only
 * then does the kernel hand an ICMP port-unreachable back to us (as ECONNREFUSED).
 */
export function probeUdp(req: ProbeRequest): Promise<ProbeResult> {
  const timeoutMs = req.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const started = performance.now();
  return new Promise((resolve) => {
    const sock = createSocket({ type: isIP(req.host) === 6 ? 'udp6' : 'udp4' });
    let here: Partial<ProbeResult> = {};
    let done = false;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        sock.close();
      } catch {
        // already closed by an error
      }
      resolve(result);
    };
    const timer = setTimeout(
      () => finish(failed(req, new ProbeTimeoutError(`udp ${target(req)}`, timeoutMs), started, here)),
      timeoutMs,
    );
    sock.on('error', (err) => finish(failed(req, err, started, here)));
    sock.on('message', (msg) =>
      finish({
        ok: true,
        kind: 'udp',
        target: target(req),
        body: msg.toString('utf8'),
        ...here,
        totalMs: performance.now() - started,
      }),
    );
    sock.bind({ port: req.sourcePort ?? 0 }, () => {
      sock.connect(req.port, req.host, (err?: Error) => {
        if (err) {
          finish(failed(req, err, started, here));
          return;
        }
        const a = sock.address();
        here = { localAddress: plainAddress(a.address), localPort: a.port };
        sock.send(req.payload ?? 'clientip', (sendErr) => {
          if (sendErr) finish(failed(req, sendErr, started, here));
        });
      });
    });
  });
}

/** Makes one probe of any kind. Never throws: every failure is a result. */
export async function probe(req: ProbeRequest): Promise<ProbeResult> {
  const started = performance.now();
  try {
    switch (req.kind) {
      case 'http':
        return await probeHttp(req);
      case 'tcp':
        return await probeTcp(req);
      case 'udp':
        return await probeUdp(req);
    }
  } catch (err) {
    return failed(req, err, started, {});
  }
}

/** Makes many probes with at most `concurrency` in flight; results keep the order of the requests. */
export async function runProbes(
  requests: readonly ProbeRequest[],
  concurrency: number,
): Promise<ProbeResult[]> {
  const results = new Array<ProbeResult>(requests.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const i = next++;
      results[i] = await probe(requests[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, requests.length)) }, worker));
  return results;
}
