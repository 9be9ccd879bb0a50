/**
 * Removing the network policy chains from a node: what uninstall (and the switch to eBPF) must
 * do besides removing kube-proxy's chains, which leave ours behind.
 */
import { detectIptablesBackend } from './backend.ts';
import { renderCleanup } from './cleanup.ts';
import { readTables, restoreTables } from './node-tables.ts';
import { isPolicyChain } from './policy.ts';

/** Deletes every policy chain of the node and the rules jumping to them; returns the chains removed. */
export async function removePolicyChains(netns: string): Promise<string[]> {
  const [tables, backend] = await Promise.all([readTables(netns), detectIptablesBackend(netns)]);
  const filter = tables.get('filter');
  if (!filter) return [];
  const input = renderCleanup(filter, isPolicyChain);
  if (input === undefined) return [];
  await restoreTables(netns, input, { primeCache: backend.kind === 'nf_tables' });
  return [...filter.chains.keys()].filter(isPolicyChain);
}
