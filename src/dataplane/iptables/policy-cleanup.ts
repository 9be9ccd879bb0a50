/**
 * Removing the network policy chains from a node: what uninstall (and the switch to eBPF) must
 * do besides removing kube-proxy's chains, which leave ours behind.
 */
import type { Place } from '../../node/place.ts';
import { detectIptablesBackend } from './backend.ts';
import { renderCleanup } from './cleanup.ts';
import { isHostPolicyChain } from './host-policy.ts';
import { readTables, restoreTables } from './node-tables.ts';
import { isPolicyChain } from './policy.ts';

/** Deletes every policy chain of the node and the rules jumping to them; returns the chains removed. */
export async function removePolicyChains(place: Place): Promise<string[]> {
  const [tables, backend] = await Promise.all([readTables(place), detectIptablesBackend(place)]);
  const filter = tables.get('filter');
  if (!filter) return [];
  // Host endpoint chains are policy too, and hang off the same firewall chain.
  const owned = (chain: string) => isPolicyChain(chain) || isHostPolicyChain(chain);
  const input = renderCleanup(filter, owned);
  if (input === undefined) return [];
  await restoreTables(place, input, { primeCache: backend.kind === 'nf_tables' });
  return [...filter.chains.keys()].filter(owned);
}
