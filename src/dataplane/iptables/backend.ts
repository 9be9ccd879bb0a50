/**
 * Which iptables backend a node uses. nf_tables and legacy keep separate rule sets, so a report
 * comparing dataplanes (or a cleanup) has to name the one it looked at.
 */
import type { Place } from '../../node/place.ts';

/** The backend iptables reports, or `unknown` when it does not say. */
export type IptablesBackendKind = 'nf_tables' | 'legacy' | 'unknown';

/** What `iptables --version` told about one node. */
export interface IptablesBackend {
  kind: IptablesBackendKind;
  /** e.g. `1.8.9`. */
  version: string;
  /** The line as printed, for the report. */
  raw: string;
}

/** Parses `iptables v1.8.9 (nf_tables)`; old releases print no backend and are legacy. */
export function parseIptablesVersion(text: string): IptablesBackend {
  const raw = text.trim().split('\n')[0]?.trim() ?? '';
  const m = /^iptables v(\S+)(?:\s+\(([^)]+)\))?/.exec(raw);
  if (!m) return { kind: 'unknown', version: '', raw };
  const tag = m[2];
  const kind: IptablesBackendKind =
    tag === 'nf_tables' ? 'nf_tables' : tag === 'legacy' || tag === undefined ? 'legacy' : 'unknown';
  return { kind, version: m[1] ?? '', raw };
}

/** Asks the iptables of a place which backend it drives. */
export async function detectIptablesBackend(place: Place): Promise<IptablesBackend> {
  const r = await place.exec(['iptables', '--version'], { timeoutMs: 10_000 });
  return parseIptablesVersion(r.stdout || r.stderr);
}
