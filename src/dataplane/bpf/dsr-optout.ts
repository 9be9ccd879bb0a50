/**
 * Pure control plane for FelixConfiguration `bpfDSROptoutCIDRs`: the entries of the
 * `dpc_dsr_optout` LPM trie. In DSR mode the backend node looks a reply's destination (the
 * client) up there and, on a hit, sends the reply back through the frontend node as in Tunnel mode.
 */
import { encodeDsrOptoutKey, encodeU32 } from './encoding.ts';
import { FIXED_MAP_SIZE, MAP } from './layout.ts';
import { keyId, type PlannedEntry } from './plan.ts';

/** The value of every opt-out entry; the programs only test for presence. */
const PRESENT = encodeU32(1);

/** What the opt-out map of every node should hold. */
export interface DsrOptoutPlan {
  /** Keyed by the hex of the encoded key. */
  entries: Map<string, PlannedEntry>;
  /** One line per CIDR that could not be programmed. */
  errors: string[];
}

/**
 * Plans the opt-out map from the settings' CIDR list. Duplicates (also after masking host bits)
 * collapse to one entry; past `limit` entries the rest are refused with an error, never silently.
 */
export function planDsrOptout(
  cidrs: readonly string[],
  limit: number = FIXED_MAP_SIZE.dsrOptout,
): DsrOptoutPlan {
  const entries = new Map<string, PlannedEntry>();
  const errors: string[] = [];
  const refused: string[] = [];
  for (const cidr of cidrs) {
    let key: Uint8Array;
    try {
      key = encodeDsrOptoutKey(cidr);
    } catch (err) {
      errors.push(`bpfDSROptoutCIDRs: ${err instanceof Error ? err.message : String(err)}; ignored`);
      continue;
    }
    const id = keyId(key);
    if (entries.has(id)) continue;
    if (entries.size >= limit) {
      refused.push(cidr);
      continue;
    }
    entries.set(id, { key, value: PRESENT, owner: 'bpfDSROptoutCIDRs' });
  }
  if (refused.length > 0) {
    errors.push(
      `bpfDSROptoutCIDRs: ${MAP.dsrOptout} holds ${limit} entries; not programmed (these clients get DSR): ${refused.join(', ')}`,
    );
  }
  return { entries, errors };
}
