/**
 * Which FelixConfiguration changes the running eBPF dataplane takes in place, as a real one
 * does without restarting: everything the programs read per packet from `cali_cfg` (service
 * mode, log level, host NAT, PSNAT ports), the opt-out list, connect-time load balancing, the
 * interface pattern, and map sizes that grow (new maps, entries copied, programs swapped). A
 * map cannot shrink under its entries, and a field this planner does not know is not assumed
 * harmless: both reinstall. Pure, so the decision is tested without a kernel.
 */
import type { FelixSettings } from '../../k8s/felix-settings.ts';
import { type BpfMapSizes, mapSizesFrom } from './build.ts';

/** What applying new settings to a running eBPF dataplane takes. */
export interface UpdatePlan {
  /** Why the settings cannot be taken in place (empty: they can), one line each. */
  reinstall: string[];
  /** The config record changes (service mode, log level, host NAT, PSNAT ports). */
  config: boolean;
  /** The opt-out CIDRs change. */
  dsrOptout: boolean;
  /** Connect-time load balancing goes on or off. */
  ctlb?: 'attach' | 'detach';
  /** The data interface pattern changes: programs move to the interfaces that match now. */
  pattern: boolean;
  /** New map sizes when some grow (and none shrinks). */
  grow?: BpfMapSizes;
  /** `field old -> new` for every field that changed, for the log. */
  changes: string[];
}

/** Fields read from the config record by the programs on every packet. */
const CONFIG_FIELDS = [
  'bpfExternalServiceMode',
  'bpfLogLevel',
  'bpfHostNetworkedNATWithoutCTLB',
  'bpfPSNATPorts',
] as const satisfies readonly (keyof FelixSettings)[];

/** Fields nothing on the nodes holds: the next sync (or the next switch) reads them. */
const READ_AT_SYNC = [
  'bpfKubeProxyEndpointSlicesEnabled',
  'bpfKubeProxyIptablesCleanupEnabled',
  // Failsafe ports reach the host endpoint maps through the model, at the next sync.
  'failsafeInboundHostPorts',
  'failsafeOutboundHostPorts',
] as const satisfies readonly (keyof FelixSettings)[];

const SIZE_FIELDS: Readonly<Record<keyof BpfMapSizes, keyof FelixSettings>> = {
  natFrontend: 'bpfMapSizeNATFrontend',
  natBackend: 'bpfMapSizeNATBackend',
  natAffinity: 'bpfMapSizeNATAffinity',
  route: 'bpfMapSizeRoute',
  conntrack: 'bpfMapSizeConntrack',
};

const HANDLED = new Set<string>([
  'bpfEnabled',
  'bpfDSROptoutCIDRs',
  'bpfDataIfacePattern',
  'bpfConnectTimeLoadBalancingEnabled',
  ...CONFIG_FIELDS,
  ...READ_AT_SYNC,
  ...Object.values(SIZE_FIELDS),
]);

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Plans taking `next` in place of `prev` on a running eBPF dataplane. */
export function planUpdate(prev: FelixSettings, next: FelixSettings): UpdatePlan {
  const fields = [...new Set([...Object.keys(prev), ...Object.keys(next)])] as (keyof FelixSettings)[];
  const changed = fields.filter((f) => !same(prev[f], next[f]));
  const plan: UpdatePlan = {
    reinstall: [],
    config: changed.some((f) => (CONFIG_FIELDS as readonly string[]).includes(f)),
    dsrOptout: changed.includes('bpfDSROptoutCIDRs'),
    pattern: changed.includes('bpfDataIfacePattern'),
    changes: changed.map((f) => `${f} ${JSON.stringify(prev[f])} -> ${JSON.stringify(next[f])}`),
  };
  if (changed.includes('bpfConnectTimeLoadBalancingEnabled'))
    plan.ctlb = next.bpfConnectTimeLoadBalancingEnabled ? 'attach' : 'detach';
  if (changed.includes('bpfEnabled')) plan.reinstall.push('bpfEnabled changes the dataplane');
  for (const f of changed) {
    if (!HANDLED.has(f)) plan.reinstall.push(`${f} is read at install only`);
  }
  const before = mapSizesFrom(prev);
  const after = mapSizesFrom(next);
  const keys = Object.keys(SIZE_FIELDS) as (keyof BpfMapSizes)[];
  const shrinking = keys.filter((k) => after[k] < before[k]);
  for (const k of shrinking)
    plan.reinstall.push(
      `${SIZE_FIELDS[k]} shrinks (${before[k]} -> ${after[k]}): a map cannot shrink under its entries`,
    );
  if (shrinking.length === 0 && keys.some((k) => after[k] > before[k])) plan.grow = after;
  return plan;
}
