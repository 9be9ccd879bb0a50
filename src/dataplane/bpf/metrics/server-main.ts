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
import { SWEEP_INTERVAL_MS, sweepConntrack } from './sweep.ts';

const args = parseServerArgs(process.argv.slice(2));
// This process already runs in the node's network, so its commands need no way in.
const place = currentPlace(args.node);
const pins = nodePins(args.bpffsDir);
const metrics = createNodeMetrics(() => readNodeSnapshot(place, pins));
const server = await serveMetrics(metrics, args.host, args.port);
// One sweep at a time; a failed one (the maps being swapped, say) is simply retried next time.
const sweep = (): Promise<void> =>
  sweepConntrack(place, pins).then(
    (r) => metrics.recordSweep(r),
    (err: unknown) => {
      process.stderr.write(`conntrack sweep: ${err instanceof Error ? err.message : String(err)}\n`);
    },
  );
let sweeping = sweep();
const sweeper = setInterval(() => {
  sweeping = sweeping.then(sweep);
}, SWEEP_INTERVAL_MS);
await writeFile(args.pidFile, `${process.pid}\n`);
process.stdout.write(`metrics for ${args.node} on http://${args.host}:${args.port}/metrics\n`);

// The pid file stays: whoever stops the server removes it once the process is gone, so a new
// server is never started while this one still holds the port.
const stop = (): void => {
  clearInterval(sweeper);
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
