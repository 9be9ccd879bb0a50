/**
 * The metrics endpoint: what a request gets (pure, so it is tested without a socket) and the
 * HTTP server that serves it.
 */
import { createServer, type Server } from 'node:http';
import { METRICS_PATH } from './names.ts';
import type { NodeMetrics } from './registry.ts';

/** An answer to one request. */
export interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const TEXT = 'text/plain; charset=utf-8';

/** Answers one request: the exposition on GET /metrics, 404 elsewhere, 500 when the maps can't be read. */
export async function reply(metrics: NodeMetrics, method: string, url: string): Promise<Reply> {
  const path = url.split('?')[0];
  if (path !== METRICS_PATH)
    return { status: 404, contentType: TEXT, body: `not found; try ${METRICS_PATH}\n` };
  if (method !== 'GET' && method !== 'HEAD') return { status: 405, contentType: TEXT, body: 'GET only\n' };
  try {
    const body = await metrics.scrape();
    return { status: 200, contentType: metrics.registry.contentType, body };
  } catch (err) {
    // A scrape that cannot read the maps must fail visibly, not serve stale or empty values.
    const msg = err instanceof Error ? err.message : String(err);
    return { status: 500, contentType: TEXT, body: `cannot read the dataplane maps: ${msg}\n` };
  }
}

/** Serves the endpoint on host:port; resolves once listening. */
export async function serveMetrics(metrics: NodeMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    reply(metrics, req.method ?? 'GET', req.url ?? '/').then(
      (r) => {
        res.writeHead(r.status, { 'content-type': r.contentType });
        res.end(req.method === 'HEAD' ? undefined : r.body);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
