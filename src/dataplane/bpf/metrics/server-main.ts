/**
 * The metrics server program: runs inside a node's network namespace and serves that node's
 * Prometheus metrics, reading its pinned maps on every scrape.
 */
import { rm, writeFile } from 'node:fs/promises';
import { nodePins } from '../dataplane/bpf/maps.ts';
import { serveMetrics } from './http.ts';
import { createNodeMetrics } from './registry.ts';
import { parseServerArgs } from './server-args.ts';
import { readNodeSnapshot } from './snapshot.ts';

const args = parseServerArgs(process.argv.slice(2));
const pins = nodePins(args.bpffsDir, args.node);
const metrics = createNodeMetrics(() => readNodeSnapshot(pins, args.netns));
const server = await serveMetrics(metrics, args.host, args.port);
await writeFile(args.pidFile, `${process.pid}\n`);
process.stdout.write(`metrics for ${args.node} on http://${args.host}:${args.port}/metrics\n`);

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  rm(args.pidFile, { force: true }).finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
