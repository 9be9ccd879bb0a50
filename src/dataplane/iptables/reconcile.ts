/**
 * Turns "the chains we want" into "the restore that gets us there from what is on the node":
 * jump rules that are missing from built-in chains are added (once, never duplicated), and
 * chains of ours that nobody wants any more are flushed and deleted.
 */
import { isKubeProxyChain, JUMP_RULES, jumpWords } from './kube-chains.ts';
import type { TableName, TableSection, UnchangedTest } from './restore-text.ts';
import type { SavedTable } from './save-parse.ts';

/** Decides which chains a table section owns; policy chains will widen this. */
export type ChainOwnership = (chain: string) => boolean;

/** True when the built-in chain already sends traffic to the jump's target. */
function hasJump(current: SavedTable, from: string, to: string): boolean {
  return current.rules.some((r) => r.chain === from && r.target === to);
}

/**
 * Completes a section against the node's current table: adds the missing jump rules of this
 * table (in kube-proxy's order) and removes owned chains the section did not declare.
 * Without `current` the node is taken to be empty.
 */
export function reconcile(
  section: TableSection,
  current: SavedTable | undefined,
  owned: ChainOwnership = isKubeProxyChain,
): void {
  for (const jump of JUMP_RULES) {
    if (jump.table !== section.table) continue;
    if (current && hasJump(current, jump.from, jump.to)) continue;
    section.insertFirst(jump.from, jumpWords(jump));
  }
  if (!current) return;
  const stale = new Set<string>();
  for (const chain of current.chains.keys()) {
    if (owned(chain) && !section.has(chain)) stale.add(chain);
  }
  // A chain can only be deleted once nothing refers to it; our own referrers are flushed by
  // their declaration, anyone else's rule pointing at it has to go.
  for (const rule of current.rules) {
    if (rule.target && stale.has(rule.target) && !owned(rule.chain))
      section.deleteRule(rule.chain, rule.spec);
  }
  for (const chain of stale) section.remove(chain);
}

/**
 * Built-in chains this section inserts jump rules into that the node does not have yet
 * (iptables-nft creates them on demand, but only when it has not loaded the whole table).
 */
export function missingBuiltins(table: TableName, current: SavedTable | undefined): string[] {
  const missing = new Set<string>();
  for (const jump of JUMP_RULES) {
    if (jump.table === table && !current?.chains.has(jump.from)) missing.add(jump.from);
  }
  return [...missing];
}

/** Chain -> its rules as last written by us, one string per chain. */
export type ChainBodies = ReadonlyMap<string, string>;

/** The rules of every declared chain, for the next sync to compare against. */
export function chainBodies(section: TableSection): Map<string, string> {
  const out = new Map<string, string>();
  for (const chain of section.chains()) out.set(chain, section.rules(chain).join('\n'));
  return out;
}

/**
 * A chain can be left alone when we wrote exactly these rules last time and the node still has
 * the chain with that many rules (a flushed or edited chain gets rewritten). Rules are compared
 * as we wrote them: iptables-save prints them differently, so the node is only counted.
 */
export function unchangedSince(
  current: SavedTable | undefined,
  previous: ChainBodies | undefined,
): UnchangedTest | undefined {
  if (!current || !previous) return undefined;
  const counts = new Map<string, number>();
  for (const rule of current.rules) counts.set(rule.chain, (counts.get(rule.chain) ?? 0) + 1);
  return (chain, rules) =>
    current.chains.has(chain) &&
    (counts.get(chain) ?? 0) === rules.length &&
    previous.get(chain) === rules.join('\n');
}
