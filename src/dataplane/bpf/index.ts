/**
 * The eBPF dataplane (mode `bpf`): builds bpf/ from source, loads one copy per node with its own
 * pinned maps, attaches the tc programs and the connect-time load balancer, and programs the
 * maps from the cluster model. Also the read side the suites use: maps, counters, usage.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeInfo } from '../../cluster/types.ts';
import type { ClusterModel } from '../../k8s/model.ts';
import { compilePolicy, policyInputsFromModel } from '../../policy/compile.ts';
import type { PodPolicy } from '../../policy/types.ts';
import { pathExists as exists } from '../../sys/fs.ts';
import type { Dataplane, DataplaneContext, Frontend, SyncReport } from '../types.ts';
import {
  attachCtlb,
  attachTc,
  cgroupPrograms,
  detachCtlb,
  detachTc,
  ensureCgroup,
  isDataIface,
  isWorkloadIface,
  removeCgroup,
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
import { CFG_FLAG, MAP, PROG, VXLAN_DEVICE } from './layout.ts';
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

/** Above this fill ratio a NAT or route map is reported in the log at every sync. */
export const MAP_USAGE_WARN = 0.8;

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
  info: NodeInfo;
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
  cgroup: string;
  createdCgroup: boolean;
  ctlb: boolean;
}

/** Rebuilds a shadow from what a map really holds (after a failed batch). */
async function shadowFromMap(pin: string): Promise<Shadow> {
  const s: Shadow = new Map();
  for (const e of await dumpMap(pin)) s.set(keyId(e.key), { value: toHexWords(e.value), owner: '?' });
  return s;
}

/** The shadow of a map an older object may not have (empty then). */
async function shadowIfPinned(pin: string): Promise<Shadow> {
  return (await exists(pin)) ? shadowFromMap(pin) : new Map();
}

class BpfDataplaneImpl implements BpfDataplane {
  readonly mode = 'bpf' as const;
  private readonly opts: BpfDataplaneOptions;
  private ctx: DataplaneContext | undefined;
  private readonly nodes = new Map<string, NodeRuntime>();
  private readonly ids = new ServiceIds();
  private createdCgroupRoot = false;

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
      await mkdir(ctx.bpffsDir, { recursive: true });
      this.createdCgroupRoot = await ensureCgroup(ctx.cgroupDir);
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
    info: NodeInfo,
    object: string,
    pattern: RegExp,
  ): Promise<void> {
    const pins = nodePins(ctx.bpffsDir, info.name);
    await rm(pins.root, { recursive: true, force: true });
    await mkdir(pins.progDir, { recursive: true });
    await mkdir(pins.mapDir, { recursive: true });
    const rt: NodeRuntime = {
      info,
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
      cgroup: join(ctx.cgroupDir, info.name),
      createdCgroup: false,
      ctlb: false,
    };
    this.nodes.set(info.name, rt);
    await loadAll(object, pins.progDir, pins.mapDir);
    rt.vxIfindex = await ensureVxlan(info.netns);
    // The opt-out list is in place before the DSR flag can take effect.
    await this.syncDsrOptout(rt);
    await writeConfig(pins, this.nodeConfig(ctx, rt));
    const links = await listLinks(info.netns);
    const list: TcAttachment[] = [{ iface: VXLAN_DEVICE, ingress: progPin(pins, PROG.vxlanIngress) }];
    for (const l of links) {
      if (!isDataIface(l.name, pattern)) continue;
      list.push({
        iface: l.name,
        ingress: progPin(pins, PROG.hostIngress),
        egress: progPin(pins, PROG.hostEgress),
      });
    }
    const failed = await attachTc(info.netns, list);
    if (failed.length > 0)
      throw new Error(`could not attach tc programs in ${info.netns} to ${failed.join(', ')}`);
    for (const a of list)
      rt.attached.set(a.iface, links.find((l) => l.name === a.iface)?.ifindex ?? rt.vxIfindex);
    rt.createdCgroup = await ensureCgroup(rt.cgroup);
    if (ctx.settings.bpfConnectTimeLoadBalancingEnabled) {
      rt.ctlb = true;
      await attachCtlb(rt.cgroup, pins);
    }
  }

  async resume(ctx: DataplaneContext): Promise<void> {
    if (!HOST_LITTLE_ENDIAN)
      throw new Error('the eBPF dataplane encodes host-order fields little-endian only');
    this.ctx = ctx;
    this.nodes.clear();
    // Cgroup directories this process cannot prove it created are left in place by uninstall.
    this.createdCgroupRoot = false;
    await Promise.all(ctx.nodes.map((n) => this.resumeNode(ctx, n)));
    // The settings may have changed since install: bring the opt-out list in line now.
    await Promise.all([...this.nodes.values()].map((rt) => this.syncDsrOptout(rt)));
    for (const e of this.dsrOptoutErrors()) ctx.log(`bpf: ${e}`);
  }

  private async resumeNode(ctx: DataplaneContext, info: NodeInfo): Promise<void> {
    const pins = nodePins(ctx.bpffsDir, info.name);
    if (!(await exists(mapPin(pins, MAP.natFrontend)))) {
      throw new Error(`bpf dataplane: nothing installed for node ${info.name} under ${pins.root}`);
    }
    const links = await listLinks(info.netns);
    const rt: NodeRuntime = {
      info,
      pins,
      vxIfindex: links.find((l) => l.name === VXLAN_DEVICE)?.ifindex ?? 0,
      attached: new Map(),
      frontends: await shadowFromMap(mapPin(pins, MAP.natFrontend)),
      backends: await shadowFromMap(mapPin(pins, MAP.natBackend)),
      routes: await shadowFromMap(mapPin(pins, MAP.routes)),
      dsrOptout: (await exists(mapPin(pins, MAP.dsrOptout)))
        ? await shadowFromMap(mapPin(pins, MAP.dsrOptout))
        : new Map(),
      policyEndpoints: await shadowIfPinned(mapPin(pins, MAP.policyEndpoints)),
      policyRules: await shadowIfPinned(mapPin(pins, MAP.policyRules)),
      services: [],
      cgroup: join(ctx.cgroupDir, info.name),
      createdCgroup: false,
      ctlb: (await cgroupPrograms(join(ctx.cgroupDir, info.name))).includes(PROG.connect4),
    };
    for (const l of links) {
      const progs = [
        ...(await tcPrograms(info.netns, l.name, 'ingress')),
        ...(await tcPrograms(info.netns, l.name, 'egress')),
      ];
      if (progs.some((p) => p.startsWith('dpc_'))) rt.attached.set(l.name, l.ifindex);
    }
    // Owners are unknown, so new ids go above every id in use: the first sync then moves each
    // service to a fresh id in the safe order (backends, frontends, deletions).
    for (const v of rt.frontends.values())
      this.ids.reserveThrough(decodeFrontendValue(fromHexWords(v.value)).svcId);
    for (const k of rt.backends.keys()) this.ids.reserveThrough(decodeBackendKey(fromHexWords(k)).svcId);
    this.nodes.set(info.name, rt);
  }

  async listFrontends(): Promise<Frontend[]> {
    const out: Frontend[] = [];
    for (const rt of this.nodes.values()) {
      for (const e of await readFrontends(rt.pins)) {
        const nodeport = e.key.addr === '0.0.0.0';
        out.push({
          node: rt.info.name,
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
      nodeIp: rt.info.ip,
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
    if (!(await exists(pin)))
      throw new Error(`bpf dataplane: ${pin} is missing; the installed object predates bpfDSROptoutCIDRs`);
    try {
      await runBatch(ops);
    } catch (err) {
      rt.dsrOptout = await shadowFromMap(pin);
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
    const plan = planPolicy(compiled, rt.info.name, ifindexes);
    const eps = diffMap(epPin, rt.policyEndpoints, plan.endpoints);
    const rules = diffMap(rulePin, rt.policyRules, plan.rules);
    const ops = [...rules.upserts, ...eps.upserts, ...eps.deletes, ...rules.deletes];
    if (ops.length === 0) return plan.errors;
    if (!(await exists(epPin)))
      throw new Error(`bpf dataplane: ${epPin} is missing; the installed object predates policy maps`);
    try {
      await runBatch(ops);
    } catch (err) {
      rt.policyEndpoints = await shadowFromMap(epPin);
      rt.policyRules = await shadowFromMap(rulePin);
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
    const netns = rt.info.netns;
    const links = await listLinks(netns);
    const ifindexes = new Map(links.map((l) => [l.name, l.ifindex]));
    const plan = planNode(
      model,
      { name: rt.info.name, ip: rt.info.ip, podCidr: rt.info.podCidr, ifindexes },
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
      await runBatch(ops);
    } catch (err) {
      // Part of the batch went in: learn what the maps really hold before giving up.
      rt.frontends = await shadowFromMap(fePin);
      rt.backends = await shadowFromMap(bePin);
      rt.routes = await shadowFromMap(rtPin);
      throw err;
    }
    rt.frontends = shadowOf(plan.frontends);
    rt.backends = shadowOf(plan.backends);
    rt.routes = shadowOf(plan.routes);
    rt.services = plan.services;
    await this.syncDsrOptout(rt);
    const policyErrors = await this.syncPolicy(rt, compiled, ifindexes);
    await syncLocalRoutes(netns, plan.localCidrs);

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
    const failed = new Set(await attachTc(netns, list));
    for (const a of list) if (!failed.has(a.iface)) rt.attached.set(a.iface, ifindexes.get(a.iface) ?? 0);
    const stillThere =
      failed.size > 0 ? new Set((await listLinks(netns)).map((l) => l.name)) : new Set<string>();
    const errors = [...plan.errors, ...policyErrors];
    for (const f of failed) {
      // A veth that vanished meanwhile was a pod going away, not a failure.
      if (stillThere.has(f))
        errors.push(`interface ${f} on node ${rt.info.name}: could not attach tc programs`);
    }
    for (const name of [...rt.attached.keys()]) if (!ifindexes.has(name)) rt.attached.delete(name);
    const fill: [string, number, number][] = [
      [MAP.natFrontend, plan.frontends.size, limits.natFrontend],
      [MAP.natBackend, plan.backends.size, limits.natBackend],
      [MAP.routes, plan.routes.size, limits.route],
    ];
    for (const [map, used, max] of fill) {
      if (used > MAP_USAGE_WARN * max) {
        const pct = Math.round((100 * used) / max);
        this.requireCtx().log(`bpf: ${map} on node ${rt.info.name} is ${pct}% full (${used}/${max})`);
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
      [...this.nodes.values()].map(async (rt) => {
        const netns = rt.info.netns;
        if (rt.ctlb) await step(`${rt.info.name} cgroup detach`, () => detachCtlb(rt.cgroup, rt.pins));
        if (rt.createdCgroup) await step(`${rt.info.name} cgroup`, () => removeCgroup(rt.cgroup));
        if (!(await exists(`/run/netns/${netns}`))) return;
        await step(`${rt.info.name} tc`, () => detachTc(netns, [...rt.attached.keys()]));
        await step(`${rt.info.name} vx`, () => removeVxlan(netns));
        await step(`${rt.info.name} local routes`, () => syncLocalRoutes(netns, []));
      }),
    );
    await step('bpffs', () => rm(ctx.bpffsDir, { recursive: true, force: true }));
    if (this.createdCgroupRoot) await step('cgroup root', () => removeCgroup(ctx.cgroupDir));
    this.nodes.clear();
    if (failures.length > 0) throw new Error(`bpf uninstall left work undone:\n${failures.join('\n')}`);
  }

  pins(nodeName: string): NodePins {
    return this.node(nodeName).pins;
  }

  async counters(nodeName: string): Promise<NamedCounter[]> {
    const rt = this.node(nodeName);
    const names = new Map((await listLinks(rt.info.netns)).map((l) => [l.ifindex, l.name]));
    return (await readCounters(rt.pins)).map((c) => ({
      ...c,
      iface: names.get(c.ifindex) ?? `if${c.ifindex}`,
    }));
  }

  frontends(nodeName: string) {
    return readFrontends(this.node(nodeName).pins);
  }

  backends(nodeName: string) {
    return readBackends(this.node(nodeName).pins);
  }

  conntrack(nodeName: string) {
    return readConntrack(this.node(nodeName).pins);
  }

  routes(nodeName: string) {
    return readRoutes(this.node(nodeName).pins);
  }

  config(nodeName: string) {
    return readConfig(this.node(nodeName).pins);
  }

  dsrOptout(nodeName: string): Promise<string[]> {
    return readDsrOptout(this.node(nodeName).pins);
  }

  mapUsage(nodeName: string): Promise<MapUsage[]> {
    return readMapUsage(this.node(nodeName).pins);
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
