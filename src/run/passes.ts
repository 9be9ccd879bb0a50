/**
 * The modes a run executes the suites in: each dataplane asked for, and for eBPF each service
 * mode asked for (the iptables dataplane has no service modes of its own).
 */
import type { DataplaneMode, ServiceMode } from '../k8s/felix-settings.ts';
import type { PassMode } from '../report/model.ts';

/** `--dataplane` and `--service-mode` as the user wrote them. */
export interface ModeRequest {
  dataplane: string;
  serviceMode: string;
}

/** The modes a run takes when not told: the eBPF dataplane in Tunnel mode. */
export const DEFAULT_MODES: ModeRequest = { dataplane: 'bpf', serviceMode: 'Tunnel' };

/** Every mode: each dataplane, and eBPF in each service mode. */
export const EVERY_MODE: ModeRequest = { dataplane: 'both', serviceMode: 'both' };

function pick<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  if (value === 'both') return [...allowed];
  const hit = allowed.find((a) => a.toLowerCase() === value.toLowerCase());
  if (!hit) throw new Error(`--${flag} must be ${allowed.join(', ')} or both, got "${value}"`);
  return [hit];
}

/** The passes of a run, in order: eBPF first (the system under test), then iptables (the baseline). */
export function planPasses(req: ModeRequest): PassMode[] {
  const dataplanes = pick<DataplaneMode>('dataplane', req.dataplane, ['bpf', 'iptables']);
  const serviceModes = pick<ServiceMode>('service-mode', req.serviceMode, ['Tunnel', 'DSR']);
  const passes: PassMode[] = [];
  for (const dataplane of dataplanes) {
    if (dataplane === 'iptables') passes.push({ dataplane, serviceMode: serviceModes[0]! });
    else for (const serviceMode of serviceModes) passes.push({ dataplane, serviceMode });
  }
  return passes;
}
