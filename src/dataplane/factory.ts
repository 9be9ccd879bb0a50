/**
 * Chooses the dataplane implementation for a mode; each is loaded only when asked for.
 */
import type { Dataplane, DataplaneMode } from './types.ts';

/** A fresh, not yet installed dataplane of the given mode. */
export async function createDataplane(mode: DataplaneMode): Promise<Dataplane> {
  if (mode === 'bpf') return (await import('./bpf/index.ts')).createBpfDataplane();
  return (await import('./iptables/index.ts')).createIptablesDataplane();
}
