/**
 * Flows to endpoints that are gone. The kernel's conntrack keeps the DNAT of an old flow; a new
 * connection that happens to reuse its 5-tuple (a client reusing a source port right after the
 * server closed) would follow it to a pod that no longer exists and vanish, so, as kube-proxy
 * does, entries towards removed endpoints are deleted after each sync.
 */
import type { ClusterModel } from '../../k8s/model.ts';
import type { Place } from '../../node/place.ts';
import { type SavedTable, splitRuleWords } from './save-parse.ts';

/** Endpoint addresses a nat table DNATs to (from its KUBE-SEP rules). */
export function dnatTargets(nat: SavedTable | undefined): Set<string> {
  const out = new Set<string>();
  for (const r of nat?.rules ?? []) {
    if (r.target !== 'DNAT') continue;
    const words = splitRuleWords(r.spec);
    const to = words[words.indexOf('--to-destination') + 1];
    if (to) out.add(to.replace(/:\d+$/, ''));
  }
  return out;
}

/** Addresses the old table DNATed to that the model no longer has as an endpoint. */
export function removedEndpoints(before: ReadonlySet<string>, model: ClusterModel): string[] {
  const now = new Set(model.endpoints.flatMap((e) => e.ports.flatMap((p) => p.endpoints.map((x) => x.ip))));
  return [...before].filter((ip) => !now.has(ip)).sort();
}

/** Deletes the conntrack entries of a node's place whose replies come from these addresses. */
export async function flushFlowsTo(place: Place, ips: readonly string[]): Promise<void> {
  for (const ip of ips) {
    // Exit status 1 means "no entry matched": nothing to do.
    await place.exec(['conntrack', '-D', '--reply-src', ip], { reject: false, timeoutMs: 10_000 });
  }
}
