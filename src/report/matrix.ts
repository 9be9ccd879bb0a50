/**
 * The kernel matrix as plain data: one conformance run per kernel, side by side by area and
 * mode, with each kernel's environment, where it ran (the host, a VM under KVM or software
 * emulation) and its time scale. A kernel that could not run is a column with an error, so the
 * matrix says so instead of stopping. Each kernel's full report sits beside it.
 */
import { compareAreas } from './classify.ts';
import {
  combineVerdicts,
  compareRequirementIds,
  type Environment,
  modeLabel,
  type PassMode,
  type Run,
  type TimeScale,
  type Verdict,
} from './model.ts';

/** Bumped when a consumer of `matrix.json` would have to change. */
export const MATRIX_SCHEMA_VERSION = 1;

/** A requirement's verdict on one kernel, in one mode. */
export interface MatrixResult {
  mode: string;
  area: string;
  id: string;
  statement: string;
  verdict: Verdict;
}

/** An area's verdict on one kernel, in one mode (problems outside requirements included). */
export interface MatrixArea {
  mode: string;
  area: string;
  verdict: Verdict;
}

/** One kernel of the matrix. */
export interface MatrixKernel {
  /** The kernel as `--kernel` named it (`host`, `6.1`, a release, a file). */
  label: string;
  /** `uname -r`, once known. */
  release?: string;
  /** Where the kernel came from (a Debian package and version, an image file, the host). */
  source?: string;
  where: 'host' | 'vm';
  /** How the VM ran: the host's hypervisor or software emulation. */
  accel?: 'kvm' | 'tcg';
  /** Why not KVM, when not. */
  accelDetail?: string;
  timeScale?: TimeScale;
  verdict: Verdict;
  /** Why the kernel has no results (could not boot, lacks a prerequisite), one line. */
  error?: string;
  durationMs: number;
  /** The kernel's own report, from the matrix report's directory, `/`-separated. */
  reportDir?: string;
  environment?: Environment;
  areas: MatrixArea[];
  results: MatrixResult[];
}

/** What `matrix.json` holds. */
export interface KernelMatrix {
  schemaVersion: typeof MATRIX_SCHEMA_VERSION;
  kind: 'kernel-matrix';
  id: string;
  startedAt: string;
  endedAt: string;
  verdict: Verdict;
  /** The oldest kernel `bpf/` supports, and the guide's floor. */
  floor: { bpf: string; guide: string };
  argv: string[];
  /** The modes asked for, as `bpf/Tunnel` labels, in order. */
  modes: string[];
  kernels: MatrixKernel[];
}

/** A kernel's column, from its run (or its error). */
export function matrixKernel(
  k: Omit<MatrixKernel, 'verdict' | 'areas' | 'results' | 'environment'>,
  run?: Run,
): MatrixKernel {
  const areas: MatrixArea[] = [];
  const results: MatrixResult[] = [];
  for (const pass of run?.passes ?? []) {
    const mode = modeLabel(pass.mode);
    for (const area of pass.areas) {
      areas.push({ mode, area: area.name, verdict: area.verdict });
      for (const r of area.requirements) {
        results.push({ mode, area: area.name, id: r.id, statement: r.statement, verdict: r.verdict });
      }
    }
  }
  const verdict: Verdict = k.error !== undefined || !run ? 'error' : run.verdict;
  return {
    ...k,
    ...(run && k.release === undefined ? { release: run.environment.kernel.release } : {}),
    ...(run ? { environment: run.environment } : {}),
    verdict,
    areas,
    results,
  };
}

/** Assembles the matrix; its verdict is the worst kernel's. */
export function buildKernelMatrix(
  parts: Omit<KernelMatrix, 'schemaVersion' | 'kind' | 'verdict' | 'modes'> & { modes: PassMode[] },
): KernelMatrix {
  return {
    schemaVersion: MATRIX_SCHEMA_VERSION,
    kind: 'kernel-matrix',
    ...parts,
    modes: parts.modes.map(modeLabel),
    verdict: combineVerdicts(parts.kernels.map((k) => k.verdict)),
  };
}

/** The areas any kernel ran, in report order. */
export function matrixAreas(m: KernelMatrix): string[] {
  return [...new Set(m.kernels.flatMap((k) => k.areas.map((a) => a.area)))].sort(compareAreas);
}

/** Every requirement any kernel ran: area, id and statement, in report order. */
export function matrixRequirements(m: KernelMatrix): { area: string; id: string; statement: string }[] {
  const byKey = new Map<string, { area: string; id: string; statement: string }>();
  for (const k of m.kernels) {
    for (const r of k.results)
      byKey.set(`${r.area}\0${r.id}`, { area: r.area, id: r.id, statement: r.statement });
  }
  return [...byKey.values()].sort(
    (a, b) => compareAreas(a.area, b.area) || compareRequirementIds(a.id, b.id),
  );
}

/** A cell of the matrix: an area's verdict on a kernel in a mode, and its requirements' tally. */
export interface MatrixCell {
  verdict: Verdict;
  conformant: number;
  total: number;
}

/** The cell for (kernel, area, mode), or undefined when that kernel did not run it. */
export function matrixCell(k: MatrixKernel, area: string, mode: string): MatrixCell | undefined {
  const a = k.areas.find((x) => x.area === area && x.mode === mode);
  if (!a) return undefined;
  const rs = k.results.filter((r) => r.area === area && r.mode === mode);
  return {
    verdict: a.verdict,
    conformant: rs.filter((r) => r.verdict === 'conformant').length,
    total: rs.length,
  };
}

/** A requirement's verdict on a kernel in a mode, or undefined when it did not run there. */
export function matrixResult(k: MatrixKernel, area: string, id: string, mode: string): Verdict | undefined {
  return k.results.find((r) => r.area === area && r.id === id && r.mode === mode)?.verdict;
}

/** The kernel features probed, by name, in the order the kernels list them. */
export function matrixFeatures(m: KernelMatrix): string[] {
  return [...new Set(m.kernels.flatMap((k) => k.environment?.features.map((f) => f.name) ?? []))];
}

/** How a kernel ran, in words: `host`, `VM, KVM`, `VM, software emulation (TCG)`. */
export function whereText(k: Pick<MatrixKernel, 'where' | 'accel'>): string {
  if (k.where === 'host') return 'this machine';
  return k.accel === 'kvm' ? 'VM, KVM' : 'VM, software emulation (TCG)';
}

/** A time scale in words: `11.2 (measured: 5600 ms vs 500 ms on the host)`. */
export function timeScaleText(t: TimeScale | undefined): string {
  if (!t) return '—';
  if (t.source === 'measured' && t.measuredMs !== undefined && t.referenceMs !== undefined) {
    return `${t.factor} (measured: calibration ${t.measuredMs} ms vs ${t.referenceMs} ms on the host)`;
  }
  return `${t.factor} (${t.source})`;
}
