import { describe, expect, it } from 'vitest';
import { kindAvailability } from '../../../src/cluster/kind/availability.ts';
import { createKindCluster, deleteKindCluster } from '../../../src/cluster/kind/lifecycle.ts';
import { newRunId } from '../../../src/cluster/run-id.ts';

describe('kind provider', () => {
  it('creates a 3-node kind cluster from kind/dpc-3node.yaml and deletes it', async (ctx) => {
    const a = await kindAvailability();
    if (!a.available) ctx.skip(`kind provider unavailable on this host: ${a.reason}`);
    const runId = newRunId();
    try {
      const nodes = await createKindCluster(runId);
      expect(nodes).toHaveLength(3);
      expect(nodes[0]).toMatch(new RegExp(`^dpc-${runId}-`));
    } finally {
      await deleteKindCluster(runId);
    }
  });
});
