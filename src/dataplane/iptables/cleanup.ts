/**
 * Removing kube-proxy-style chains from a node: what the switch to the eBPF dataplane must do
 * (bpfKubeProxyIptablesCleanupEnabled) and what uninstall does. Works from the node's current
 * rule set, so it also clears chains an earlier run or a real kube-proxy left behind.
 */
import type { Place } from '../../node/place.ts';
import { detectIptablesBackend } from './backend.ts';
import { isKubeProxyChain } from './kube-chains.ts';
import { readTables, restoreTables } from './node-tables.ts';
import type { SavedTable } from './save-parse.ts';

/** One chain in one table. */
export interface TableChain {
  table: string;
  chain: string;
}

/**
 * Restore input that deletes every rule (in any other chain) jumping to an owned chain, then
 * flushes and deletes the owned chains. Undefined when the table holds nothing owned.
 */
export function renderCleanup(
  table: SavedTable,
  owned: (chain: string) => boolean = isKubeProxyChain,
): string | undefined {
  const chains = [...table.chains.keys()].filter(owned);
  const hooks = table.rules.filter((r) => !owned(r.chain) && r.target !== undefined && owned(r.target));
  if (chains.length === 0 && hooks.length === 0) return undefined;
  const lines = [`*${table.name}`];
  for (const r of hooks) lines.push(`-D ${r.chain} ${r.spec}`);
  for (const c of chains) lines.push(`:${c} - [0:0]`);
  for (const c of chains) lines.push(`-X ${c}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Every KUBE-* chain on the node, whoever made it, table by table. */
export async function listKubeChains(place: Place): Promise<TableChain[]> {
  const tables = await readTables(place);
  const out: TableChain[] = [];
  for (const table of tables.values()) {
    for (const chain of table.chains.keys()) {
      if (chain.startsWith('KUBE-')) out.push({ table: table.name, chain });
    }
  }
  return out;
}

/**
 * Removes kube-proxy's chains and the rules that jump to them from every table of the node
 * (one restore per table that has any), leaving kubelet's chains and everyone else's rules.
 * Returns the chains removed.
 */
export async function removeKubeProxyChains(place: Place): Promise<TableChain[]> {
  const [tables, backend] = await Promise.all([readTables(place), detectIptablesBackend(place)]);
  const removed: TableChain[] = [];
  for (const table of tables.values()) {
    const input = renderCleanup(table);
    if (input === undefined) continue;
    // Nothing is inserted into built-in chains here, so priming is always safe on nf_tables.
    await restoreTables(place, input, { primeCache: backend.kind === 'nf_tables' });
    for (const chain of table.chains.keys()) {
      if (isKubeProxyChain(chain)) removed.push({ table: table.name, chain });
    }
  }
  return removed;
}
