/**
 * The eBPF dataplane (mode `bpf`): builds bpf/ from source, loads one copy per node with its own
 * pinned maps, attaches the tc programs and the connect-time load balancer, and programs the
 * maps from the cluster model. Also the read side the suites use: maps, counters, usage.
 */
import { compileIfacePattern } from '../../k8s/felix.ts';
import type { FelixSettings } from '../../k8s/felix-settings.ts';
import type { ClusterModel } from '../../k8s/model.ts';
import type { NodePlace } from '../../node/place.ts';
import { compilePolicy, policyInputsFromModel } from '../../policy/compile.ts';
import { compileHostPolicy, hostPolicyInputsFromModel } from '../../policy/host.ts';
import type { PodPolicy } from '../../policy/types.ts';
import { placeAlive } from '../place-alive.ts';
import type { Dataplane, DataplaneContext, Frontend, SyncReport, UpdateOutcome } from '../types.ts';
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
import { type BatchOp, dumpMap, loadAll, type ProgRunOptions, progRun, runBatch } from './bpftool.ts';
import { type BpfMapSizes, buildBpf, mapSizesFrom } from './build.ts';
import { diffMap, orderNodeOps, ownersOf, releasedOwners, type Shadow, shadowOf } from './diff.ts';
import { planDsrOptout } from './dsr-optout.ts';
import {
  type CtKey,
  decodeBackendKey,
  decodeCounterKey,
  decodeFrontendValue,
  fromHexWords,
  HOST_LITTLE_ENDIAN,
  type LogRecord,
  type NodeConfig,
  toHexWords,
} from './encoding.ts';
import { HEP_MAP, orderHostPolicyOps, planHostPolicy } from './host-policy-plan.ts';
import {
  CFG_FLAG,
  LOG_LEVEL,
  MAP,
  MAP_USAGE_WARN_RATIO,
  PROG,
  PROG_PREFIX,
  VXLAN_DEVICE,
  VXLAN_OVERHEAD,
} from './layout.ts';
import { planUpdate } from './live.ts';
import {
  type CounterRow,
  deleteConntrack,
  type MapUsage,
  mapPin,
  type NodePins,
  nodePins,
  progPin,
  readAffinity,
  readBackends,
  readConfig,
  readConntrack,
  readCounters,
  readDsrOptout,
  readFrontends,
  readLog,
  readMapUsage,
  readRoutes,
  writeConfig,
} from './maps.ts';
import {
  ensureVxlan,
  type Link,
  listLinks,
  removeVxlan,
  syncLocalRoutes,
  writeSysctl,
} from './node-kernel.ts';
import { buildPacket, type PacketSpec, type ParsedPacket, parsePacket } from './packet.ts';
import { keyId, type PlanLimits, planNode, ServiceIds } from './plan.ts';
import { planPolicy } from './policy-plan.ts';

export { BpfCompileError, buildBpf, mapSizesFrom } from './build.ts';
export type { CounterRow, MapUsage, NodePins } from './maps.ts';

/** One record of the programs' log, with the CPU whose ring held it. */
export type BpfLogRecord = LogRecord & { cpu: number };

/** Conntrack idle timeouts the nodes are configured with (seconds). */
export const CT_TIMEOUTS = { tcp: 3600, udp: 60, affinity: 10800 } as const;

/** The loopback device, where the host NAT hook goes (it has this index in every network namespace). */
const LOOPBACK = 'lo';
/** Lets a reply handed to the stack through lo have one of the node's addresses as its source. */
const LO_ACCEPT_LOCAL = 'net.ipv4.conf.lo.accept_local';

/** The maps whose size a FelixConfiguration field sets, by the field's key in BpfMapSizes. */
const SIZED_MAPS: Readonly<Record<keyof BpfMapSizes, string>> = {
  natFrontend: MAP.natFrontend,
  natBackend: MAP.natBackend,
  natAffinity: MAP.natAffinity,
  route: MAP.routes,
  conntrack: MAP.conntrack,
};

/** What one test run of a program (BPF_PROG_TEST_RUN) did. */
export interface TestRun {
  /** The program's return code (TC_ACT_*) on the last run. */
  retval: number;
  /** Time per run, averaged over the runs of the call. */
  durationNs: number;
  /** The packet as the last run left it. */
  packet: ParsedPacket;
}

/** How a test run is made: how many runs the kernel makes back to back, and on which CPU. */
export type TestRunOptions = Pick<ProgRunOptions, 'repeat' | 'cpu'>;

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
  /** The node's sessionAffinity ClientIP entries: (service id, client) -> backend ordinal. */
  affinity(nodeName: string): ReturnType<typeof readAffinity>;
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
  /** The programs' log of a node (bpfLogLevel), oldest first; `since` in CLOCK_MONOTONIC ns. */
  log(nodeName: string, since?: bigint): ReturnType<typeof readLog>;
  /**
   * Runs one of a node's pinned programs (a PROG name) on a crafted frame with BPF_PROG_TEST_RUN,
   * once or `repeat` times back to back on the same buffer. The runs see the node's maps and
   * FIB and write to its maps (conntrack, counters) as real packets would; nothing is sent.
   */
  testRun(nodeName: string, prog: string, packet: PacketSpec, opts?: TestRunOptions): Promise<TestRun>;
  /** Deletes a node's conntrack entries under these keys (a test run's); returns how many there were. */
  forgetConntrack(nodeName: string, keys: readonly CtKey[]): Promise<number>;
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
  /** The host endpoint maps as last programmed. */
  hostPolicy: HostPolicyShadows;
  services: string[];
  /** The connect-time load balancer is attached to the node's cgroup. */
  ctlb: boolean;
  /** The largest packet the tunnel carries whole: the node interface's MTU less the encapsulation. */
  tunnelMtu: number;
}

/** `cali_v4_hep`, `cali_v4_hep_rul` and `cali_v4_hep_net` as last programmed. */
interface HostPolicyShadows {
  endpoints: Shadow;
  rules: Shadow;
  nets: Shadow;
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
    const pattern = compileIfacePattern(s.bpfDataIfacePattern);
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
      hostPolicy: { endpoints: new Map(), rules: new Map(), nets: new Map() },
      services: [],
      ctlb: false,
      tunnelMtu: 0,
    };
    this.nodes.set(node.name, rt);
    await loadAll(node, object, pins.progDir, pins.mapDir);
    const links = await listLinks(node);
    // The tunnel's packets leave through the node's interface: its MTU bounds the outer packet.
    rt.tunnelMtu = (links.find((l) => l.name === node.iface)?.mtu ?? 1500) - VXLAN_OVERHEAD;
    rt.vxIfindex = await ensureVxlan(node, rt.tunnelMtu);
    // The opt-out list is in place before the DSR flag can take effect.
    await this.syncDsrOptout(rt);
    await writeConfig(node, pins, this.nodeConfig(ctx, rt));
    await writeSysctl(node, LO_ACCEPT_LOCAL, '1');
    const list: TcAttachment[] = [
      { iface: VXLAN_DEVICE, ingress: progPin(pins, PROG.vxlanIngress) },
      { iface: LOOPBACK, ingress: progPin(pins, PROG.loopbackIngress) },
      ...dataAttachments(pins, links, pattern),
    ];
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
      hostPolicy: {
        endpoints: await shadowIfPinned(node, mapPin(pins, HEP_MAP.endpoints)),
        rules: await shadowIfPinned(node, mapPin(pins, HEP_MAP.rules)),
        nets: await shadowIfPinned(node, mapPin(pins, HEP_MAP.nets)),
      },
      services: [],
      ctlb: (await cgroupPrograms(node, node.cgroupDir)).includes(PROG.connect4),
      tunnelMtu: (await readConfig(node, pins))?.tunnelMtu ?? 0,
    };
    for (const l of links) {
      const progs = [
        ...(await tcPrograms(node, l.name, 'ingress')),
        ...(await tcPrograms(node, l.name, 'egress')),
      ];
      if (progs.some((p) => p.startsWith(PROG_PREFIX))) rt.attached.set(l.name, l.ifindex);
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
    const s = ctx.settings;
    const [psnatLo, psnatHi] = s.bpfPSNATPorts.split('-').map(Number);
    return {
      nodeIp: rt.node.ip,
      vxIfindex: rt.vxIfindex,
      flags:
        (s.bpfExternalServiceMode === 'DSR' ? CFG_FLAG.dsr : 0) |
        (s.bpfHostNetworkedNATWithoutCTLB === 'Enabled' ? CFG_FLAG.hostNat : 0),
      tcpTimeoutS: CT_TIMEOUTS.tcp,
      udpTimeoutS: CT_TIMEOUTS.udp,
      affinityTimeoutS: CT_TIMEOUTS.affinity,
      tunnelMtu: rt.tunnelMtu,
      psnatLo: psnatLo ?? 0,
      psnatHi: psnatHi ?? psnatLo ?? 0,
      logLevel: LOG_LEVEL[s.bpfLogLevel],
    };
  }

  /**
   * Takes new settings in place where a running dataplane can (see live.ts): the config record,
   * the opt-out list, the cgroup programs, the interfaces the programs are on, growing maps.
   * Established flows keep their conntrack entries throughout.
   */
  async update(settings: FelixSettings): Promise<UpdateOutcome> {
    const ctx = this.requireCtx();
    const plan = planUpdate(ctx.settings, settings);
    if (plan.reinstall.length > 0) return { applied: false, reasons: plan.reinstall, changes: plan.changes };
    const before = ctx.settings;
    this.ctx = { ...ctx, settings };
    if (plan.grow) await this.grow(before, plan.grow);
    const pattern = compileIfacePattern(settings.bpfDataIfacePattern);
    await Promise.all(
      [...this.nodes.values()].map(async (rt) => {
        // Opt-outs before the flag that makes them matter, as at install.
        if (plan.dsrOptout) await this.syncDsrOptout(rt);
        if (plan.config) await writeConfig(rt.node, rt.pins, this.nodeConfig(this.requireCtx(), rt));
        if (plan.ctlb === 'attach' && !rt.ctlb) {
          rt.ctlb = true;
          await attachCtlb(rt.node, rt.pins);
        } else if (plan.ctlb === 'detach' && rt.ctlb) {
          await detachCtlb(rt.node, rt.pins);
          rt.ctlb = false;
        }
        if (plan.pattern) await this.syncDataIfaces(rt, await listLinks(rt.node), pattern);
      }),
    );
    for (const e of this.dsrOptoutErrors()) ctx.log(`bpf: ${e}`);
    return { applied: true, reasons: [], changes: plan.changes };
  }

  /**
   * Puts the data interface programs exactly on the interfaces that match the pattern: on the
   * ones that match and lack them, off the ones that no longer match. Returns the interfaces it
   * could not attach to.
   */
  private async syncDataIfaces(rt: NodeRuntime, links: readonly Link[], pattern: RegExp): Promise<string[]> {
    const present = new Set(links.map((l) => l.name));
    const stale = [...rt.attached.keys()].filter(
      (name) => present.has(name) && isDataCandidate(name) && !isDataIface(name, pattern),
    );
    if (stale.length > 0) await detachTc(rt.node, stale);
    for (const name of stale) rt.attached.delete(name);
    const list = dataAttachments(rt.pins, links, pattern).filter(
      (a) => rt.attached.get(a.iface) !== links.find((l) => l.name === a.iface)?.ifindex,
    );
    const failed = new Set(await attachTc(rt.node, list));
    for (const a of list) {
      if (!failed.has(a.iface)) rt.attached.set(a.iface, links.find((l) => l.name === a.iface)?.ifindex ?? 0);
    }
    return [...failed];
  }

  /**
   * Grows maps in place: a new object with the new sizes is loaded next to the running one,
   * reusing every map whose size stays; the entries of the maps that grow are copied over; then
   * each hook is switched to the new program (tc filter replace and a cgroup attach replace the
   * old program atomically) and the new pins take the old ones' place. A flow that creates a
   * conntrack entry between the copy and the switch re-creates it on its next packet.
   */
  private async grow(before: FelixSettings, sizes: BpfMapSizes): Promise<void> {
    const build = await buildBpf({
      sizes,
      ...(this.opts.sourceDir ? { sourceDir: this.opts.sourceDir } : {}),
      ...(this.opts.buildDir ? { outDir: this.opts.buildDir } : {}),
    });
    const object = build.objects.dpc;
    if (!object) throw new Error(`bpf build produced no dpc.o in ${build.dir}`);
    const old = mapSizesFrom(before);
    const resized = (Object.keys(SIZED_MAPS) as (keyof BpfMapSizes)[])
      .filter((k) => sizes[k] !== old[k])
      .map((k) => SIZED_MAPS[k]);
    await Promise.all([...this.nodes.values()].map((rt) => this.growNode(rt, object, resized)));
  }

  private async growNode(rt: NodeRuntime, object: string, resized: readonly string[]): Promise<void> {
    const node = rt.node;
    const next = nodePins(`${rt.pins.root}/next`);
    await node.fs.remove(next.root);
    await node.fs.mkdir(next.progDir);
    await node.fs.mkdir(next.mapDir);
    const reuse = Object.values(MAP)
      .filter((m) => !resized.includes(m))
      .map((m) => ({ name: m, pin: mapPin(rt.pins, m) }));
    try {
      await loadAll(node, object, next.progDir, next.mapDir, {}, reuse);
      for (const m of resized) {
        const ops: BatchOp[] = (await dumpMap(node, mapPin(rt.pins, m))).map((e) => ({
          op: 'update',
          pin: mapPin(next, m),
          key: e.key,
          value: e.value,
        }));
        await runBatch(node, ops);
      }
      // Interfaces that went since the last sync (a pod, a veth) have nothing to move.
      const present = new Set((await listLinks(node)).map((l) => l.name));
      for (const name of [...rt.attached.keys()]) if (!present.has(name)) rt.attached.delete(name);
      const list: TcAttachment[] = [...rt.attached.keys()].map((iface) => attachmentFor(next, iface));
      const failed = await attachTc(node, list);
      const still = new Set((await listLinks(node)).map((l) => l.name));
      const stuck = failed.filter((f) => still.has(f));
      if (stuck.length > 0)
        throw new Error(`could not move ${stuck.join(', ')} in ${node.where} to the grown maps`);
      for (const f of failed) rt.attached.delete(f);
      if (rt.ctlb) await attachCtlb(node, next);
    } catch (err) {
      await node.fs.remove(next.root).catch(() => {});
      throw err;
    }
    await node.fs.remove(rt.pins.progDir);
    await node.fs.remove(rt.pins.mapDir);
    await node.exec(['mv', next.progDir, rt.pins.progDir]);
    await node.exec(['mv', next.mapDir, rt.pins.mapDir]);
    await node.fs.rmdir(next.root);
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

  /**
   * Brings a node's host endpoint maps to the compiled policy, for the data interfaces it has
   * now; returns what could not be programmed.
   */
  private async syncHostPolicy(
    rt: NodeRuntime,
    model: ClusterModel,
    links: readonly { name: string; ifindex: number }[],
    pattern: RegExp,
  ): Promise<string[]> {
    const compiled = compileHostPolicy(hostPolicyInputsFromModel(model));
    const data = new Map(
      links
        .filter((l) => isDataCandidate(l.name) && isDataIface(l.name, pattern))
        .map((l) => [l.name, l.ifindex]),
    );
    const plan = planHostPolicy(compiled.endpoints, rt.node.name, data);
    const pins = {
      endpoints: mapPin(rt.pins, HEP_MAP.endpoints),
      rules: mapPin(rt.pins, HEP_MAP.rules),
      nets: mapPin(rt.pins, HEP_MAP.nets),
    };
    const ops = orderHostPolicyOps(
      diffMap(pins.endpoints, rt.hostPolicy.endpoints, plan.endpoints),
      diffMap(pins.rules, rt.hostPolicy.rules, plan.rules),
      diffMap(pins.nets, rt.hostPolicy.nets, plan.nets),
    );
    const errors = [...compiled.errors, ...plan.errors];
    if (ops.length === 0) return errors;
    if (!(await rt.node.fs.exists(pins.endpoints)))
      throw new Error(
        `bpf dataplane: ${pins.endpoints} is missing; the installed object predates host endpoint policy`,
      );
    try {
      await runBatch(rt.node, ops);
    } catch (err) {
      rt.hostPolicy = {
        endpoints: await shadowFromMap(rt.node, pins.endpoints),
        rules: await shadowFromMap(rt.node, pins.rules),
        nets: await shadowFromMap(rt.node, pins.nets),
      };
      throw err;
    }
    rt.hostPolicy = {
      endpoints: shadowOf(plan.endpoints),
      rules: shadowOf(plan.rules),
      nets: shadowOf(plan.nets),
    };
    return errors;
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

  async sync(written: ClusterModel): Promise<SyncReport> {
    const started = performance.now();
    const ctx = this.requireCtx();
    // bpfKubeProxyEndpointSlicesEnabled false: endpoints as the v1 Endpoints objects carry them.
    const model = ctx.settings.bpfKubeProxyEndpointSlicesEnabled
      ? written
      : { ...written, endpoints: written.legacyEndpoints ?? written.endpoints };
    const limits = this.limits();
    const pattern = compileIfacePattern(ctx.settings.bpfDataIfacePattern);
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
    policyErrors.push(...(await this.syncHostPolicy(rt, model, links, pattern)));
    await syncLocalRoutes(node, plan.localCidrs);

    // Programs go on new interfaces only after the routes and policy they check are in the maps.
    const list: TcAttachment[] = [];
    for (const l of links) {
      if (rt.attached.get(l.name) === l.ifindex) continue;
      if (isWorkloadIface(l.name)) list.push(attachmentFor(rt.pins, l.name));
    }
    const failed = new Set([
      ...(await attachTc(node, list)),
      ...(await this.syncDataIfaces(rt, links, pattern)),
    ]);
    for (const a of list) if (!failed.has(a.iface)) rt.attached.set(a.iface, ifindexes.get(a.iface) ?? 0);
    const stillThere =
      failed.size > 0 ? new Set((await listLinks(node)).map((l) => l.name)) : new Set<string>();
    const errors = [...plan.errors, ...policyErrors];
    for (const f of failed) {
      // A veth that vanished meanwhile was a pod going away, not a failure.
      if (stillThere.has(f)) errors.push(`interface ${f} on node ${node.name}: could not attach tc programs`);
    }
    for (const name of [...rt.attached.keys()]) if (!ifindexes.has(name)) rt.attached.delete(name);
    await reclaimCounters(node, rt.pins, new Set(links.map((l) => l.ifindex)));
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
          await step(`${node.name} lo`, () => writeSysctl(node, LO_ACCEPT_LOCAL, '0'));
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

  affinity(nodeName: string) {
    const rt = this.node(nodeName);
    return readAffinity(rt.node, rt.pins);
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

  log(nodeName: string, since?: bigint) {
    const rt = this.node(nodeName);
    return readLog(rt.node, rt.pins, since);
  }

  async testRun(
    nodeName: string,
    prog: string,
    packet: PacketSpec,
    opts: TestRunOptions = {},
  ): Promise<TestRun> {
    const rt = this.node(nodeName);
    const r = await progRun(rt.node, progPin(rt.pins, prog), buildPacket(packet), opts);
    return { retval: r.retval, durationNs: r.durationNs, packet: parsePacket(r.dataOut) };
  }

  forgetConntrack(nodeName: string, keys: readonly CtKey[]): Promise<number> {
    const rt = this.node(nodeName);
    return deleteConntrack(rt.node, rt.pins, keys);
  }
}

/** Interfaces the data interface pattern decides about: not ours, not lo, not a workload's. */
function isDataCandidate(name: string): boolean {
  return name !== VXLAN_DEVICE && name !== LOOPBACK && !isWorkloadIface(name);
}

/** The programs one of our interfaces carries, from the pins given. */
function attachmentFor(pins: NodePins, iface: string): TcAttachment {
  if (iface === VXLAN_DEVICE) return { iface, ingress: progPin(pins, PROG.vxlanIngress) };
  if (iface === LOOPBACK) return { iface, ingress: progPin(pins, PROG.loopbackIngress) };
  if (isWorkloadIface(iface))
    return {
      iface,
      ingress: progPin(pins, PROG.workloadIngress),
      egress: progPin(pins, PROG.workloadEgress),
    };
  return { iface, ingress: progPin(pins, PROG.hostIngress), egress: progPin(pins, PROG.hostEgress) };
}

/** The data interfaces among `links`, with their programs. */
function dataAttachments(pins: NodePins, links: readonly Link[], pattern: RegExp): TcAttachment[] {
  return links
    .filter((l) => isDataCandidate(l.name) && isDataIface(l.name, pattern))
    .map((l) => attachmentFor(pins, l.name));
}

/**
 * Deletes the counters of interfaces that are gone. The map has room for a fixed number of
 * (interface, hook, reason) entries and never evicts: without this, every pod a long-lived node
 * ever ran would keep its entries until the map filled and counting stopped.
 */
async function reclaimCounters(node: NodePlace, pins: NodePins, live: ReadonlySet<number>): Promise<void> {
  const pin = mapPin(pins, MAP.counters);
  const gone: BatchOp[] = (await dumpMap(node, pin))
    .filter((e) => !live.has(decodeCounterKey(e.key).ifindex))
    .map((e) => ({ op: 'delete', pin, key: e.key }));
  if (gone.length === 0) return;
  // A packet still in flight on a vanished interface can race a delete: the next sync gets it.
  await runBatch(node, gone).catch(() => undefined);
}

/** The eBPF dataplane (mode `bpf`). */
export function createBpfDataplane(opts: BpfDataplaneOptions = {}): BpfDataplane {
  return new BpfDataplaneImpl(opts);
}
