/**
 * A metrics server that cannot listen because its port is taken says which port and who holds
 * it, instead of a bare EADDRINUSE.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCluster } from '../../../src/cluster/providers.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import { metricsFiles, startMetricsServer } from '../../../src/dataplane/bpf/metrics/process.ts';
import { readPidFile } from '../../../src/sys/process.ts';

describe('metrics server', () => {
  it('names the port in use and the process holding it', async () => {
    await using c = await startCluster('netns', { nodes: 1, dataplane: 'bpf' });
    const node = c.topology().nodes[0]!;
    const holder = await readPidFile(metricsFiles(stateDir(c.runId), node.name).pidFile);
    expect(holder).toBeDefined();
    // A second server for the same node, from a directory that knows nothing of the first.
    const elsewhere = mkdtempSync(join(tmpdir(), 'dpc-metrics-'));
    try {
      const err = await startMetricsServer(c.node(node.name), elsewhere).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(
        new RegExp(
          `^metrics server of ${node.name} cannot listen on ${node.ip.replaceAll('.', '\\.')}:9091 in netns dpc-${c.runId}-\\S+: the port is already in use by pid ${holder} \\(\\S*node \\S*server-main\\.ts …\\); log `,
        ),
      );
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
