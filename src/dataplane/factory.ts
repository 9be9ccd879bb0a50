/**
 * Chooses the dataplane implementation for a mode; each is loaded only when asked for.
 */
import type { DataplaneMode } from '../k8s/felix-settings.ts';
import type { BpfDataplane, BpfDataplaneOptions } from './bpf/index.ts';
import type { IptablesDataplane } from './iptables/index.ts';

/** Either dataplane; `mode` tells which, so callers narrow without casting. */
export type AnyDataplane = BpfDataplane | IptablesDataplane;

/**
 * A fresh, not yet installed dataplane of the given mode; `bpf` says where the eBPF dataplane is
 * built from when it is not the project's own bpf/ (a copy under test).
 */
export async function createDataplane(
  mode: DataplaneMode,
  bpf: BpfDataplaneOptions = {},
): Promise<AnyDataplane> {
  if (mode === 'bpf') return (await import('./bpf/index.ts')).createBpfDataplane(bpf);
  const { createIptablesDataplane } = await import('./iptables/index.ts');
  const { createPolicyExtension } = await import('./iptables/policy.ts');
  const { createHostPolicyExtension } = await import('./iptables/host-policy.ts');
  return createIptablesDataplane({
    filterExtensions: [createHostPolicyExtension(), createPolicyExtension()],
  });
}
