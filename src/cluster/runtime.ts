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
import { type Scrape, scrapeNode } from '../observe/scrape.ts';
import type { RunOptions, RunResult } from '../sys/exec.ts';
import { processAlive, stopProcesses } from '../sys/process.ts';
import { AgentClient } from '../workload/agent-client.ts';
import { startAgent } from '../workload/agent-process.ts';
import type { ProbeRequest, ProbeResult, StreamRecord, StreamStartRequest } from '../workload/types.ts';
import { onInterrupt } from './cleanup.ts';
import { ControlPlane } from './control-plane.ts';
import type { ExternalRoute, Provider } from './provider.ts';
import { newRunId } from './run-id.ts';
import { loadState, type RunState, removeState, STATE_VERSION, saveState, stateDir } from './state.ts';
import { runSteps } from './steps.ts';
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
  /** Keep running after this process exits (the CLI's `up`); otherwise Ctrl-C tears down. */
  persistent?: boolean;
}

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
  private gone = false;

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

  /** Brings up a new cluster on a provider; on any failure, everything already made is removed. */
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
    };
    const cluster = new ClusterRuntime(provider, state, control, await createDataplane(mode), log);
    if (!opts.persistent) cluster.unregister = onInterrupt(() => cluster.down());
    try {
      await mkdir(join(stateDir(runId), 'agents'), { recursive: true });
      await runSteps(provider.provisionSteps(topology), log);
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

  /** Picks up a cluster an earlier process brought up, with the provider that made it. */
  static async attach(
    providerFor: (name: ProviderName) => Provider,
    runId: string,
    log: (line: string) => void = () => {},
  ): Promise<ClusterRuntime> {
    const state = await loadState(runId);
    const provider = providerFor(state.topology.provider);
    const control = ControlPlane.fromJSON(state.objects);
    const dataplane = await createDataplane(state.dataplane);
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
    this.state = onDisk;
    this.control = ControlPlane.fromJSON(onDisk.objects);
    for (const client of this.agents.values()) await client.close().catch(() => {});
    this.agents.clear();
    if (this.dataplane.mode !== onDisk.dataplane) this.dataplane = await createDataplane(onDisk.dataplane);
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
    return scrapeNode((from, req) => this.probe(from, req), info, timeoutMs);
  }

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
    const nodes = this.nodePlaces();
    await stopMetricsServers(nodes, stateDir(this.runId));
    const old = this.dataplane;
    if (plan.order === 'break-before-make') await retire(old, plan);
    const next = await createDataplane(mode);
    await next.install(this.context());
    if (plan.order === 'make-before-break' && this.state.model) {
      const report = await next.sync(this.state.model);
      for (const e of report.errors) this.log(`dataplane: ${e}`);
    }
    this.dataplane = next;
    this.state.dataplane = mode;
    await saveState(this.state);
    if (plan.order === 'make-before-break') await retire(old, plan);
    const outcome = await settleKubeProxyChains(plan, nodes);
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

  /** Each node of an eBPF cluster serves Prometheus metrics read from its maps. */
  private async startMetrics(): Promise<void> {
    if (this.dataplane.mode === 'bpf') await startMetricsServers(this.nodePlaces(), stateDir(this.runId));
  }

  async switchDataplane(mode: DataplaneMode): Promise<void> {
    await this.refresh();
    this.control.patchFelix({ bpfEnabled: mode === 'bpf' });
    await this.reconcile();
  }

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

  async down(): Promise<void> {
    if (this.gone) return;
    this.gone = true;
    this.unregister();
    // Another process may have added agents or switched the dataplane; a run never saved has nothing to read.
    await this.refresh().catch(() => {});
    for (const c of this.agents.values()) await c.close().catch(() => {});
    this.agents.clear();
    await stopProcesses(Object.values(this.state.agents));
    await stopMetricsServers(this.nodePlaces(), stateDir(this.runId)).catch(() => {});
    await this.dataplane.uninstall().catch((e: unknown) => this.log(`dataplane uninstall: ${String(e)}`));
    // The provider removes every place, pin and cgroup of this run, whatever stage the bring-up reached.
    await this.places.reap(this.runId);
    await removeState(this.runId);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.down();
  }
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
