/**
 * Chooses the dataplane implementation for a mode; each is loaded only when asked for.
 */
import type { Dataplane, DataplaneMode } from './types.ts';

/** A fresh, not yet installed dataplane of the given mode. */
export async function createDataplane(mode: DataplaneMode): Promise<Dataplane> {
  if (mode === 'bpf') return (await import('./bpf/index.ts')).createBpfDataplane();
  const { createIptablesDataplane } = await import('./iptables/index.ts');
  const { createPolicyExtension } = await import('./iptables/policy.ts');
  return createIptablesDataplane({ filterExtensions: [createPolicyExtension()] });
}
