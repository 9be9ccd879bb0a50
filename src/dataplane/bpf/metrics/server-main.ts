/**
 * The metrics server program: started inside a node's network, it serves that node's Prometheus
 * metrics, reading its pinned maps on every scrape.
 */
import { writeFile } from 'node:fs/promises';
import { currentPlace } from '../../../node/wrapped.ts';
import { nodePins } from '../maps.ts';
import { serveMetrics } from './http.ts';
import { createNodeMetrics } from './registry.ts';
import { parseServerArgs } from './server-args.ts';
import { readNodeSnapshot } from './snapshot.ts';

const args = parseServerArgs(process.argv.slice(2));
// This process already runs in the node's network, so its commands need no way in.
const place = currentPlace(args.node);
const pins = nodePins(args.bpffsDir);
const metrics = createNodeMetrics(() => readNodeSnapshot(place, pins));
const server = await serveMetrics(metrics, args.host, args.port);
await writeFile(args.pidFile, `${process.pid}\n`);
process.stdout.write(`metrics for ${args.node} on http://${args.host}:${args.port}/metrics\n`);

// The pid file stays: whoever stops the server removes it once the process is gone, so a new
// server is never started while this one still holds the port.
const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
