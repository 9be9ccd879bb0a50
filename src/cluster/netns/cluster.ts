/**
 * The embedded netns cluster: nodes, clients and pods as network namespaces on this machine, the
 * embedded control plane realising Kubernetes objects, and a dataplane programmed from them.
 */
import { mkdir } from 'node:fs/promises';
import type { BpfDataplane } from '../../dataplane/bpf/index.ts';
import { createDataplane } from '../../dataplane/factory.ts';
import type { IptablesDataplane } from '../../dataplane/iptables/index.ts';
import {
  isKubeProxyLeftWarning,
  kubeProxyLeftWarning,
  mergeSwitchWarnings,
  planSwitch,
  type SwitchPlan,
  settleKubeProxyChains,
} from '../../dataplane/switch.ts';
import type {
  Dataplane,
  DataplaneContext,
  DataplaneMode,
  FelixSettings,
  Frontend,
} from '../../dataplane/types.ts';
import type { ClusterModel, NodeState, PodState } from '../../k8s/model.ts';
import { startMetricsServers, stopMetricsServers } from '../../metrics/process.ts';
import { type RunOptions, type RunResult, run } from '../../sys/exec.ts';
import type { AgentClient } from '../../workload/agent-client.ts';
import { startAgent } from '../../workload/agent-process.ts';
import type { ProbeRequest, ProbeResult, StreamRecord, StreamStartRequest } from '../../workload/types.ts';
import { onInterrupt } from '../cleanup.ts';
import { ControlPlane } from '../control-plane.ts';
import { runSteps } from '../steps.ts';
import type { ClientInfo, Cluster, NodeInfo, PodInfo, Topology } from '../types.ts';
import { newRunId, runBpffsDir, runCgroupDir } from './address-plan.ts';
import { createPods, infraSteps, removePods } from './infra.ts';
import { ipBatch, killAll } from './ip.ts';
import { planTopology, podInfo, vipRouteLine } from './plan.ts';
import { reap } from './reaper.ts';
import { loadState, type RunState, STATE_VERSION, saveState, stateDir } from './state.ts';

/** Echo ports every pod serves whatever its Services say (agnhost's and the netpol matrix's). */
export const DEFAULT_ECHO_PORTS: readonly number[] = [80, 81, 8080];

/** How to start a netns cluster. */
export interface NetnsClusterOptions {
  nodes?: number;
  clients?: number;
  runId?: string;
  /** Which dataplane programs services; default from the FelixConfiguration (`bpfEnabled`). */
  dataplane?: DataplaneMode;
  /** Settings to start from (a FelixConfiguration applied later overrides them). */
  settings?: Partial<FelixSettings>;
  /** Progress and warning lines. */
  log?: (line: string) => void;
  /** Keep running after this process exits (the CLI's `up`); otherwise Ctrl-C tears down. */
  persistent?: boolean;
}

type Place =
  | { kind: 'node'; info: NodeInfo }
  | { kind: 'client'; info: ClientInfo }
  | { kind: 'pod'; info: PodInfo };

/** A running netns cluster. */
export class NetnsCluster implements Cluster {
  readonly provider = 'netns' as const;
  readonly runId: string;
  private state: RunState;
  private control: ControlPlane;
  private dataplane: Dataplane;
  private readonly agents = new Map<string, AgentClient>();
  private readonly log: (line: string) => void;
  private unregister: () => void = () => {};
  private gone = false;

  private constructor(
    state: RunState,
    control: ControlPlane,
    dataplane: Dataplane,
    log: (line: string) => void,
  ) {
    this.runId = state.runId;
    this.state = state;
    this.control = control;
    this.dataplane = dataplane;
    this.log = log;
  }

  /** Brings up a new cluster; on any failure, everything already made is removed. */
  static async start(opts: NetnsClusterOptions = {}): Promise<NetnsCluster> {
    const runId = opts.runId ?? newRunId();
    const log = opts.log ?? (() => {});
    const topology = planTopology({ runId, nodes: opts.nodes ?? 3, clients: opts.clients ?? 1 });
    const control = ControlPlane.empty(opts.settings);
    const { settings, warnings } = control.settings();
    const mode: DataplaneMode = opts.dataplane ?? (settings.bpfEnabled ? 'bpf' : 'iptables');
    const state: RunState = {
      version: STATE_VERSION,
      runId,
      generation: 0,
      createdAt: new Date().toISOString(),
      topology,
      objects: control.toJSON(),
      model: undefined,
      dataplane: mode,
      settings,
      warnings,
      agents: {},
      routes: {},
      routeOverrides: {},
      syncErrors: [],
    };
    const cluster = new NetnsCluster(state, control, await createDataplane(mode), log);
    if (!opts.persistent) cluster.unregister = onInterrupt(() => cluster.down());
    try {
      await mkdir(`${stateDir(runId)}/agents`, { recursive: true });
      await runSteps(infraSteps(topology), log);
      await saveState(state);
      await cluster.dataplane.install(cluster.context());
      await cluster.startMetrics();
      await cluster.reconcile();
    } catch (err) {
      await cluster.down().catch((e: unknown) => log(`teardown after failed bring-up: ${String(e)}`));
      throw err;
    }
    return cluster;
  }

  /** Picks up a cluster an earlier process brought up. */
  static async attach(runId: string, log: (line: string) => void = () => {}): Promise<NetnsCluster> {
    const state = await loadState(runId);
    const control = ControlPlane.fromJSON(state.objects);
    const dataplane = await createDataplane(state.dataplane);
    const cluster = new NetnsCluster(state, control, dataplane, log);
    await dataplane.resume?.(cluster.context());
    return cluster;
  }

  /**
   * Several processes share a run (the CLI's commands, `dpconform run` and its suite workers):
   * before changing anything, pick up what another process saved since.
   */
  private async refresh(): Promise<void> {
    const onDisk = await loadState(this.runId);
    if (onDisk.generation === this.state.generation) return;
    this.state = onDisk;
    this.control = ControlPlane.fromJSON(onDisk.objects);
    for (const client of this.agents.values()) await client.close().catch(() => {});
    this.agents.clear();
    if (this.dataplane.mode !== onDisk.dataplane) this.dataplane = await createDataplane(onDisk.dataplane);
    // The dataplane's in-process view (ids, written chains) may be stale too.
    await this.dataplane.resume?.(this.context());
  }

  private context(): DataplaneContext {
    return {
      runId: this.runId,
      nodes: this.state.topology.nodes,
      settings: this.state.settings,
      bpffsDir: runBpffsDir(this.runId),
      cgroupDir: runCgroupDir(this.runId),
      log: this.log,
    };
  }

  topology(): Topology {
    return this.state.topology;
  }

  model(): ClusterModel {
    if (!this.state.model) throw new Error('the control plane has not reconciled yet');
    return this.state.model;
  }

  /** The dataplane that programs this cluster. */
  dataplaneMode(): DataplaneMode {
    return this.state.dataplane;
  }

  /** The settings in force and the warnings about fields this dataplane does not implement. */
  settings(): { settings: FelixSettings; warnings: string[] } {
    return { settings: this.state.settings, warnings: this.state.warnings };
  }

  /** Service frontends as the dataplane has them programmed on the nodes. */
  frontends(): Promise<Frontend[]> {
    return this.dataplane.listFrontends();
  }

  /** The eBPF dataplane's read side (maps, counters), or undefined when the cluster runs iptables. */
  bpf(): BpfDataplane | undefined {
    return this.dataplane.mode === 'bpf' ? (this.dataplane as BpfDataplane) : undefined;
  }

  /** Errors of the last sync (services that could not be programmed). */
  syncErrors(): string[] {
    return this.state.syncErrors;
  }

  async apply(source: string | object[]): Promise<void> {
    await this.refresh();
    await this.control.apply(source, this.nodeStates(), this.state.model);
    await this.reconcile();
  }

  async delete(source: string | object[]): Promise<void> {
    await this.refresh();
    await this.control.delete(source);
    await this.reconcile();
  }

  private nodeStates(): NodeState[] {
    return this.state.topology.nodes.map((n) => ({
      name: n.name,
      index: n.index,
      ip: n.ip,
      podCidr: n.podCidr,
    }));
  }

  /** Realises the control plane's view: pods, listeners, dataplane, routes; then saves the state. */
  private async reconcile(): Promise<void> {
    const { model, added, removed, errors } = this.control.reconcile(this.nodeStates(), this.state.model);
    for (const e of errors) this.log(`control plane: ${e}`);
    const t = this.state.topology;
    const removedInfo = removed.map((p) => podInfo(this.runId, p));
    await this.stopAgents(removedInfo.map(placeKeyOfPod));
    await removePods(removedInfo);
    const addedInfo = added.map((p) => podInfo(this.runId, p));
    t.pods = t.pods.filter((p) => !removedInfo.some((r) => r.netns === p.netns));
    t.pods.push(...addedInfo);
    this.state.model = model;
    this.state.objects = this.control.toJSON();
    await saveState(this.state);
    await createPods(t, addedInfo);
    await Promise.all(added.map((p) => this.startPodAgent(p, listenPorts(model, p))));
    await this.updateListeners(model, added);
    const { settings, warnings } = this.control.settings();
    this.state.warnings = mergeSwitchWarnings(warnings, this.state.warnings, this.state.dataplane, settings);
    if (JSON.stringify(settings) !== JSON.stringify(this.state.settings)) {
      const resized = mapSizeChanges(this.state.settings, settings);
      if (resized.length > 0 && settings.bpfEnabled) {
        // Maps cannot grow in place: new maps are made and the old state is not carried over.
        this.log(
          `map sizes changed (${resized.join(', ')}): the eBPF maps are re-created; conntrack and affinity entries are lost, established flows are re-balanced and may be reset`,
        );
      }
      // A FelixConfiguration changed: bpfEnabled picks the dataplane, the other fields are read
      // at install time, so the dataplane is put on again with the new settings.
      this.state.settings = settings;
      await this.reinstall(settings.bpfEnabled ? 'bpf' : 'iptables');
    }
    const report = await this.dataplane.sync(model);
    this.state.syncErrors = report.errors;
    for (const e of report.errors) this.log(`dataplane: ${e}`);
    await this.routeExternalIps(model);
    await saveState(this.state);
  }

  /**
   * Takes the current dataplane off the nodes and puts `mode` on, with the settings in force.
   * Between modes the new one is installed and programmed before the old one goes (see
   * {@link planSwitch}); then the eBPF side settles kube-proxy's chains.
   */
  private async reinstall(mode: DataplaneMode): Promise<void> {
    const plan = planSwitch(this.dataplane.mode, mode, this.state.settings);
    await stopMetricsServers(this.context());
    const old = this.dataplane;
    if (plan.order === 'break-before-make') await this.retire(old, plan);
    const next = await createDataplane(mode);
    await next.install(this.context());
    if (plan.order === 'make-before-break' && this.state.model) {
      const report = await next.sync(this.state.model);
      for (const e of report.errors) this.log(`dataplane: ${e}`);
    }
    this.dataplane = next;
    this.state.dataplane = mode;
    await saveState(this.state);
    if (plan.order === 'make-before-break') await this.retire(old, plan);
    const outcome = await settleKubeProxyChains(plan, this.state.topology.nodes);
    const removed = Object.values(outcome.removed).reduce((a, b) => a + b, 0);
    if (removed > 0) this.log(`bpfKubeProxyIptablesCleanupEnabled: removed ${removed} kube-proxy chains`);
    this.state.warnings = this.state.warnings.filter((w) => !isKubeProxyLeftWarning(w));
    if (outcome.leftOn.length > 0) {
      const warning = kubeProxyLeftWarning(outcome.leftOn);
      this.state.warnings.push(warning);
      this.log(`warning: ${warning}`);
    }
    await this.startMetrics();
  }

  /** Removes a dataplane being replaced; iptables leaves its service chains when the plan says so. */
  private async retire(old: Dataplane, plan: SwitchPlan): Promise<void> {
    if (old.mode === 'iptables') {
      await (old as IptablesDataplane).uninstall({ keepKubeProxyChains: plan.keepKubeProxyChains });
      return;
    }
    await old.uninstall();
  }

  /** Each node of an eBPF cluster serves Prometheus metrics read from its maps. */
  private async startMetrics(): Promise<void> {
    if (this.dataplane.mode === 'bpf') await startMetricsServers(this.context());
  }

  /**
   * Switches the cluster to another dataplane (the `bpfEnabled` switch): the old one is removed
   * completely, the new one installed and programmed from the same objects.
   */
  async switchDataplane(mode: DataplaneMode): Promise<void> {
    await this.refresh();
    this.control.patchFelix({ bpfEnabled: mode === 'bpf' });
    await this.reconcile();
  }

  /** Applies FelixConfiguration fields as a patch of `default` (the seed guide's `calicoctl patch`). */
  async patchFelix(fields: Partial<FelixSettings>): Promise<void> {
    await this.refresh();
    this.control.patchFelix(fields);
    await this.reconcile();
  }

  private async updateListeners(model: ClusterModel, fresh: readonly PodState[]): Promise<void> {
    await Promise.all(
      model.pods
        .filter((p) => !fresh.includes(p))
        .map(async (p) => (await this.agentFor(placeKeyOfPod(p))).listen(listenPorts(model, p))),
    );
  }

  private async startPodAgent(pod: PodState, ports: number[]): Promise<void> {
    const info = podInfo(this.runId, pod);
    const key = placeKeyOfPod(info);
    const started = await startAgent({
      netns: info.netns,
      name: pod.name,
      socketPath: `${stateDir(this.runId)}/agents/${pod.hostIface}.sock`,
      ports,
      logFile: `${stateDir(this.runId)}/agents/${pod.hostIface}.log`,
    });
    this.state.agents[key] = started.pid;
    this.agents.set(key, started.client);
  }

  private async stopAgents(keys: readonly string[]): Promise<void> {
    const pids = keys.map((k) => this.state.agents[k]).filter((p): p is number => p !== undefined);
    for (const k of keys) {
      await this.agents.get(k)?.close();
      this.agents.delete(k);
      delete this.state.agents[k];
    }
    await killAll(pids);
  }

  /** Routes every LoadBalancer VIP and external IP on the clients via the nodes that advertise it. */
  private async routeExternalIps(model: ClusterModel): Promise<void> {
    const t = this.state.topology;
    const wanted: Record<string, string[]> = {};
    for (const svc of model.services) {
      const ips = [...svc.externalIPs, ...(svc.loadBalancerIP ? [svc.loadBalancerIP] : [])];
      if (ips.length === 0) continue;
      const eps = model.endpoints.find((e) => e.namespace === svc.namespace && e.serviceName === svc.name);
      const local = new Set(
        eps?.ports.flatMap((p) => p.endpoints.filter((e) => e.ready).map((e) => e.nodeName)),
      );
      const via = svc.externalTrafficPolicy === 'Local' ? t.nodes.filter((n) => local.has(n.name)) : t.nodes;
      for (const ip of ips) wanted[ip] = this.state.routeOverrides[ip] ?? via.map((n) => n.name);
    }
    const lines: string[] = [];
    for (const ip of Object.keys(this.state.routes)) if (!(ip in wanted)) lines.push(`route del ${ip}/32`);
    for (const [ip, names] of Object.entries(wanted)) {
      if (JSON.stringify(this.state.routes[ip]) === JSON.stringify(names)) continue;
      lines.push(
        vipRouteLine(
          ip,
          names.map((n) => this.node(n)),
        ),
      );
    }
    await Promise.all(t.clients.map((c) => ipBatch(c.netns, lines)));
    this.state.routes = wanted;
  }

  /**
   * Pins an external IP or VIP to enter the cluster through the given nodes (as a BGP peer that
   * prefers them would); `undefined` goes back to what the nodes advertise.
   */
  async routeVia(ip: string, nodeNames: string[] | undefined): Promise<void> {
    await this.refresh();
    if (nodeNames) {
      for (const n of nodeNames) this.node(n);
      this.state.routeOverrides[ip] = nodeNames;
    } else {
      delete this.state.routeOverrides[ip];
    }
    await this.routeExternalIps(this.model());
    await saveState(this.state);
  }

  private node(name: string): NodeInfo {
    const n = this.state.topology.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node named ${name}`);
    return n;
  }

  private place(name: string): Place {
    const t = this.state.topology;
    const node = t.nodes.find((n) => n.name === name);
    if (node) return { kind: 'node', info: node };
    const client = t.clients.find((c) => c.name === name);
    if (client) return { kind: 'client', info: client };
    const pods = t.pods.filter((p) => placeKeyOfPod(p) === name || p.name === name);
    if (pods.length === 1) return { kind: 'pod', info: pods[0]! };
    if (pods.length > 1) throw new Error(`pod name ${name} is ambiguous: say namespace/name`);
    const known = [
      ...t.nodes.map((n) => n.name),
      ...t.clients.map((c) => c.name),
      ...t.pods.map(placeKeyOfPod),
    ];
    throw new Error(`no node, client or pod named ${name} (known: ${known.join(', ')})`);
  }

  /** The network namespace of a node, client or pod. */
  netnsOf(name: string): string {
    return this.place(name).info.netns;
  }

  captureSpec(
    place: string,
    iface: string,
    filter?: string,
  ): { netns: string; iface: string; label: string; filter?: string } {
    return { netns: this.netnsOf(place), iface, label: place, ...(filter ? { filter } : {}) };
  }

  async exec(place: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(argv, { ...opts, netns: this.netnsOf(place) });
  }

  private async agentFor(key: string): Promise<AgentClient> {
    const known = this.agents.get(key);
    if (known) return known;
    const place = this.place(key);
    const id = place.kind === 'pod' ? place.info.hostIface : place.info.name;
    const socketPath = `${stateDir(this.runId)}/agents/${id}.sock`;
    const pid = this.state.agents[key];
    let client: AgentClient;
    if (pid !== undefined && processAlive(pid)) {
      client = await connectAgent(socketPath);
    } else {
      const started = await startAgent({
        netns: place.info.netns,
        name: place.info.name,
        socketPath,
        ports: [],
        ...(place.kind === 'node' ? { cgroup: `${runCgroupDir(this.runId)}/${place.info.name}` } : {}),
        logFile: `${stateDir(this.runId)}/agents/${id}.log`,
      });
      this.state.agents[key] = started.pid;
      await saveState(this.state);
      client = started.client;
    }
    this.agents.set(key, client);
    return client;
  }

  async probe(from: string, request: ProbeRequest): Promise<ProbeResult> {
    return (await this.agentOf(from)).probe(request);
  }

  /** Many probes from one place at once (reachability matrices, benchmarks). */
  async probes(from: string, requests: ProbeRequest[], concurrency = 16): Promise<ProbeResult[]> {
    return (await this.agentOf(from)).probes(requests, concurrency);
  }

  /**
   * Opens a long-lived HTTP connection from a node, pod or client that sends a request every
   * `intervalMs` (the agent's stream), to watch an established connection across a change.
   */
  async streamStart(from: string, request: StreamStartRequest): Promise<StreamRecord> {
    return (await this.agentOf(from)).streamStart(request);
  }

  /** What a stream opened with {@link streamStart} has recorded so far. */
  async streamGet(from: string, id: string): Promise<StreamRecord> {
    return (await this.agentOf(from)).streamGet(id);
  }

  /** Stops a stream and returns its final record. */
  async streamStop(from: string, id: string): Promise<StreamRecord> {
    return (await this.agentOf(from)).streamStop(id);
  }

  private agentOf(from: string): Promise<AgentClient> {
    const place = this.place(from);
    return this.agentFor(place.kind === 'pod' ? placeKeyOfPod(place.info) : place.info.name);
  }

  async down(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    this.unregister();
    // Another process may have added agents or switched the dataplane; a run never saved has nothing to read.
    await this.refresh().catch(() => {});
    for (const c of this.agents.values()) await c.close().catch(() => {});
    this.agents.clear();
    await killAll(Object.values(this.state.agents));
    await stopMetricsServers(this.context()).catch(() => {});
    await this.dataplane.uninstall().catch((e: unknown) => this.log(`dataplane uninstall: ${String(e)}`));
    // The reaper removes namespaces, pins, cgroups and the state directory of this run, whatever
    // stage the bring-up reached.
    await reap(this.runId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

/** The `bpfMapSize*` fields that differ between two settings, as `field old -> new`. */
export function mapSizeChanges(before: FelixSettings, after: FelixSettings): string[] {
  const fields = [
    'bpfMapSizeNATFrontend',
    'bpfMapSizeNATBackend',
    'bpfMapSizeNATAffinity',
    'bpfMapSizeRoute',
    'bpfMapSizeConntrack',
  ] as const;
  return fields.filter((f) => before[f] !== after[f]).map((f) => `${f} ${before[f]} -> ${after[f]}`);
}

/** A pod's place key: `namespace/name`. */
export function placeKeyOfPod(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

/** Ports a pod's echo server listens on: the defaults, its container ports, and every port it backs. */
export function listenPorts(model: ClusterModel, pod: PodState): number[] {
  const ports = new Set<number>([...DEFAULT_ECHO_PORTS, ...pod.ports.map((p) => p.containerPort)]);
  for (const eps of model.endpoints) {
    if (eps.namespace !== pod.namespace) continue;
    for (const port of eps.ports) {
      if (port.endpoints.some((e) => e.podName === pod.name)) ports.add(port.port);
    }
  }
  return [...ports].sort((a, b) => a - b);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function connectAgent(socketPath: string): Promise<AgentClient> {
  const { AgentClient } = await import('../../workload/agent-client.ts');
  const client = new AgentClient(socketPath);
  await client.ready();
  return client;
}
