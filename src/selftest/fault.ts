/**
 * A fault: a small, realistic bug put into a copy of the dataplane's source (the C in bpf/ or the
 * control plane that programs it), with the requirements that must catch it. Applying a fault is
 * pure text work, checked before anything is built: each edit's text must occur exactly once.
 */
import type { PassMode } from '../report/model.ts';

/** One replacement in one file of the project (a path from the project root, `/`-separated). */
export interface SourceEdit {
  file: string;
  /** Text that occurs exactly once in the file. */
  find: string;
  replace: string;
}

/** A bug to put into the dataplane, and who must notice it. */
export interface Fault {
  /** Stable, kebab-case: `--fault` names it. */
  id: string;
  /** The bug as a dataplane developer would describe it, in one line. */
  summary: string;
  /** The pass the requirements run in. */
  mode: PassMode;
  /** Requirement ids that must fail because of it (at least one of them has to). */
  catches: string[];
  edits: SourceEdit[];
}

/** The area (suite) a requirement id belongs to, from its prefix. */
export const AREA_OF_PREFIX: Readonly<Record<string, string>> = {
  NP: 'nodeport',
  LB: 'loadbalancer',
  DSR: 'dsr',
  SIP: 'source-ip',
  POL: 'policy',
  MAP: 'map-full',
  RB: 'rollback',
  HEP: 'host-protection',
  MTU: 'mtu',
  FLX: 'felix',
  DP: 'datapath',
};

/** The area of a requirement id (`NP-004` -> `nodeport`). */
export function areaOf(id: string): string {
  const prefix = id.replace(/-\d+$/, '');
  const area = AREA_OF_PREFIX[prefix];
  if (!area) throw new Error(`requirement ${id}: no area has the prefix ${prefix}`);
  return area;
}

/** The areas whose suites a fault needs, in first-seen order. */
export function areasOf(fault: Pick<Fault, 'catches'>): string[] {
  return [...new Set(fault.catches.map(areaOf))];
}

/** A file's text with one fault's edits made; a clear error when an edit's text is not there once. */
export function applyEdits(
  fault: Pick<Fault, 'id'>,
  file: string,
  text: string,
  edits: readonly SourceEdit[],
): string {
  let out = text;
  for (const e of edits) {
    if (e.file !== file) continue;
    const count = out.split(e.find).length - 1;
    if (count !== 1) {
      throw new Error(
        `fault ${fault.id}: ${file} holds the text to replace ${count} times, not once (the source changed: update the fault in src/selftest/faults.ts): ${JSON.stringify(e.find.slice(0, 60))}`,
      );
    }
    out = out.replace(e.find, () => e.replace);
  }
  return out;
}

/** The files a fault edits, each once. */
export function filesOf(fault: Pick<Fault, 'edits'>): string[] {
  return [...new Set(fault.edits.map((e) => e.file))];
}

/** Whether a fault touches the C of bpf/ (the object must be rebuilt and reinstalled). */
export function touchesBpf(fault: Pick<Fault, 'edits'>): boolean {
  return fault.edits.some((e) => e.file.startsWith('bpf/'));
}

/** Files whose faults only change what a sync writes into the maps: the next sync writes it right. */
const PLANNING: readonly RegExp[] = [/^src\/policy\//, /^src\/dataplane\/bpf\/plan\.ts$/];

/**
 * Whether a fault leaves nothing on the nodes once its suites are done: it only changes the
 * planning of map contents. Any other fault (the C, the code that installs, switches or removes
 * a dataplane) may leave programs, devices or timers behind, and the next fault starts from a
 * dataplane put on afresh.
 */
export function leavesNodesAlone(fault: Pick<Fault, 'edits'>): boolean {
  return fault.edits.every((e) => PLANNING.some((r) => r.test(e.file)));
}
