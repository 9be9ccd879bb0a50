/**
 * Creating and deleting a kind cluster for a run, named `dpc-<runId>` so the reaper and a person
 * can tell it is ours.
 */
import { fileURLToPath } from 'node:url';
import { run } from '../../sys/exec.ts';

/** The kind config a 3-node run uses. */
export const KIND_CONFIG = fileURLToPath(new URL('../../../kind/dpc-3node.yaml', import.meta.url));

/** The kind cluster name of a run. */
export function kindClusterName(runId: string): string {
  return `dpc-${runId}`;
}

/** Creates the cluster (kubeProxyMode none, no default CNI, bpffs mounted) and returns its node names. */
export async function createKindCluster(runId: string, config = KIND_CONFIG): Promise<string[]> {
  const name = kindClusterName(runId);
  try {
    await run(['kind', 'create', 'cluster', '--name', name, '--config', config, '--wait', '0s'], {
      timeoutMs: 10 * 60_000,
    });
  } catch (err) {
    await deleteKindCluster(runId);
    throw err;
  }
  const nodes = await run(['kind', 'get', 'nodes', '--name', name]);
  return nodes.stdout.split('\n').filter(Boolean).sort();
}

/** Deletes the run's kind cluster; a cluster that does not exist is not an error. */
export async function deleteKindCluster(runId: string): Promise<void> {
  await run(['kind', 'delete', 'cluster', '--name', kindClusterName(runId)], {
    reject: false,
    timeoutMs: 5 * 60_000,
  });
}
