/**
 * The eBPF dataplane (mode `bpf`): builds bpf/ from source, loads one copy per node with its own
 * pinned maps, attaches the tc programs and the connect-time load balancer, and programs the
 * maps from the cluster model. Also the read side the suites use: maps, counters, usage.
 */
import type { ClusterModel } from '../../k8s/model.ts';
import type { NodePlace } from '../../node/place.ts';
import { compilePolicy, policyInputsFromModel } from '../../policy/compile.ts';
import type { PodPolicy } from '../../policy/types.ts';
import { placeAlive } from '../place-alive.ts';
import type { Dataplane, DataplaneContext, Frontend, SyncReport } from '../types.ts';
import {
  attachCtlb,
  attachTc,
  cgroupPrograms,
  detachCtlb,
  detachTc,
  isDataIface,
  isWorkloadIface,
  type TcAttachment,
  tcPrograms,
} from './attach.ts';
import { dumpMap, loadAll, runBatch } from './bpftool.ts';
import { buildBpf, mapSizesFrom } from './build.ts';
import { diffMap, orderNodeOps, ownersOf, releasedOwners, type Shadow, shadowOf } from './diff.ts';
import { planDsrOptout } from './dsr-optout.ts';
import {
  decodeBackendKey,
  decodeFrontendValue,
  fromHexWords,
  HOST_LITTLE_ENDIAN,
  type NodeConfig,
  toHexWords,
} from './encoding.ts';
import { CFG_FLAG, MAP, MAP_USAGE_WARN_RATIO, PROG, VXLAN_DEVICE } from './layout.ts';
import {
  type CounterRow,
  type MapUsage,
  mapPin,
  type NodePins,
  nodePins,
  progPin,
  readBackends,
  readConfig,
  readConntrack,
  readCounters,
  readDsrOptout,
  readFrontends,
  readMapUsage,
  readRoutes,
  writeConfig,
} from './maps.ts';
import { ensureVxlan, listLinks, removeVxlan, syncLocalRoutes } from './node-kernel.ts';
import { keyId, type PlanLimits, planNode, ServiceIds } from './plan.ts';
import { planPolicy } from './policy-plan.ts';

export { BpfCompileError, buildBpf, mapSizesFrom } from './build.ts';
export type { CounterRow, MapUsage, NodePins } from './maps.ts';

/** Conntrack idle timeouts the nodes are configured with (seconds). */
export const CT_TIMEOUTS = { tcp: 3600, udp: 60, affinity: 10800 } as const;

/** A counter with the interface name resolved. */
export interface NamedCounter extends CounterRow {
  /** Interface name in the node, or `if<N>` when it is gone. */
  iface: string;
}

/** The eBPF dataplane with its inspection side. */
export interface BpfDataplane extends Dataplane {
  readonly mode: 'bpf';
  /** Where a node's programs and maps are pinned. */
  pins(nodeName: string): NodePins;
  /** The node's packet counters per interface, hook and reason. */
  counters(nodeName: string): Promise<NamedCounter[]>;
  /** Decoded map contents of a node. */
  frontends(nodeName: string): ReturnType<typeof readFrontends>;
  backends(nodeName: string): ReturnType<typeof readBackends>;
  conntrack(nodeName: string): ReturnType<typeof readConntrack>;
  routes(nodeName: string): ReturnType<typeof readRoutes>;
  config(nodeName: string): ReturnType<typeof readConfig>;
  /** The bpfDSROptoutCIDRs programmed on a node, read back from its map. */
  dsrOptout(nodeName: string): Promise<string[]>;
  /** Size and fill of every map of a node. */
  mapUsage(nodeName: string): Promise<MapUsage[]>;
  /** Services programmed whole on a node at the last sync. */
  programmedServices(nodeName: string): string[];
  /** Interfaces of a node carrying our tc programs. */
  attachedInterfaces(nodeName: string): string[];
}

/** Where to build from (tests point these elsewhere). */
export interface BpfDataplaneOptions {
  sourceDir?: string;
  buildDir?: string;
}

interface NodeRuntime {
  node: NodePlace;
  pins: NodePins;
  vxIfindex: number;
  /** Interface name -> ifindex it had when we attached. */
  attached: Map<string, number>;
  frontends: Shadow;
  backends: Shadow;
  routes: Shadow;
  /** `dpc_dsr_optout` as last programmed. */
  dsrOptout: Shadow;
  /** `dpc_pol_ep` and `dpc_pol_rules` as last programmed. */
  policyEndpoints: Shadow;
  policyRules: Shadow;
  services: string[];
  /** The connect-time load balancer is attached to the node's cgroup. */
  ctlb: boolean;
}

/** Rebuilds a shadow from what a node's map really holds (after a failed batch). */
async function shadowFromMap(node: NodePlace, pin: string): Promise<Shadow> {
  const s: Shadow = new Map();
  for (const e of await dumpMap(node, pin)) s.set(keyId(e.key), { value: toHexWords(e.value), owner: '?' });
  return s;
}

/** The shadow of a map an older object may not have (empty then). */
async function shadowIfPinned(node: NodePlace, pin: string): Promise<Shadow> {
  return (await node.fs.exists(pin)) ? shadowFromMap(node, pin) : new Map();
}

/** The node's pins exist as far as the node can tell; false when the node cannot be asked. */
async function pinsPresent(node: NodePlace): Promise<boolean> {
  return node.fs.exists(node.bpffsDir).catch(() => false);
}

class BpfDataplaneImpl implements BpfDataplane {
  readonly mode = 'bpf' as const;
  private readonly opts: BpfDataplaneOptions;
  private ctx: DataplaneContext | undefined;
  private readonly nodes = new Map<string, NodeRuntime>();
  private readonly ids = new ServiceIds();

  constructor(opts: BpfDataplaneOptions) {
    this.opts = opts;
  }

  async install(ctx: DataplaneContext): Promise<void> {
    if (!HOST_LITTLE_ENDIAN)
      throw new Error('the eBPF dataplane encodes host-order fields little-endian only');
    this.ctx = ctx;
    const s = ctx.settings;
    const build = await buildBpf({
      sizes: mapSizesFrom(s),
      ...(this.opts.sourceDir ? { sourceDir: this.opts.sourceDir } : {}),
      ...(this.opts.buildDir ? { outDir: this.opts.buildDir } : {}),
    });
    const object = build.objects.dpc;
    if (!object) throw new Error(`bpf build produced no dpc.o in ${build.dir}`);
    const pattern = new RegExp(s.bpfDataIfacePattern);
    try {
      await Promise.all(ctx.nodes.map((n) => this.installNode(ctx, n, object, pattern)));
      for (const e of this.dsrOptoutErrors()) ctx.log(`bpf: ${e}`);
    } catch (err) {
      await this.uninstall().catch((e: unknown) =>
        ctx.log(`bpf: cleanup after failed install: ${String(e)}`),
      );
      throw err;
    }
  }

  private async installNode(
    ctx: DataplaneContext,
    node: NodePlace,
    object: string,
    pattern: RegExp,
  ): Promise<void> {
    const pins = nodePins(node.bpffsDir);
    // Pins an earlier install left would make loadall fail: start from an empty directory.
    await node.fs.remove(pins.root);
    await node.fs.mkdir(pins.progDir);
    await node.fs.mkdir(pins.mapDir);
    const rt: NodeRuntime = {
      node,
      pins,
      vxIfindex: 0,
      attached: new Map(),
      frontends: new Map(),
      backends: new Map(),
      routes: new Map(),
      dsrOptout: new Map(),
      policyEndpoints: new Map(),
      policyRules: new Map(),
      services: [],
      ctlb: false,
    };
    this.nodes.set(node.name, rt);
    await loadAll(node, object, pins.progDir, pins.mapDir);
    rt.vxIfindex = await ensureVxlan(node);
    // The opt-out list is in place before the DSR flag can take effect.
    await this.syncDsrOptout(rt);
    await writeConfig(node, pins, this.nodeConfig(ctx, rt));
    const links = await listLinks(node);
    const list: TcAttachment[] = [{ iface: VXLAN_DEVICE, ingress: progPin(pins, PROG.vxlanIngress) }];
    for (const l of links) {
      if (!isDataIface(l.name, pattern)) continue;
      list.push({
        iface: l.name,
        ingress: progPin(pins, PROG.hostIngress),
        egress: progPin(pins, PROG.hostEgress),
      });
    }
    const failed = await attachTc(node, list);
    if (failed.length > 0)
      throw new Error(`could not attach tc programs in ${node.where} to ${failed.join(', ')}`);
    for (const a of list)
      rt.attached.set(a.iface, links.find((l) => l.name === a.iface)?.ifindex ?? rt.vxIfindex);
    if (ctx.settings.bpfConnectTimeLoadBalancingEnabled) {
      // Marked first: a partly attached balancer must still be detached by uninstall.
      rt.ctlb = true;
      await attachCtlb(node, pins);
    }
  }

  async resume(ctx: DataplaneContext): Promise<void> {
    if (!HOST_LITTLE_ENDIAN)
      throw new Error('the eBPF dataplane encodes host-order fields little-endian only');
    this.ctx = ctx;
    this.nodes.clear();
    await Promise.all(ctx.nodes.map((n) => this.resumeNode(n)));
    // The settings may have changed since install: bring the opt-out list in line now.
    await Promise.all([...this.nodes.values()].map((rt) => this.syncDsrOptout(rt)));
    for (const e of this.dsrOptoutErrors()) ctx.log(`bpf: ${e}`);
  }

  private async resumeNode(node: NodePlace): Promise<void> {
    const pins = nodePins(node.bpffsDir);
    if (!(await node.fs.exists(mapPin(pins, MAP.natFrontend)))) {
      throw new Error(`bpf dataplane: nothing installed for node ${node.name} under ${pins.root}`);
    }
    const links = await listLinks(node);
    const rt: NodeRuntime = {
      node,
      pins,
      vxIfindex: links.find((l) => l.name === VXLAN_DEVICE)?.ifindex ?? 0,
      attached: new Map(),
      frontends: await shadowFromMap(node, mapPin(pins, MAP.natFrontend)),
      backends: await shadowFromMap(node, mapPin(pins, MAP.natBackend)),
      routes: await shadowFromMap(node, mapPin(pins, MAP.routes)),
      dsrOptout: await shadowIfPinned(node, mapPin(pins, MAP.dsrOptout)),
      policyEndpoints: await shadowIfPinned(node, mapPin(pins, MAP.policyEndpoints)),
      policyRules: await shadowIfPinned(node, mapPin(pins, MAP.policyRules)),
      services: [],
      ctlb: (await cgroupPrograms(node, node.cgroupDir)).includes(PROG.connect4),
    };
    for (const l of links) {
      const progs = [
        ...(await tcPrograms(node, l.name, 'ingress')),
        ...(await tcPrograms(node, l.name, 'egress')),
      ];
      if (progs.some((p) => p.startsWith('dpc_'))) rt.attached.set(l.name, l.ifindex);
    }
    // Owners are unknown, so new ids go above every id in use: the first sync then moves each
    // service to a fresh id in the safe order (backends, frontends, deletions).
    for (const v of rt.frontends.values())
      this.ids.reserveThrough(decodeFrontendValue(fromHexWords(v.value)).svcId);
    for (const k of rt.backends.keys()) this.ids.reserveThrough(decodeBackendKey(fromHexWords(k)).svcId);
    this.nodes.set(node.name, rt);
  }

  async listFrontends(): Promise<Frontend[]> {
    const out: Frontend[] = [];
    for (const rt of this.nodes.values()) {
      for (const e of await readFrontends(rt.node, rt.pins)) {
        const nodeport = e.key.addr === '0.0.0.0';
        out.push({
          node: rt.node.name,
          kind: nodeport ? 'nodeport' : 'ip',
          ...(nodeport ? {} : { ip: e.key.addr }),
          port: e.key.port,
          protocol: e.key.proto,
        });
      }
    }
    return out;
  }

  private nodeConfig(ctx: DataplaneContext, rt: NodeRuntime): NodeConfig {
    return {
      nodeIp: rt.node.ip,
      vxIfindex: rt.vxIfindex,
      flags: ctx.settings.bpfExternalServiceMode === 'DSR' ? CFG_FLAG.dsr : 0,
      tcpTimeoutS: CT_TIMEOUTS.tcp,
      udpTimeoutS: CT_TIMEOUTS.udp,
      affinityTimeoutS: CT_TIMEOUTS.affinity,
    };
  }

  /** Why some of `bpfDSROptoutCIDRs` could not be programmed (the same on every node). */
  private dsrOptoutErrors(): string[] {
    return planDsrOptout(this.requireCtx().settings.bpfDSROptoutCIDRs).errors;
  }

  /** Brings a node's `dpc_dsr_optout` to the current settings; writes nothing when it matches. */
  private async syncDsrOptout(rt: NodeRuntime): Promise<void> {
    const pin = mapPin(rt.pins, MAP.dsrOptout);
    const { entries } = planDsrOptout(this.requireCtx().settings.bpfDSROptoutCIDRs);
    const diff = diffMap(pin, rt.dsrOptout, entries);
    // Additions first: a CIDR narrowed or widened never leaves a client briefly without its entry.
    const ops = [...diff.upserts, ...diff.deletes];
    if (ops.length === 0) return;
    if (!(await rt.node.fs.exists(pin)))
      throw new Error(`bpf dataplane: ${pin} is missing; the installed object predates bpfDSROptoutCIDRs`);
    try {
      await runBatch(rt.node, ops);
    } catch (err) {
      rt.dsrOptout = await shadowFromMap(rt.node, pin);
      throw err;
    }
    rt.dsrOptout = shadowOf(entries);
  }

  /**
   * Brings a node's policy maps to the compiled policy. Rules go in before the isolation that
   * makes them matter and go after it is lifted, so no step denies what both ends allow.
   */
  private async syncPolicy(
    rt: NodeRuntime,
    compiled: readonly PodPolicy[],
    ifindexes: ReadonlyMap<string, number>,
  ): Promise<string[]> {
    const epPin = mapPin(rt.pins, MAP.policyEndpoints);
    const rulePin = mapPin(rt.pins, MAP.policyRules);
    const plan = planPolicy(compiled, rt.node.name, ifindexes);
    const eps = diffMap(epPin, rt.policyEndpoints, plan.endpoints);
    const rules = diffMap(rulePin, rt.policyRules, plan.rules);
    const ops = [...rules.upserts, ...eps.upserts, ...eps.deletes, ...rules.deletes];
    if (ops.length === 0) return plan.errors;
    if (!(await rt.node.fs.exists(epPin)))
      throw new Error(`bpf dataplane: ${epPin} is missing; the installed object predates policy maps`);
    try {
      await runBatch(rt.node, ops);
    } catch (err) {
      rt.policyEndpoints = await shadowFromMap(rt.node, epPin);
      rt.policyRules = await shadowFromMap(rt.node, rulePin);
      throw err;
    }
    rt.policyEndpoints = shadowOf(plan.endpoints);
    rt.policyRules = shadowOf(plan.rules);
    return plan.errors;
  }

  private limits(): PlanLimits {
    const s = this.requireCtx().settings;
    return {
      natFrontend: s.bpfMapSizeNATFrontend,
      natBackend: s.bpfMapSizeNATBackend,
      route: s.bpfMapSizeRoute,
    };
  }

  private requireCtx(): DataplaneContext {
    if (!this.ctx) throw new Error('bpf dataplane: install() first');
    return this.ctx;
  }

  private node(name: string): NodeRuntime {
    const rt = this.nodes.get(name);
    if (!rt) throw new Error(`bpf dataplane: no node ${name}`);
    return rt;
  }

  async sync(model: ClusterModel): Promise<SyncReport> {
    const started = performance.now();
    const ctx = this.requireCtx();
    const limits = this.limits();
    const pattern = new RegExp(ctx.settings.bpfDataIfacePattern);
    const compiled = compilePolicy(policyInputsFromModel(model));
    const perNode = await Promise.all(
      [...this.nodes.values()].map((rt) => this.syncNode(model, compiled, rt, limits, pattern)),
    );
    this.ids.sweep();
    const errors = [...new Set([...perNode.flat(), ...this.dsrOptoutErrors()])];
    for (const e of errors) ctx.log(`bpf: ${e}`);
    const counts = [...this.nodes.values()].map((rt) => rt.services.length);
    return {
      mode: 'bpf',
      services: counts.length > 0 ? Math.min(...counts) : 0,
      errors,
      durationMs: performance.now() - started,
    };
  }

  private async syncNode(
    model: ClusterModel,
    compiled: readonly PodPolicy[],
    rt: NodeRuntime,
    limits: PlanLimits,
    pattern: RegExp,
  ): Promise<string[]> {
    const node = rt.node;
    const links = await listLinks(node);
    const ifindexes = new Map(links.map((l) => [l.name, l.ifindex]));
    const plan = planNode(
      model,
      { name: node.name, ip: node.ip, podCidr: node.podCidr, ifindexes },
      this.ids,
      limits,
      ownersOf(rt.frontends),
    );
    const fePin = mapPin(rt.pins, MAP.natFrontend);
    const bePin = mapPin(rt.pins, MAP.natBackend);
    const rtPin = mapPin(rt.pins, MAP.routes);
    const gone = releasedOwners(rt.frontends, plan.frontends);
    const ops = orderNodeOps(
      diffMap(fePin, rt.frontends, plan.frontends, gone),
      diffMap(bePin, rt.backends, plan.backends, gone),
      diffMap(rtPin, rt.routes, plan.routes),
    );
    try {
      await runBatch(node, ops);
    } catch (err) {
      // Part of the batch went in: learn what the maps really hold before giving up.
      rt.frontends = await shadowFromMap(node, fePin);
      rt.backends = await shadowFromMap(node, bePin);
      rt.routes = await shadowFromMap(node, rtPin);
      throw err;
    }
    rt.frontends = shadowOf(plan.frontends);
    rt.backends = shadowOf(plan.backends);
    rt.routes = shadowOf(plan.routes);
    rt.services = plan.services;
    await this.syncDsrOptout(rt);
    const policyErrors = await this.syncPolicy(rt, compiled, ifindexes);
    await syncLocalRoutes(node, plan.localCidrs);

    // Programs go on new interfaces only after the routes and policy they check are in the maps.
    const list: TcAttachment[] = [];
    for (const l of links) {
      if (rt.attached.get(l.name) === l.ifindex) continue;
      if (isWorkloadIface(l.name)) {
        list.push({
          iface: l.name,
          ingress: progPin(rt.pins, PROG.workloadIngress),
          egress: progPin(rt.pins, PROG.workloadEgress),
        });
      } else if (isDataIface(l.name, pattern)) {
        list.push({
          iface: l.name,
          ingress: progPin(rt.pins, PROG.hostIngress),
          egress: progPin(rt.pins, PROG.hostEgress),
        });
      }
    }
    const failed = new Set(await attachTc(node, list));
    for (const a of list) if (!failed.has(a.iface)) rt.attached.set(a.iface, ifindexes.get(a.iface) ?? 0);
    const stillThere =
      failed.size > 0 ? new Set((await listLinks(node)).map((l) => l.name)) : new Set<string>();
    const errors = [...plan.errors, ...policyErrors];
    for (const f of failed) {
      // A veth that vanished meanwhile was a pod going away, not a failure.
      if (stillThere.has(f)) errors.push(`interface ${f} on node ${node.name}: could not attach tc programs`);
    }
    for (const name of [...rt.attached.keys()]) if (!ifindexes.has(name)) rt.attached.delete(name);
    const fill: [string, number, number][] = [
      [MAP.natFrontend, plan.frontends.size, limits.natFrontend],
      [MAP.natBackend, plan.backends.size, limits.natBackend],
      [MAP.routes, plan.routes.size, limits.route],
    ];
    for (const [map, used, max] of fill) {
      if (used > MAP_USAGE_WARN_RATIO * max) {
        const pct = Math.round((100 * used) / max);
        this.requireCtx().log(`bpf: ${map} on node ${node.name} is ${pct}% full (${used}/${max})`);
      }
    }
    return errors;
  }

  async uninstall(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    const failures: string[] = [];
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    await Promise.all(
      ctx.nodes.map(async (node) => {
        const rt = this.nodes.get(node.name);
        // A node whose place is gone took its interfaces, routes and devices with it; its cgroup
        // (and the balancer attached there) goes with the provider's teardown.
        if (rt && (await placeAlive(node))) {
          if (rt.ctlb) await step(`${node.name} cgroup detach`, () => detachCtlb(node, rt.pins));
          await step(`${node.name} tc`, () => detachTc(node, [...rt.attached.keys()]));
          await step(`${node.name} vx`, () => removeVxlan(node));
          await step(`${node.name} local routes`, () => syncLocalRoutes(node, []));
        }
        // Every node's pins, also of nodes whose install never got as far as a runtime.
        if (await pinsPresent(node)) await step(`${node.name} bpffs`, () => node.fs.remove(node.bpffsDir));
      }),
    );
    this.nodes.clear();
    if (failures.length > 0) throw new Error(`bpf uninstall left work undone:\n${failures.join('\n')}`);
  }

  pins(nodeName: string): NodePins {
    return this.node(nodeName).pins;
  }

  async counters(nodeName: string): Promise<NamedCounter[]> {
    const rt = this.node(nodeName);
    const names = new Map((await listLinks(rt.node)).map((l) => [l.ifindex, l.name]));
    return (await readCounters(rt.node, rt.pins)).map((c) => ({
      ...c,
      iface: names.get(c.ifindex) ?? `if${c.ifindex}`,
    }));
  }

  frontends(nodeName: string) {
    const rt = this.node(nodeName);
    return readFrontends(rt.node, rt.pins);
  }

  backends(nodeName: string) {
    const rt = this.node(nodeName);
    return readBackends(rt.node, rt.pins);
  }

  conntrack(nodeName: string) {
    const rt = this.node(nodeName);
    return readConntrack(rt.node, rt.pins);
  }

  routes(nodeName: string) {
    const rt = this.node(nodeName);
    return readRoutes(rt.node, rt.pins);
  }

  config(nodeName: string) {
    const rt = this.node(nodeName);
    return readConfig(rt.node, rt.pins);
  }

  dsrOptout(nodeName: string): Promise<string[]> {
    const rt = this.node(nodeName);
    return readDsrOptout(rt.node, rt.pins);
  }

  mapUsage(nodeName: string): Promise<MapUsage[]> {
    const rt = this.node(nodeName);
    return readMapUsage(rt.node, rt.pins);
  }

  programmedServices(nodeName: string): string[] {
    return [...this.node(nodeName).services];
  }

  attachedInterfaces(nodeName: string): string[] {
    return [...this.node(nodeName).attached.keys()].sort();
  }
}

/** The eBPF dataplane (mode `bpf`). */
export function createBpfDataplane(opts: BpfDataplaneOptions = {}): BpfDataplane {
  return new BpfDataplaneImpl(opts);
}
