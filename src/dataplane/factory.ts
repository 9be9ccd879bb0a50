/**
 * Chooses the dataplane implementation for a mode; each is loaded only when asked for.
 */
import type { DataplaneMode } from '../k8s/felix-settings.ts';
import type { BpfDataplane } from './bpf/index.ts';
import type { IptablesDataplane } from './iptables/index.ts';

/** Either dataplane; `mode` tells which, so callers narrow without casting. */
export type AnyDataplane = BpfDataplane | IptablesDataplane;

/** A fresh, not yet installed dataplane of the given mode. */
export async function createDataplane(mode: DataplaneMode): Promise<AnyDataplane> {
  if (mode === 'bpf') return (await import('./bpf/index.ts')).createBpfDataplane();
  const { createIptablesDataplane } = await import('./iptables/index.ts');
  const { createPolicyExtension } = await import('./iptables/policy.ts');
  return createIptablesDataplane({ filterExtensions: [createPolicyExtension()] });
}
