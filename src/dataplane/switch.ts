/**
 * Switching a cluster between the iptables and the eBPF dataplane (the `bpfEnabled` switch):
 * the order of the steps, what happens to kube-proxy's service chains, and the warning an
 * operator sees when they are left in place.
 */
import type { DataplaneMode, FelixSettings } from '../k8s/felix-settings.ts';
import type { NodePlace } from '../node/place.ts';

/** Start of the warning kept in the cluster's status while kube-proxy chains are left behind. */
export const KUBE_PROXY_LEFT_PREFIX =
  'bpfKubeProxyIptablesCleanupEnabled is false: kube-proxy chains left in place on';

/** What a switch from one dataplane to another does, in order. */
export interface SwitchPlan {
  from: DataplaneMode;
  to: DataplaneMode;
  /**
   * `make-before-break`: the new dataplane is installed and programmed while the old one still
   * serves, then the old one is removed, so new connections find a service all along.
   * `break-before-make`: both use the same pins, devices and chains (a reinstall of one mode
   * with new settings), so the old one has to go first.
   */
  order: 'make-before-break' | 'break-before-make';
  /** The old iptables dataplane leaves its KUBE-* chains for the eBPF side to decide on. */
  keepKubeProxyChains: boolean;
  /** After the eBPF dataplane is on: remove the KUBE-* chains, or leave them and say so. */
  kubeProxyChains: 'remove' | 'leave' | 'untouched';
}

/** Plans a switch (or a reinstall, when `from` equals `to`) under the given settings. */
export function planSwitch(
  from: DataplaneMode,
  to: DataplaneMode,
  settings: Pick<FelixSettings, 'bpfKubeProxyIptablesCleanupEnabled'>,
): SwitchPlan {
  const toBpf = to === 'bpf';
  return {
    from,
    to,
    order: from === to ? 'break-before-make' : 'make-before-break',
    keepKubeProxyChains: from === 'iptables' && toBpf,
    // Any eBPF install decides, not only a switch: kube-proxy (or an earlier run) may have left
    // chains that would otherwise shadow nothing yet confuse whoever reads the rule set.
    kubeProxyChains: !toBpf ? 'untouched' : settings.bpfKubeProxyIptablesCleanupEnabled ? 'remove' : 'leave',
  };
}

/** The warning for kube-proxy chains left on these nodes. */
export function kubeProxyLeftWarning(nodes: readonly string[]): string {
  return `${KUBE_PROXY_LEFT_PREFIX} ${nodes.join(', ')}`;
}

/** True for a warning made by {@link kubeProxyLeftWarning}. */
export function isKubeProxyLeftWarning(line: string): boolean {
  return line.startsWith(KUBE_PROXY_LEFT_PREFIX);
}

/**
 * The cluster's warnings after a settings change: the control plane's own, plus the kube-proxy
 * warning while it still holds (eBPF mode, cleanup off). `previous` are the warnings kept so far.
 */
export function mergeSwitchWarnings(
  controlPlane: readonly string[],
  previous: readonly string[],
  mode: DataplaneMode,
  settings: Pick<FelixSettings, 'bpfKubeProxyIptablesCleanupEnabled'>,
): string[] {
  const keep =
    mode === 'bpf' && !settings.bpfKubeProxyIptablesCleanupEnabled
      ? previous.filter(isKubeProxyLeftWarning)
      : [];
  return [...controlPlane.filter((w) => !isKubeProxyLeftWarning(w)), ...keep];
}

/** What the eBPF side did with kube-proxy's chains. */
export interface KubeProxyOutcome {
  /** Chains removed, per node name. */
  removed: Record<string, number>;
  /** Nodes where KUBE-* chains were found and left in place. */
  leftOn: string[];
}

/**
 * Applies `plan.kubeProxyChains` on every node: removes kube-proxy's chains, or finds the nodes
 * that still have some. Does nothing (and reads nothing) when the plan leaves them untouched.
 */
export async function settleKubeProxyChains(
  plan: SwitchPlan,
  nodes: readonly NodePlace[],
): Promise<KubeProxyOutcome> {
  const out: KubeProxyOutcome = { removed: {}, leftOn: [] };
  if (plan.kubeProxyChains === 'untouched') return out;
  const { listKubeChains, removeKubeProxyChains } = await import('./iptables/cleanup.ts');
  const { isKubeProxyChain } = await import('./iptables/kube-chains.ts');
  await Promise.all(
    nodes.map(async (n) => {
      if (plan.kubeProxyChains === 'remove') {
        out.removed[n.name] = (await removeKubeProxyChains(n)).length;
        return;
      }
      const chains = await listKubeChains(n);
      if (chains.some((c) => isKubeProxyChain(c.chain))) out.leftOn.push(n.name);
    }),
  );
  out.leftOn.sort();
  return out;
}
