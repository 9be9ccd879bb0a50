/**
 * The standard Linux dataplane: Services the way kube-proxy's iptables mode programs them, on
 * every node. The comparison point for the eBPF dataplane, and what a
 * cluster runs in `iptables` mode.
 */
import { availableParallelism } from 'node:os';
import type { ClusterModel } from '../../k8s/model.ts';
import type { NodePlace } from '../../node/place.ts';
import { placeAlive } from '../place-alive.ts';
import type { Dataplane, DataplaneContext, Frontend, SyncReport } from '../types.ts';
import { detectIptablesBackend, type IptablesBackend } from './backend.ts';
import { removeKubeProxyChains } from './cleanup.ts';
import { frontendsFromTables } from './frontends.ts';
import { readTables, restoreTables } from './node-tables.ts';
import { removePolicyChains } from './policy-cleanup.ts';
import { missingBuiltins } from './reconcile.ts';
import { type FilterExtension, planFilter } from './render-filter.ts';
import { planNat } from './render-nat.ts';
import { servicePortsFor } from './service-ports.ts';
import { dnatTargets, flushFlowsTo, removedEndpoints } from './stale-flows.ts';

export { type IptablesBackend, parseIptablesVersion } from './backend.ts';
export { listKubeChains, removeKubeProxyChains, renderCleanup, type TableChain } from './cleanup.ts';
export { frontendsFromTables } from './frontends.ts';
export { type FilterExtension, planFilter, renderFilter } from './render-filter.ts';
export { planNat, type RenderedTable, renderNat } from './render-nat.ts';

/** How {@link IptablesDataplane.uninstall} leaves the nodes. */
export interface IptablesUninstallOptions {
  /**
   * Leave the kube-proxy-style service chains in place: a switch to eBPF hands them over, and
   * the eBPF side removes them or not (`bpfKubeProxyIptablesCleanupEnabled`). Policy chains go
   * either way.
   */
  keepKubeProxyChains?: boolean;
}

/** The iptables dataplane, with what it learned about the nodes. */
export interface IptablesDataplane extends Dataplane {
  readonly mode: 'iptables';
  /** The iptables backend of each node (by node name), known once installed or resumed. */
  backends(): ReadonlyMap<string, IptablesBackend>;
  /** Removes the policy chains and, unless told to keep them, the kube-proxy chains. */
  uninstall(opts?: IptablesUninstallOptions): Promise<void>;
}

/** Options for {@link createIptablesDataplane}. */
export interface IptablesDataplaneOptions {
  /** Extra filter-table writers (network policy) synced together with the services. */
  filterExtensions?: readonly FilterExtension[];
}

const EMPTY_MODEL: ClusterModel = {
  nodes: [],
  pods: [],
  services: [],
  endpoints: [],
  clusterCidr: '',
  serviceCidr: '',
};

/**
 * Runs one task per node, a few at a time: iptables-restore is CPU-bound, and running every
 * node at once on a small machine is slower than taking turns.
 */
async function perNode<T>(nodes: readonly NodePlace[], task: (node: NodePlace) => Promise<T>): Promise<void> {
  const width = Math.max(1, Math.min(nodes.length, availableParallelism()));
  const failures: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < nodes.length; i = next++) {
      const node = nodes[i] as NodePlace;
      try {
        await task(node);
      } catch (err) {
        failures.push(`${node.name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: width }, worker));
  if (failures.length > 0)
    throw new Error(`iptables failed on ${failures.length} node(s):\n${failures.join('\n')}`);
}

/** Creates the iptables (kube-proxy style) dataplane. */
export function createIptablesDataplane(opts: IptablesDataplaneOptions = {}): IptablesDataplane {
  let ctx: DataplaneContext | undefined;
  const backends = new Map<string, IptablesBackend>();
  // What the last successful restore wrote, per `node/table`, so unchanged chains are skipped.
  const written = new Map<string, Map<string, string>>();
  const extensions = opts.filterExtensions ?? [];

  async function learnBackends(context: DataplaneContext, announce: boolean): Promise<void> {
    await perNode(context.nodes, async (node) => {
      const backend = await detectIptablesBackend(node);
      backends.set(node.name, backend);
      // Said once, at install; a later command resuming the run need not repeat it.
      if (announce) context.log(`iptables on ${node.name}: ${backend.kind} (${backend.raw})`);
    });
  }

  async function syncNode(node: NodePlace, model: ClusterModel): Promise<void> {
    const tables = await readTables(node);
    const currentFilter = tables.get('filter');
    const currentNat = tables.get('nat');
    const filterKey = `${node.name}/filter`;
    const natKey = `${node.name}/nat`;
    const filter = planFilter(model, node, {
      current: currentFilter,
      previous: written.get(filterKey),
      extensions,
    });
    const nat = planNat(model, node, { current: currentNat, previous: written.get(natKey) });
    const nft = backends.get(node.name)?.kind === 'nf_tables';
    // Forget first: after a failed restore the next sync must rewrite everything.
    written.delete(filterKey);
    written.delete(natKey);
    // Refusals first, then the NAT that makes them unnecessary, as kube-proxy orders its restore.
    await restoreTables(node, filter.text, {
      primeCache: nft && missingBuiltins('filter', currentFilter).length === 0,
    });
    written.set(filterKey, filter.chains);
    await restoreTables(node, nat.text, {
      primeCache: nft && missingBuiltins('nat', currentNat).length === 0,
    });
    written.set(natKey, nat.chains);
    await flushFlowsTo(node, removedEndpoints(dnatTargets(currentNat), model));
  }

  function installed(): DataplaneContext {
    if (!ctx) throw new Error('iptables dataplane: install() or resume() must run first');
    return ctx;
  }

  return {
    mode: 'iptables',
    backends: () => backends,

    async install(context) {
      ctx = context;
      written.clear();
      await learnBackends(context, true);
      // Base chains and jump rules, and whatever an earlier run left is cleared.
      await perNode(context.nodes, (node) => syncNode(node, EMPTY_MODEL));
    },

    async resume(context) {
      ctx = context;
      written.clear();
      await learnBackends(context, false);
    },

    // kube-proxy reads none of the FelixConfiguration fields: every change is taken as it is.
    async update(settings) {
      const context = installed();
      const changes = (Object.keys(settings) as (keyof typeof settings)[])
        .filter((f) => JSON.stringify(settings[f]) !== JSON.stringify(context.settings[f]))
        .map((f) => `${f} ${JSON.stringify(context.settings[f])} -> ${JSON.stringify(settings[f])}`);
      ctx = { ...context, settings };
      return { applied: true, reasons: [], changes };
    },

    async sync(model): Promise<SyncReport> {
      const context = installed();
      const started = performance.now();
      // Validation does not depend on the node; the node only decides which endpoints are local.
      const { ports, errors } = servicePortsFor(model, '');
      await perNode(context.nodes, (node) => syncNode(node, model));
      return {
        mode: 'iptables',
        services: new Set(ports.map((p) => p.service)).size,
        errors,
        durationMs: performance.now() - started,
      };
    },

    async listFrontends(): Promise<Frontend[]> {
      const context = installed();
      const out: Frontend[] = [];
      await perNode(context.nodes, async (node) => {
        const tables = await readTables(node);
        out.push(...frontendsFromTables(node.name, tables.get('nat'), tables.get('filter')));
      });
      return out;
    },

    async uninstall(uninstallOpts: IptablesUninstallOptions = {}) {
      if (!ctx) return;
      // A half-built cluster may lack some nodes; there is nothing to remove there.
      const alive = await Promise.all(ctx.nodes.map(placeAlive));
      const present = ctx.nodes.filter((_, i) => alive[i]);
      written.clear();
      await perNode(present, async (node) => {
        await removePolicyChains(node);
        if (!uninstallOpts.keepKubeProxyChains) await removeKubeProxyChains(node);
      });
      ctx = undefined;
    },
  };
}
