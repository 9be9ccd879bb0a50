/**
 * The agent's control API: HTTP/1.1 with JSON bodies on a unix socket, so the harness reaches the
 * agent through the filesystem and never through the network under test.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import {
  BadRequest,
  parsePortsBody,
  parseProbeBatch,
  parseProbeRequest,
  parseStreamId,
  parseStreamStart,
} from './control-parse.ts';
import type { EchoListeners } from './echo-server.ts';
import { probe, runProbes } from './probe.ts';
import type { StreamTable } from './stream.ts';
import type { AgentReady } from './types.ts';

/** Largest control request body accepted (a `/probes` batch of 10 000 fits). */
const MAX_BODY = 8 * 1024 * 1024;

/** What the control API acts on. */
export interface ControlContext {
  name: string;
  echo: EchoListeners;
  streams: StreamTable;
  /** Called after `/shutdown` has been answered. */
  shutdown(): void;
}

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, `body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new BadRequest('body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

async function route(ctx: ControlContext, req: IncomingMessage): Promise<[number, unknown]> {
  const method = req.method ?? 'GET';
  const path = new URL(req.url ?? '/', 'http://agent.invalid').pathname;
  const ready = (): AgentReady => ({ name: ctx.name, pid: process.pid, listening: ctx.echo.ports() });
  if (method === 'GET' && path === '/ready') return [200, ready()];
  if (method === 'GET' && path.startsWith('/stream/')) {
    const id = decodeURIComponent(path.slice('/stream/'.length));
    const rec = ctx.streams.get(id);
    if (!rec) throw new HttpError(404, `no stream ${id}`);
    return [200, rec];
  }
  if (method !== 'POST') throw new HttpError(404, `no ${method} ${path}`);
  const body = await readJson(req);
  switch (path) {
    case '/listen':
      await ctx.echo.listen(parsePortsBody(body));
      return [200, ready()];
    case '/unlisten':
      await ctx.echo.unlisten(parsePortsBody(body));
      return [200, ready()];
    case '/probe':
      return [200, await probe(parseProbeRequest(body))];
    case '/probes': {
      const { requests, concurrency } = parseProbeBatch(body);
      return [200, await runProbes(requests, concurrency)];
    }
    case '/stream/start':
      try {
        return [200, ctx.streams.start(parseStreamStart(body))];
      } catch (err) {
        if (err instanceof BadRequest) throw err;
        throw new HttpError(409, (err as Error).message);
      }
    case '/stream/stop': {
      const id = parseStreamId(body);
      const rec = await ctx.streams.stop(id);
      if (!rec) throw new HttpError(404, `no stream ${id}`);
      return [200, rec];
    }
    case '/shutdown':
      return [200, { name: ctx.name, pid: process.pid, stopping: true }];
    default:
      throw new HttpError(404, `no POST ${path}`);
  }
}

/** Makes the control server (not yet listening). */
export function createControlServer(ctx: ControlContext): Server {
  const server = createServer((req, res) => {
    route(ctx, req).then(
      ([status, value]) => {
        send(res, status, value);
        if (req.url === '/shutdown') res.once('finish', () => ctx.shutdown());
      },
      (err: unknown) => {
        const status = err instanceof HttpError ? err.status : err instanceof BadRequest ? 400 : 500;
        send(res, status, { error: (err as Error).message ?? String(err) });
      },
    );
  });
  // Probes and streams can outlast Node's default request timeout.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  return server;
}
