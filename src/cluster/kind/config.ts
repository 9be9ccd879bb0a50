/**
 * A run's kind configuration, pure: kind/dpc-3node.yaml (no default CNI, no kube-proxy, bpffs
 * shared) sized to the run, each node also seeing this machine's dataplane build directory
 * read-only at the same path, so that the node-container code loads the object this machine
 * built exactly as it does on the docker provider.
 */
import { parse, stringify } from 'yaml';

interface KindMount {
  hostPath: string;
  containerPath: string;
  readOnly?: boolean;
  propagation?: string;
}

interface KindNode {
  role: 'control-plane' | 'worker';
  extraMounts?: KindMount[];
  [field: string]: unknown;
}

interface KindConfig {
  nodes?: KindNode[];
  [field: string]: unknown;
}

/**
 * The configuration for a run of `nodes` nodes (one control plane, the rest workers, each shaped
 * like the base file's node of that role) with `buildDir` mounted read-only in every node.
 */
export function runKindConfig(baseYaml: string, opts: { nodes: number; buildDir: string }): string {
  if (!Number.isInteger(opts.nodes) || opts.nodes < 1)
    throw new RangeError(`nodes must be 1 or more, got ${opts.nodes}`);
  const base = parse(baseYaml) as KindConfig;
  const template = (role: KindNode['role']): KindNode => {
    const found = base.nodes?.find((n) => n.role === role) ?? base.nodes?.[0] ?? { role };
    return structuredClone({ ...found, role });
  };
  const nodes = Array.from({ length: opts.nodes }, (_, i) => template(i === 0 ? 'control-plane' : 'worker'));
  for (const n of nodes) {
    const mounts = (n.extraMounts ?? []).filter((m) => m.containerPath !== opts.buildDir);
    n.extraMounts = [...mounts, { hostPath: opts.buildDir, containerPath: opts.buildDir, readOnly: true }];
  }
  return stringify({ ...base, nodes });
}
