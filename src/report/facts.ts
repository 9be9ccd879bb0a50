/**
 * The run's environment and configuration flattened to named facts, in one order, for the
 * formats that show them as a list (JUnit properties, Markdown and HTML tables).
 */
import { formatBytes } from './evidence-text.ts';
import type { Run } from './model.ts';

/** One named fact about the run. */
export interface Fact {
  /** Dotted key, stable for machines: `kernel.release`, `tool.clang`, `feature.lru_hash`. */
  key: string;
  /** What a person reads as the label. */
  label: string;
  value: string;
}

function yesNo(b: boolean): string {
  return b ? 'yes' : 'no';
}

/** Facts about the machine and kernel. */
export function kernelFacts(run: Run): Fact[] {
  const env = run.environment;
  return [
    { key: 'host.name', label: 'host', value: env.hostname },
    { key: 'host.arch', label: 'architecture', value: env.arch },
    { key: 'kernel.release', label: 'kernel release', value: env.kernel.release },
    { key: 'kernel.version', label: 'kernel version', value: env.kernel.version },
    { key: 'kernel.btf', label: 'BTF (/sys/kernel/btf/vmlinux)', value: yesNo(env.kernel.btf) },
    { key: 'kernel.bpffs', label: 'bpffs mounted (/sys/fs/bpf)', value: yesNo(env.kernel.bpffsMounted) },
  ];
}

/** Facts about each kernel feature probed. */
export function featureFacts(run: Run): Fact[] {
  return run.environment.features.map((f) => ({
    key: `feature.${f.name}`,
    label: f.name,
    value: f.detail ? `${f.state} (${f.detail})` : f.state,
  }));
}

/** Facts about each tool and its version. */
export function toolFacts(run: Run): Fact[] {
  return run.environment.tools.map((t) => {
    const version = t.found ? (t.version ?? 'found, version unknown') : 'missing';
    return { key: `tool.${t.name}`, label: t.name, value: t.detail ? `${version} (${t.detail})` : version };
  });
}

/** Facts about the `bpf/` source revision and what the run was asked to do. */
export function configFacts(run: Run): Fact[] {
  const src = run.environment.bpfSource;
  const revision = src.commit ? `${src.commit}${src.dirty ? ' (with uncommitted changes)' : ''}` : 'unknown';
  const facts: Fact[] = [
    { key: 'run.id', label: 'run id', value: run.runId },
    {
      key: 'bpf.revision',
      label: 'bpf/ revision',
      value: src.detail ? `${revision} — ${src.detail}` : revision,
    },
    { key: 'config.provider', label: 'provider', value: run.config.provider },
    { key: 'config.nodeCount', label: 'nodes', value: String(run.config.nodeCount) },
  ];
  if (run.config.nodeImage)
    facts.push({ key: 'config.nodeImage', label: 'node image', value: run.config.nodeImage });
  if (run.config.areas)
    facts.push({ key: 'config.areas', label: 'areas asked for', value: run.config.areas.join(', ') });
  if (run.config.argv) facts.push({ key: 'config.argv', label: 'command', value: run.config.argv.join(' ') });
  return facts;
}

/** What the run kept of its evidence files (nothing for a report that predates them). */
export function evidenceFacts(run: Run): Fact[] {
  const e = run.evidenceFiles;
  if (!e) return [];
  const omitted =
    e.omittedFiles > 0
      ? `; cap reached: ${e.omittedFiles} file${e.omittedFiles === 1 ? '' : 's'} (${formatBytes(e.omittedBytes)}) not kept`
      : '';
  return [
    {
      key: 'evidence.files',
      label: 'evidence files',
      value: `${e.files} file${e.files === 1 ? '' : 's'}, ${formatBytes(e.bytes)} (--evidence ${e.policy}, cap ${formatBytes(e.capBytes)}${omitted})`,
    },
  ];
}

/** The FelixConfiguration settings the run started from. */
export function settingFacts(run: Run): Fact[] {
  const settings = Object.entries(run.config.settings).map(([name, value]) => ({
    key: `setting.${name}`,
    label: name,
    value: settingValue(value),
  }));
  // Accepted-but-not-implemented fields are listed with the settings, never silently dropped.
  const warnings = (run.config.warnings ?? []).map((w, i) => ({
    key: `warning.${i}`,
    label: 'warning',
    value: w,
  }));
  return [...settings, ...warnings];
}

function settingValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.length === 0) return '[]';
  return JSON.stringify(value) ?? String(value);
}

/** Every fact, in report order. */
export function allFacts(run: Run): Fact[] {
  return [
    ...configFacts(run),
    ...evidenceFacts(run),
    ...settingFacts(run),
    ...kernelFacts(run),
    ...featureFacts(run),
    ...toolFacts(run),
  ];
}
