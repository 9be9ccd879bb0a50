/**
 * The provider-agnostic cluster: run state shared by several processes, the embedded control
 * plane realising Kubernetes objects, the dataplane installed, switched and programmed from them,
 * metrics servers and workload agents. It acts on nodes, pods and clients only through the places
 * its provider hands out.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BpfDataplane } from '../dataplane/bpf/index.ts';
import { startMetricsServers, stopMetricsServers } from '../dataplane/bpf/metrics/process.ts';
import { type AnyDataplane, createDataplane } from '../dataplane/factory.ts';
import { liveIds, readFootprint } from '../dataplane/footprint.ts';
import { readHostPolicyDrops } from '../dataplane/iptables/host-policy.ts';
import { readPolicyDrops } from '../dataplane/iptables/policy-counters.ts';
import {
  isKubeProxyLeftWarning,
  kubeProxyLeftWarning,
  mergeSwitchWarnings,
  planSwitch,
  type SwitchPlan,
  settleKubeProxyChains,
} from '../dataplane/switch.ts';
import type { DataplaneContext, Frontend } from '../dataplane/types.ts';
import { type DataplaneMode, type FelixSettings, mapSizeChanges } from '../k8s/felix-settings.ts';
import type { ClusterModel, NodeState, PodState } from '../k8s/model.ts';
import type { NodePlace, Place } from '../node/place.ts';
import type { CaptureSpec } from '../observe/capture.ts';
import { DEFAULT_METRICS_TARGET, type MetricsTarget, type Scrape, scrapeNode } from '../observe/scrape.ts';
import type { RunOptions, RunResult } from '../sys/exec.ts';
import { processAlive, stopProcesses } from '../sys/process.ts';
import { AgentClient } from '../workload/agent-client.ts';
import { startAgent } from '../workload/agent-process.ts';
import type { ProbeRequest, ProbeResult, StreamRecord, StreamStartRequest } from '../workload/types.ts';
import { Interrupted, interruptedBy, onInterrupt } from './cleanup.ts';
import { ControlPlane } from './control-plane.ts';
import type { ExternalRoute, Provider } from './provider.ts';
import { newRunId } from './run-id.ts';
import {
  type BpfSource,
  loadState,
  ownerHere,
  programName,
  type RunState,
  readOwner,
  removeState,
  runProcesses,
  STATE_VERSION,
  saveState,
  stateDir,
  writeOwner,
} from './state.ts';
import { runSteps, type Step } from './steps.ts';
import type { Cluster, PodInfo, ProviderName, Topology } from './types.ts';

/** Echo ports every pod serves whatever its Services say (agnhost's and the netpol matrix's). */
export const DEFAULT_ECHO_PORTS: readonly number[] = [80, 81, 8080];

/** How to start a cluster. */
export interface StartClusterOptions {
  nodes?: number;
  clients?: number;
  runId?: string;
  /** Which dataplane programs services; default from the FelixConfiguration (`bpfEnabled`). */
  dataplane?: DataplaneMode;
  /** Settings to start from (a FelixConfiguration applied later overrides them). */
  settings?: Partial<FelixSettings>;
  /** Progress and warning lines. */
  log?: (line: string) => void;
  /**
   * Keep running after this process exits once it is up (the CLI's `up`). Until then, and
   * always otherwise, an interrupt tears it down and a later command reaps it if this process dies.
   */
  persistent?: boolean;
  /** What is making the cluster, for other commands' messages (default: this program's name). */
  owner?: string;
  /** Build the eBPF dataplane from this copy of bpf/ instead of the project's own. */
  bpfSource?: BpfSource;
}

/** A cluster this process started: it may hand it over to outlive the process. */
export interface OwnedCluster extends Cluster {
  /** Keeps the cluster after this process exits: no teardown on interrupt, no reaping. */
  keep(): Promise<void>;
}

/** The stages of a teardown, in order, as a second Ctrl-C reports what is left. */
const TEARDOWN_STAGES = [
  'agents and metrics servers',
  'the dataplane (programs, maps, rules)',
  'nodes, pods and clients (namespaces, links, pins, cgroups)',
  'the state directory',
] as const;

type Located =
  | { kind: 'node'; key: string; place: NodePlace }
  | { kind: 'client'; key: string; place: Place }
  | { kind: 'pod'; key: string; place: Place; info: PodInfo };

/** A running cluster, on whichever provider made it. */
export class ClusterRuntime implements Cluster {
  readonly runId: string;
  readonly provider: ProviderName;
  private readonly places: Provider;
  private state: RunState;
  private control: ControlPlane;
  private dataplane: AnyDataplane;
  private readonly agents = new Map<string, AgentClient>();
  private readonly log: (line: string) => void;
  private unregister: () => void = () => {};
  private teardown: Promise<void> | undefined;
  private stagesLeft: readonly string[] = TEARDOWN_STAGES;
  /** Changes in progress in this process: a teardown waits for them, or they would build behind it. */
  private changes = 0;
  private changesDone: (() => void)[] = [];

  private constructor(
    provider: Provider,
    state: RunState,
    control: ControlPlane,
    dataplane: AnyDataplane,
    log: (line: string) => void,
  ) {
    this.places = provider;
    this.provider = provider.name;
    this.runId = state.runId;
    this.state = state;
    this.control = control;
    this.dataplane = dataplane;
    this.log = log;
  }

  /**
   * Brings up a new cluster on a provider; on any failure, everything already made is removed.
   * An interrupt stops the bring-up at the next step and then removes what was made.
   */
  static async start(provider: Provider, opts: StartClusterOptions = {}): Promise<ClusterRuntime> {
    const runId = opts.runId ?? newRunId();
    const log = opts.log ?? (() => {});
    const topology = provider.plan(runId, { nodes: opts.nodes ?? 3, clients: opts.clients ?? 1 });
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
      ...(opts.bpfSource ? { bpfSource: opts.bpfSource } : {}),
    };
    const cluster = new ClusterRuntime(provider, state, control, await dataplaneFor(mode, state), log);
    // Stop between steps once interrupted: a step running while the teardown removes places
    // would make new ones behind it.
    const checkpoint = () => {
      const signal = interruptedBy();
      if (signal) throw new Interrupted(signal);
    };
    const steps: Step[] = provider.provisionSteps(topology).map((s) => ({
      ...s,
      run: async () => {
        checkpoint();
        await s.run();
      },
    }));
    let bringUp: Promise<void> = Promise.resolve();
    cluster.unregister = onInterrupt({
      label: `run ${runId}`,
      run: async () => {
        await bringUp.catch(() => {});
        await cluster.down();
      },
      left: () => cluster.leftMessage(),
    });
    bringUp = (async () => {
      checkpoint();
      // The owner is on record before anything is built, so that no leftover lacks one.
      await writeOwner(runId, await ownerHere(opts.owner ?? programName()));
      await mkdir(join(stateDir(runId), 'agents'), { recursive: true });
      await runSteps(steps, log);
      checkpoint();
      await saveState(state);
      await cluster.dataplane.install(cluster.context());
      checkpoint();
      await cluster.startMetrics();
      checkpoint();
      await cluster.reconcile();
      checkpoint();
    })();
    try {
      await bringUp;
    } catch (err) {
      await cluster.down().catch((e: unknown) => log(`teardown after failed bring-up: ${String(e)}`));
      throw err;
    }
    if (opts.persistent) await cluster.keep();
    return cluster;
  }

  /** Keeps the cluster after this process exits: it is no longer torn down on interrupt nor reaped. */
  async keep(): Promise<void> {
    const owner = await readOwner(this.runId);
    if (owner) await writeOwner(this.runId, { ...owner, kept: true });
    this.unregister();
  }

  /** What a teardown stopped now would leave, and the command that finishes it. */
  private leftMessage(): string {
    const left = this.stagesLeft.length > 0 ? this.stagesLeft.join('; ') : 'nothing';
    return `run ${this.runId}: left: ${left}; finish with: dpconform down --run ${this.runId}`;
  }

  /** Picks up a cluster an earlier process brought up, with the provider that made it. */
  static async attach(
    providerFor: (name: ProviderName) => Provider,
    runId: string,
    log: (line: string) => void = () => {},
  ): Promise<ClusterRuntime> {
    const state = await loadState(runId);
    const provider = providerFor(state.topology.provider);
    const control = ControlPlane.fromJSON(state.objects);
    const dataplane = await dataplaneFor(state.dataplane, state);
    const cluster = new ClusterRuntime(provider, state, control, dataplane, log);
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
    const sourceChanged = JSON.stringify(onDisk.bpfSource) !== JSON.stringify(this.state.bpfSource);
    this.state = onDisk;
    this.control = ControlPlane.fromJSON(onDisk.objects);
    for (const client of this.agents.values()) await client.close().catch(() => {});
    this.agents.clear();
    if (this.dataplane.mode !== onDisk.dataplane || sourceChanged)
      this.dataplane = await dataplaneFor(onDisk.dataplane, onDisk);
    // The dataplane's in-process view (ids, written chains) may be stale too.
    await this.dataplane.resume?.(this.context());
  }

  private nodePlaces(): NodePlace[] {
    const t = this.state.topology;
    return t.nodes.map((n) => this.places.nodePlace(t, n));
  }

  private context(): DataplaneContext {
    return { runId: this.runId, nodes: this.nodePlaces(), settings: this.state.settings, log: this.log };
  }

  topology(): Topology {
    return this.state.topology;
  }

  model(): ClusterModel {
    if (!this.state.model) throw new Error('the control plane has not reconciled yet');
    return this.state.model;
  }

  dataplaneMode(): DataplaneMode {
    return this.state.dataplane;
  }

  settings(): { settings: FelixSettings; warnings: string[] } {
    return { settings: this.state.settings, warnings: this.state.warnings };
  }

  frontends(): Promise<Frontend[]> {
    return this.dataplane.listFrontends();
  }

  bpf(): BpfDataplane | undefined {
    return this.dataplane.mode === 'bpf' ? this.dataplane : undefined;
  }

  iptablesHostPolicyDrops(node: string) {
    return readHostPolicyDrops(this.node(node));
  }

  async serve(place: string, ports: readonly number[]): Promise<void> {
    const at = this.locate(place);
    if (at.kind === 'pod') throw new Error(`${place} is a pod: its ports follow its Deployment and Services`);
    await (await this.agentFor(place)).listen(ports);
  }

  async unserve(place: string, ports: readonly number[]): Promise<void> {
    await (await this.agentFor(place)).unlisten(ports);
  }

  iptablesPolicyDrops(node: string) {
    return readPolicyDrops(this.node(node));
  }

  footprint() {
    return readFootprint(this.nodePlaces());
  }

  liveBpfIds() {
    const [first] = this.nodePlaces();
    if (!first) throw new Error('the cluster has no nodes');
    return liveIds(first);
  }

  metrics(node: string, timeoutMs?: number): Promise<Scrape> {
    const info = this.state.topology.nodes.find((n) => n.name === node);
    if (!info) throw new Error(`no node named ${node}`);
    return scrapeNode((from, req) => this.probe(from, req), info, timeoutMs, this.metricsTarget());
  }

  metricsTarget(): MetricsTarget {
    const m = this.state.model?.monitors?.find((x) => x.selectsCalicoNode);
    if (!m) return DEFAULT_METRICS_TARGET;
    return {
      port: typeof m.port === 'number' ? m.port : DEFAULT_METRICS_TARGET.port,
      path: m.path,
      intervalSeconds: m.intervalSeconds,
      monitor: `${m.namespace}/${m.name}`,
    };
  }

  bpfLog(node: string, since?: bigint) {
    const dp = this.bpf();
    if (!dp)
      throw new Error(`run ${this.runId} runs the ${this.dataplane.mode} dataplane: there is no eBPF log`);
    return dp.log(node, since);
  }

  syncErrors(): string[] {
    return this.state.syncErrors;
  }

  async apply(source: string | object[]): Promise<void> {
    using _change = this.change();
    await this.refresh();
    // What was accepted but is not acted on is said at once, not only in `status` and the report.
    for (const w of await this.control.apply(source, this.nodeStates(), this.state.model))
      this.log(`warning: ${w}`);
    await this.reconcile();
  }

  async delete(source: string | object[]): Promise<void> {
    using _change = this.change();
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
    const removedInfo = removed.map((p) => this.places.podInfo(this.runId, p));
    await this.stopAgents(removedInfo.map(placeKeyOfPod));
    await this.places.removePods(t, removedInfo);
    const addedInfo = added.map((p) => this.places.podInfo(this.runId, p));
    const gone = new Set(removedInfo.map(placeKeyOfPod));
    t.pods = t.pods.filter((p) => !gone.has(placeKeyOfPod(p)));
    t.pods.push(...addedInfo);
    this.state.model = model;
    this.state.objects = this.control.toJSON();
    await saveState(this.state);
    await this.places.addPods(t, addedInfo);
    await Promise.all(addedInfo.map((p, i) => this.startPodAgent(p, listenPorts(model, added[i]!))));
    await this.updateListeners(model, added);
    const { settings, warnings } = this.control.settings();
    this.state.warnings = mergeSwitchWarnings(warnings, this.state.warnings, this.state.dataplane, settings);
    if (JSON.stringify(settings) !== JSON.stringify(this.state.settings)) {
      // A FelixConfiguration changed: the running dataplane takes what it can in place (its
      // connections keep flowing); a new dataplane (bpfEnabled) or a change it cannot take
      // (a map that shrinks) puts the dataplane on again with the new settings.
      const mode = settings.bpfEnabled ? 'bpf' : 'iptables';
      const outcome =
        mode === this.dataplane.mode
          ? await this.dataplane.update(settings)
          : { applied: false, reasons: [], changes: [] };
      if (outcome.applied) {
        if (outcome.changes.length > 0) this.log(`settings applied in place: ${outcome.changes.join(', ')}`);
        // Turning kube-proxy cleanup on (or off) under a running eBPF dataplane takes effect now.
        const cleanup = settings.bpfKubeProxyIptablesCleanupEnabled;
        if (mode === 'bpf' && cleanup !== this.state.settings.bpfKubeProxyIptablesCleanupEnabled)
          await this.settleKubeProxy(planSwitch('bpf', 'bpf', settings), this.nodePlaces());
      } else {
        const resized = mapSizeChanges(this.state.settings, settings);
        if (resized.length > 0 && settings.bpfEnabled) {
          this.log(
            `map sizes changed (${resized.join(', ')}): the eBPF maps are re-created; conntrack and affinity entries are lost, established flows are re-balanced and may be reset`,
          );
        }
        for (const r of outcome.reasons) this.log(`dataplane reinstalled: ${r}`);
      }
      this.state.settings = settings;
      if (!outcome.applied) await this.reinstall(mode);
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
    const nodes = this.nodePlaces();
    await stopMetricsServers(nodes, stateDir(this.runId));
    const old = this.dataplane;
    if (plan.order === 'break-before-make') await retire(old, plan);
    const next = await dataplaneFor(mode, this.state);
    await next.install(this.context());
    if (plan.order === 'make-before-break' && this.state.model) {
      const report = await next.sync(this.state.model);
      for (const e of report.errors) this.log(`dataplane: ${e}`);
    }
    this.dataplane = next;
    this.state.dataplane = mode;
    await saveState(this.state);
    if (plan.order === 'make-before-break') await retire(old, plan);
    await this.settleKubeProxy(plan, nodes);
    await this.startMetrics();
  }

  /** Removes kube-proxy's chains or warns that they are left, as the plan and the settings say. */
  private async settleKubeProxy(plan: SwitchPlan, nodes: readonly NodePlace[]): Promise<void> {
    const outcome = await settleKubeProxyChains(plan, nodes);
    const removed = Object.values(outcome.removed).reduce((a, b) => a + b, 0);
    if (removed > 0) this.log(`bpfKubeProxyIptablesCleanupEnabled: removed ${removed} kube-proxy chains`);
    this.state.warnings = this.state.warnings.filter((w) => !isKubeProxyLeftWarning(w));
    if (outcome.leftOn.length > 0) {
      const warning = kubeProxyLeftWarning(outcome.leftOn);
      this.state.warnings.push(warning);
      this.log(`warning: ${warning}`);
    }
  }

  /** Each node of an eBPF cluster serves Prometheus metrics read from its maps. */
  private async startMetrics(): Promise<void> {
    if (this.dataplane.mode === 'bpf') await startMetricsServers(this.nodePlaces(), stateDir(this.runId));
  }

  async useBpfSource(source: BpfSource | undefined): Promise<void> {
    using _change = this.change();
    await this.refresh();
    if (source) this.state.bpfSource = source;
    else delete this.state.bpfSource;
    await saveState(this.state);
    if (this.state.dataplane !== 'bpf') return;
    await this.reinstall('bpf');
    if (this.state.model) this.state.syncErrors = (await this.dataplane.sync(this.state.model)).errors;
    await saveState(this.state);
  }

  async switchDataplane(mode: DataplaneMode): Promise<void> {
    using _change = this.change();
    await this.refresh();
    this.control.patchFelix({ bpfEnabled: mode === 'bpf' });
    await this.reconcile();
  }

  async patchFelix(fields: Partial<FelixSettings>): Promise<void> {
    using _change = this.change();
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

  private agentFiles(id: string): { socketPath: string; logFile: string } {
    const dir = join(stateDir(this.runId), 'agents');
    return { socketPath: join(dir, `${id}.sock`), logFile: join(dir, `${id}.log`) };
  }

  private async startPodAgent(pod: PodInfo, ports: number[]): Promise<void> {
    const key = placeKeyOfPod(pod);
    const started = await startAgent({
      place: this.places.podPlace(this.state.topology, pod),
      name: pod.name,
      ports,
      ...this.agentFiles(pod.hostIface),
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
    await stopProcesses(pids);
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
    const routes: ExternalRoute[] = [];
    for (const ip of Object.keys(this.state.routes)) if (!(ip in wanted)) routes.push({ ip, via: undefined });
    for (const [ip, names] of Object.entries(wanted)) {
      if (JSON.stringify(this.state.routes[ip]) === JSON.stringify(names)) continue;
      routes.push({ ip, via: names.map((n) => this.nodeInfo(n)) });
    }
    await this.places.routeExternal(t, routes);
    this.state.routes = wanted;
  }

  async routeVia(ip: string, nodeNames: string[] | undefined): Promise<void> {
    using _change = this.change();
    await this.refresh();
    if (nodeNames) {
      for (const n of nodeNames) this.nodeInfo(n);
      this.state.routeOverrides[ip] = nodeNames;
    } else {
      delete this.state.routeOverrides[ip];
    }
    await this.routeExternalIps(this.model());
    await saveState(this.state);
  }

  private nodeInfo(name: string) {
    const n = this.state.topology.nodes.find((x) => x.name === name);
    if (!n)
      throw new Error(
        `no node named ${name} (nodes: ${this.state.topology.nodes.map((x) => x.name).join(', ')})`,
      );
    return n;
  }

  node(name: string): NodePlace {
    return this.places.nodePlace(this.state.topology, this.nodeInfo(name));
  }

  private locate(name: string): Located {
    const t = this.state.topology;
    const node = t.nodes.find((n) => n.name === name);
    if (node) return { kind: 'node', key: node.name, place: this.places.nodePlace(t, node) };
    const client = t.clients.find((c) => c.name === name);
    if (client) return { kind: 'client', key: client.name, place: this.places.clientPlace(t, client) };
    const pods = t.pods.filter((p) => placeKeyOfPod(p) === name || p.name === name);
    if (pods.length === 1) {
      const info = pods[0]!;
      return { kind: 'pod', key: placeKeyOfPod(info), place: this.places.podPlace(t, info), info };
    }
    if (pods.length > 1) throw new Error(`pod name ${name} is ambiguous: say namespace/name`);
    const known = [
      ...t.nodes.map((n) => n.name),
      ...t.clients.map((c) => c.name),
      ...t.pods.map(placeKeyOfPod),
    ];
    throw new Error(`no node, client or pod named ${name} (known: ${known.join(', ')})`);
  }

  place(name: string): Place {
    return this.locate(name).place;
  }

  captureSpec(place: string, iface: string, filter?: string): CaptureSpec {
    return { place: this.place(place), iface, label: place, ...(filter ? { filter } : {}) };
  }

  exec(place: string, argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.place(place).exec(argv, opts);
  }

  /** The agent of a place: the one this process knows, one another process started, or a new one. */
  private async agentFor(name: string): Promise<AgentClient> {
    const at = this.locate(name);
    const known = this.agents.get(at.key);
    if (known) return known;
    const files = this.agentFiles(at.kind === 'pod' ? at.info.hostIface : at.place.name);
    const pid = this.state.agents[at.key];
    let client: AgentClient;
    if (pid !== undefined && processAlive(pid)) {
      client = new AgentClient(files.socketPath);
      await client.ready();
    } else {
      const started = await startAgent({
        place: at.place,
        name: at.kind === 'pod' ? at.info.name : at.place.name,
        ports: [],
        // A node's own processes live in its cgroup, where connect-time load balancing applies.
        ...(at.kind === 'node' ? { cgroup: at.place.cgroupDir } : {}),
        ...files,
      });
      this.state.agents[at.key] = started.pid;
      await saveState(this.state);
      client = started.client;
    }
    this.agents.set(at.key, client);
    return client;
  }

  async probe(from: string, request: ProbeRequest): Promise<ProbeResult> {
    return (await this.agentFor(from)).probe(request);
  }

  async probes(from: string, requests: ProbeRequest[], concurrency = 16): Promise<ProbeResult[]> {
    return (await this.agentFor(from)).probes(requests, concurrency);
  }

  async streamStart(from: string, request: StreamStartRequest): Promise<StreamRecord> {
    return (await this.agentFor(from)).streamStart(request);
  }

  async streamGet(from: string, id: string): Promise<StreamRecord> {
    return (await this.agentFor(from)).streamGet(id);
  }

  async streamStop(from: string, id: string): Promise<StreamRecord> {
    return (await this.agentFor(from)).streamStop(id);
  }

  /** Marks a change in progress; refused once the process is interrupted, since the teardown is coming. */
  private change(): Disposable {
    const signal = interruptedBy();
    if (signal) throw new Interrupted(signal);
    this.changes++;
    return {
      [Symbol.dispose]: () => {
        if (--this.changes === 0) for (const done of this.changesDone.splice(0)) done();
      },
    };
  }

  /** Removes everything of the run; every caller (an interrupt, the run's own end) awaits the same teardown. */
  down(): Promise<void> {
    this.teardown ??= this.tearDown();
    return this.teardown;
  }

  private async tearDown(): Promise<void> {
    try {
      await this.removeAll();
    } finally {
      this.unregister();
    }
  }

  private async removeAll(): Promise<void> {
    const done = (stage: string) => {
      this.stagesLeft = this.stagesLeft.filter((s) => s !== stage);
    };
    if (this.changes > 0) await new Promise<void>((r) => this.changesDone.push(r));
    // Another process may have added agents or switched the dataplane; a run never saved has nothing to read.
    await this.refresh().catch(() => {});
    for (const c of this.agents.values()) await c.close().catch(() => {});
    this.agents.clear();
    await stopProcesses(Object.values(this.state.agents));
    await stopMetricsServers(this.nodePlaces(), stateDir(this.runId)).catch(() => {});
    // An agent whose starter died before recording it is found by the run's path on its command line.
    await stopProcesses(await runProcesses(this.runId));
    done(TEARDOWN_STAGES[0]);
    await this.dataplane.uninstall().catch((e: unknown) => this.log(`dataplane uninstall: ${String(e)}`));
    done(TEARDOWN_STAGES[1]);
    // The provider removes every place, pin and cgroup of this run, whatever stage the bring-up reached.
    await this.places.reap(this.runId);
    done(TEARDOWN_STAGES[2]);
    await removeState(this.runId);
    done(TEARDOWN_STAGES[3]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
}

/** A new dataplane of a mode, built from the run's copy of bpf/ when it has one. */
function dataplaneFor(mode: DataplaneMode, state: Pick<RunState, 'bpfSource'>): Promise<AnyDataplane> {
  const src = state.bpfSource;
  return createDataplane(mode, src ? { sourceDir: src.sourceDir, buildDir: src.buildDir } : {});
}

/** Removes a dataplane being replaced; iptables leaves its service chains when the plan says so. */
async function retire(old: AnyDataplane, plan: SwitchPlan): Promise<void> {
  if (old.mode === 'iptables') await old.uninstall({ keepKubeProxyChains: plan.keepKubeProxyChains });
  else await old.uninstall();
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
