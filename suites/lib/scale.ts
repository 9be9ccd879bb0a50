/**
 * PERF-005, the per-packet cost of a node's ingress program as Services grow. 10, then 1,000,
 * then 10,000 Services are programmed over one echo pod; at each count the ingress program of
 * the data interface of a node without that pod is timed with BPF_PROG_TEST_RUN on a crafted
 * SYN for a NodePort, and an external client times TCP connects through the same NodePort in
 * the eBPF dataplane and, switched over, in the iptables one, whose chains grow with the count.
 */
import { availableParallelism } from 'node:os';
import {
  type BpfDataplane,
  type Cluster,
  type CtKey,
  type NodeInfo,
  type PacketSpec,
  PROG,
  TC_ACT,
} from '../../src/cluster/types.ts';
import { parseConnectTimes, tcpRrConnectArgv, tcpRrProgram } from '../../src/perf/tcp-rr.ts';
import {
  attachJson,
  ConformanceFailure,
  type EvidenceTarget,
  recordEvidence,
  recordSummary,
} from '../../src/report/evidence.ts';
import type { FigureChart } from '../../src/report/model.ts';
import { passMode } from './harness.ts';
import { soloDeployment } from './objects.ts';
import { quantile, type Summary } from './side-by-side.ts';

/** The numbers of Services measured at, smallest first; the claim compares the first and the last. */
export const SCALES: readonly number[] = [10, 1000, 10_000];
/** How much dearer a packet may be at the largest count than at the smallest. */
export const COST_RATIO = 1.2;
/** The guide's claim, in its words. */
export const CLAIM = 'per-packet cost stays the same from 10 to 10,000 Services';

const APP = 'perf-scale';
const PORT = 80;
const TARGET_PORT = 8080;

/**
 * Runs of the program per test run. BPF_PROG_TEST_RUN runs it on one buffer, and each run
 * forwards the SYN one hop (TTL - 1): from TTL 255, 250 runs all take the same path and none
 * turns into "time exceeded".
 */
const REPEAT = 250;
const SYN_TTL = 255;
/**
 * Test runs per visit of a count, after a few left out (the first run of a burst finds the
 * caches cold). Counts are visited on the way up and again on the way down (the largest, visited
 * once, gets twice the runs), and each count's figure is the median of all its runs: the
 * machine's speed drifts over seconds (other jobs share its cores), and visiting 10 Services
 * first and last keeps a drift from reading as growth.
 */
const RUNS = 25;
const WARMUP_RUNS = 3;
/**
 * The CPU every test run is pinned to: the machine's last (nodes share the machine's CPUs).
 * Unpinned, a run lands on any CPU, and the CPUs of a machine shared with other jobs can differ
 * in speed by a fifth (here they did): a count whose runs happened to land on the slower one
 * more often would read as growth.
 */
const TEST_CPU = availableParallelism() - 1;
/** Connects timed per count and dataplane, after a few that warm neighbour entries and caches. */
const CONNECTS = 300;
const WARMUP_CONNECTS = 20;

/**
 * Where the crafted SYN comes from. The runs measure the path a new flow takes: a SYN is never
 * taken for a packet of a known flow (it opens a connection afresh), so each run does the frontend and
 * backend lookups and writes the flow's one conntrack entry (forward, tunnelled: a remote backend
 * gets no reverse entry here). That entry is the only state left (besides the lo counters the
 * test runs count on); an address of TEST-NET-1 (RFC 5737) and a fixed port keep it apart from
 * every real flow, and it is deleted by its key after each visit.
 */
const PROBE_SOURCE = { ip: '192.0.2.10', port: 40005 } as const;

/** The test context PERF-005 runs in: where evidence goes, and how to skip. */
export type ScaleCtx = EvidenceTarget & { skip: (note: string) => never };

/** The name of the i-th Service of the measurement. */
export function scaleServiceName(i: number): string {
  return `${APP}-${String(i).padStart(5, '0')}`;
}

/**
 * Services `from` to `to - 1` over the echo pod. The first is the NodePort that is measured;
 * the others are ClusterIP, since a cluster has only 2,768 NodePorts. They select the pod
 * rather than each carrying an EndpointSlice: the control plane matches a selector against the
 * pods, but matches every Service against every slice, which at 10,000 Services takes seconds
 * per change where selectors take tenths of one.
 */
export function scaleServices(from: number, to: number): object[] {
  const out: object[] = [];
  for (let i = from; i < to; i++) {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: scaleServiceName(i), namespace: 'default' },
      spec: {
        type: i === 0 ? 'NodePort' : 'ClusterIP',
        selector: { app: APP },
        ports: [{ name: 'http', port: PORT, targetPort: TARGET_PORT, protocol: 'TCP' }],
      },
    });
  }
  return out;
}

/** The median of samples (at least one), and half their interquartile range as its spread. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarize');
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    spread: (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / 2,
    samples: sorted.length,
  };
}

/** What the smallest and the largest counts' costs say of the claim. */
export interface CostJudgement {
  /** Cost at the largest count over cost at the smallest. */
  ratio: number;
  /** The ratio's spread, from the two costs' relative spreads. */
  ratioSpread: number;
  /**
   * `holds`: within the limit; `exceeds`: beyond it by more than the spreads; `undecided`: beyond
   * it, but the two costs differ by less than their spreads together, so the machine's noise
   * could have made the difference.
   */
  outcome: 'holds' | 'exceeds' | 'undecided';
}

/** Holds the cost at the largest count against the cost at the smallest. */
export function judgeCost(smallest: Summary, largest: Summary, limit = COST_RATIO): CostJudgement {
  const ratio = largest.median / smallest.median;
  const ratioSpread = ratio * (smallest.spread / smallest.median + largest.spread / largest.median);
  if (ratio <= limit) return { ratio, ratioSpread, outcome: 'holds' };
  const effect = largest.median - smallest.median;
  const noise = smallest.spread + largest.spread;
  return { ratio, ratioSpread, outcome: effect > noise ? 'exceeds' : 'undecided' };
}

/** `10,000`. */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `312 ± 9 ns (25 samples)`, values divided by `per` first. */
function describeSummary(s: Summary, unit: string, per = 1): string {
  return `${(s.median / per).toFixed(0)} ± ${(s.spread / per).toFixed(0)} ${unit} (${s.samples} samples)`;
}

function bpfOf(c: Cluster): BpfDataplane {
  const dp = c.bpf();
  if (!dp) throw new Error('the cluster left the eBPF dataplane during the measurement');
  return dp;
}

/** What the NAT maps hold before the measurement and what they must hold during it. */
interface Room {
  /** The sizes in force, each with what the measurement needs of it. */
  lines: string[];
  /** The sizes to put back, when they had to be raised. */
  previous?: { bpfMapSizeNATFrontend: number; bpfMapSizeNATBackend: number };
}

/**
 * Makes the NAT maps big enough for `extra` more Services beside what the fullest node holds (a
 * frontend each and one more for the NodePort, a backend each), raising the FelixConfiguration's
 * sizes for the measurement when they are too small.
 */
async function makeRoom(c: Cluster, extra: number): Promise<Room> {
  const dp = bpfOf(c);
  let fe = 0;
  let be = 0;
  for (const n of c.topology().nodes) {
    fe = Math.max(fe, (await dp.frontends(n.name)).length);
    be = Math.max(be, (await dp.backends(n.name)).length);
  }
  const s = c.settings().settings;
  const need = { bpfMapSizeNATFrontend: fe + extra + 1, bpfMapSizeNATBackend: be + extra };
  const lines = (Object.keys(need) as (keyof typeof need)[]).map(
    (k) =>
      `${k} ${count(s[k])}: ${count(need[k])} needed (${count(k === 'bpfMapSizeNATFrontend' ? fe : be)} in use)`,
  );
  if (
    s.bpfMapSizeNATFrontend >= need.bpfMapSizeNATFrontend &&
    s.bpfMapSizeNATBackend >= need.bpfMapSizeNATBackend
  )
    return { lines };
  const previous = {
    bpfMapSizeNATFrontend: s.bpfMapSizeNATFrontend,
    bpfMapSizeNATBackend: s.bpfMapSizeNATBackend,
  };
  const raised = {
    bpfMapSizeNATFrontend: Math.max(s.bpfMapSizeNATFrontend, need.bpfMapSizeNATFrontend),
    bpfMapSizeNATBackend: Math.max(s.bpfMapSizeNATBackend, need.bpfMapSizeNATBackend),
  };
  await c.patchFelix(raised);
  lines.push(`raised for the measurement to ${JSON.stringify(raised)}, put back afterwards`);
  return { lines, previous };
}

/**
 * How many of the named Services a node's frontend map holds whole: their ClusterIP, and their
 * NodePort where they have one.
 */
async function programmedOn(c: Cluster, node: string, names: readonly string[]): Promise<number> {
  const held = new Set(
    (await bpfOf(c).frontends(node)).map((f) => `${f.key.addr}:${f.key.port}/${f.key.proto}`),
  );
  const byName = new Map(c.model().services.map((s) => [`${s.namespace}/${s.name}`, s]));
  let whole = 0;
  for (const name of names) {
    const s = byName.get(`default/${name}`);
    if (!s) continue;
    const keys = s.ports.flatMap((p) => [
      `${s.clusterIP}:${p.port}/${p.protocol}`,
      ...(p.nodePort !== undefined ? [`0.0.0.0:${p.nodePort}/${p.protocol}`] : []),
    ]);
    if (keys.every((k) => held.has(k))) whole++;
  }
  return whole;
}

/**
 * Times the entry node's data interface ingress program on the crafted SYN; every run must
 * have sent it on to the backend's node, unchanged but a hop older. Deletes the conntrack
 * entry the runs made, whatever happens.
 */
async function timeIngress(c: Cluster, entry: NodeInfo, nodePort: number, runs: number): Promise<number[]> {
  const dp = bpfOf(c);
  const spec: PacketSpec = {
    src: PROBE_SOURCE.ip,
    dst: entry.ip,
    proto: 'TCP',
    sport: PROBE_SOURCE.port,
    dport: nodePort,
    ttl: SYN_TTL,
  };
  const key: CtKey = { saddr: spec.src, daddr: spec.dst, sport: spec.sport, dport: spec.dport, proto: 'TCP' };
  const samples: number[] = [];
  try {
    for (let i = 0; i < WARMUP_RUNS + runs; i++) {
      const r = await dp.testRun(entry.name, PROG.hostIngress, spec, { repeat: REPEAT, cpu: TEST_CPU });
      const p = r.packet;
      if (
        r.retval !== TC_ACT.redirect ||
        p.dst !== entry.ip ||
        p.dport !== nodePort ||
        p.ttl !== SYN_TTL - REPEAT
      ) {
        throw new ConformanceFailure('a SYN for the NodePort was not sent on to the backend’s node', {
          expected: `TC_ACT_REDIRECT (into the tunnel) on every one of ${REPEAT} runs: destination ${entry.ip}:${nodePort} unchanged, TTL ${SYN_TTL} - ${REPEAT}`,
          seen: `return code ${r.retval}, packet ${p.src}:${p.sport} -> ${p.dst}:${p.dport} TTL ${p.ttl}`,
          where: `${entry.name} eth0 ingress (${PROG.hostIngress}), BPF_PROG_TEST_RUN`,
        });
      }
      if (i >= WARMUP_RUNS) samples.push(r.durationNs);
    }
  } finally {
    await dp.forgetConntrack(entry.name, [key]);
  }
  return samples;
}

/** The project's compiled tcp-rr on the external client, timing TCP connects one after another. */
class ConnectTimer {
  readonly #c: Cluster;
  readonly #client: string;
  readonly #program: string;

  private constructor(c: Cluster, client: string, program: string) {
    this.#c = c;
    this.#client = client;
    this.#program = program;
  }

  /** Compiles tcp-rr on this machine when needed; a string says why it could not. */
  static async build(c: Cluster, client: string): Promise<ConnectTimer | string> {
    try {
      return new ConnectTimer(c, client, await tcpRrProgram());
    } catch (err) {
      return `tcp-rr could not be compiled: ${(err instanceof Error ? err.message : String(err)).split('\n')[0]}`;
    }
  }

  /** Connect times to host:port in ns, the warm-up left out; a failed connect is a failure of the path. */
  async times(host: string, port: number, dataplane: string): Promise<number[]> {
    // Started as a program of this machine in the client's network, so that a client with files
    // of its own (a container) runs it too.
    const run = this.#c
      .place(this.#client)
      .spawn(tcpRrConnectArgv(this.#program, { host, port, count: WARMUP_CONNECTS + CONNECTS }));
    const stuck = setTimeout(() => void run.stop('SIGKILL'), 120_000);
    const r = await run.exited.finally(() => clearTimeout(stuck));
    if (r.exitCode !== 0) {
      throw new ConformanceFailure(
        `TCP connects through the NodePort ${host}:${port} failed (${dataplane})`,
        {
          expected: `${WARMUP_CONNECTS + CONNECTS} connects, one after another`,
          seen: `${
            r.stdout
              .trim()
              .split('\n')
              .filter((l) => l !== '').length
          } connected, then: ${r.stderr.trim()}`,
          where: `${this.#client} -> ${host}:${port}`,
        },
      );
    }
    return parseConnectTimes(r.stdout).slice(WARMUP_CONNECTS);
  }
}

/** One count's readings. */
interface Step {
  services: number;
  /** Wall time of the apply that brought the count up, in ms. */
  programMs: number;
  /** Wall time of the delete that brought the count back down from the next one, in ms. */
  unprogramMs?: number;
  /** Per-packet cost in ns, one average of REPEAT runs per test run, from every visit. */
  cost: number[];
  /**
   * Connect times in ns in each dataplane, and how long the switch to iptables (programming
   * every Service in its chains) took, in ms.
   */
  connect?: { ebpf: number[]; iptables: number[]; switchMs: number };
}

function figureChart(title: string, series: string, x: number): FigureChart {
  return { title, series, x, xLabel: 'Services' };
}

/** The NodePort of the measured Service, once programmed. */
function measuredNodePort(c: Cluster): number {
  const nodePort = c.model().services.find((s) => s.name === scaleServiceName(0))?.ports[0]?.nodePort;
  if (nodePort === undefined) throw new Error(`${scaleServiceName(0)} got no nodePort`);
  return nodePort;
}

/** Requires the entry node's frontend map to hold the first `services` Services whole. */
async function expectProgrammed(c: Cluster, entry: NodeInfo, services: number): Promise<void> {
  const names = Array.from({ length: services }, (_, i) => scaleServiceName(i));
  const whole = await programmedOn(c, entry.name, names);
  if (whole === services) return;
  throw new ConformanceFailure(`not every Service was programmed at ${count(services)}`, {
    expected: `${count(services)} Services with all their frontends in cali_v4_nat_fe`,
    seen: `${count(whole)}; sync errors: ${c.syncErrors().slice(0, 3).join('; ') || 'none'}`,
    where: `${entry.name}: dpconform bpf nat dump`,
  });
}

/**
 * Up: programs each count in turn and measures the cost there, and connect times in both
 * dataplanes. Down: takes the Services back to each smaller count and measures the cost again.
 */
async function climb(
  c: Cluster,
  entry: NodeInfo,
  timer: ConnectTimer | string,
  steps: Step[],
  applied: object[],
): Promise<void> {
  const mode = passMode(c);
  for (const [i, services] of SCALES.entries()) {
    const objects = scaleServices(applied.length, services);
    const started = performance.now();
    await c.apply(objects);
    const programMs = performance.now() - started;
    applied.push(...objects);
    await expectProgrammed(c, entry, services);
    const nodePort = measuredNodePort(c);
    const top = i === SCALES.length - 1;
    const step: Step = {
      services,
      programMs,
      cost: await timeIngress(c, entry, nodePort, top ? 2 * RUNS : RUNS),
    };
    steps.push(step);
    if (typeof timer === 'string') continue;
    const ebpf = await timer.times(entry.ip, nodePort, `eBPF ${mode.serviceMode}`);
    const switching = performance.now();
    await c.switchDataplane('iptables');
    try {
      const switchMs = performance.now() - switching;
      step.connect = { ebpf, iptables: await timer.times(entry.ip, nodePort, 'iptables'), switchMs };
    } finally {
      await c.switchDataplane('bpf');
    }
  }
  for (const step of [...steps].reverse().slice(1)) {
    const started = performance.now();
    await c.delete(applied.splice(step.services));
    step.unprogramMs = performance.now() - started;
    await expectProgrammed(c, entry, step.services);
    step.cost.push(...(await timeIngress(c, entry, measuredNodePort(c), RUNS)));
  }
}

/** PERF-005's body: program, measure and judge at each count, then take the Services away. */
export async function perPacketCostAtScale(ctx: ScaleCtx, c: Cluster): Promise<void> {
  const mode = passMode(c);
  if (mode.dataplane !== 'bpf') ctx.skip('the baseline itself; the eBPF passes compare against it');
  const client = c.topology().clients[0];
  if (!client) ctx.skip('needs an external client');
  await c.apply([soloDeployment(APP, 1)]);
  const pod = c.topology().pods.find((p) => p.labels.app === APP);
  if (!pod) throw new Error(`the ${APP} pod was not scheduled`);
  const entry = c.topology().nodes.find((n) => n.name !== pod.nodeName);
  if (!entry) ctx.skip('needs two nodes: one the packets enter, another the backend runs on');
  const largest = SCALES[SCALES.length - 1]!;
  const where = `${entry.name} eth0 ingress (${PROG.hostIngress}), BPF_PROG_TEST_RUN, backend ${pod.name} on ${pod.nodeName}`;
  const applied: object[] = [];
  const steps: Step[] = [];
  const room = await makeRoom(c, largest);
  recordEvidence(ctx, {
    kind: 'text',
    label: `NAT map sizes for ${count(largest)} more Services`,
    text: room.lines.join('\n'),
  });
  let timer: ConnectTimer | string | undefined;
  try {
    timer = await ConnectTimer.build(c, client.name);
    if (typeof timer === 'string')
      recordEvidence(ctx, { kind: 'text', label: 'connect times not measured', text: timer });
    await climb(c, entry, timer, steps, applied);
  } finally {
    try {
      await c.delete([...applied, soloDeployment(APP, 1)]);
    } finally {
      if (room.previous) await c.patchFelix(room.previous);
      for (const step of steps) recordStep(ctx, step, `eBPF ${mode.serviceMode}`, where);
    }
  }
  judge(ctx, steps, mode.serviceMode, where);
}

function recordStep(ctx: ScaleCtx, step: Step, series: string, where: string): void {
  const n = count(step.services);
  const cost = summarize(step.cost);
  recordEvidence(ctx, {
    kind: 'figure',
    name: `per-packet cost at ${n} Services, ${series}`,
    value: cost.median,
    unit: 'ns',
    spread: cost.spread,
    better: 'lower',
    where,
    label: `median of ${cost.samples} test runs of ${REPEAT} runs each, from every visit of this count`,
    chart: figureChart('per-packet cost against number of Services', 'eBPF', step.services),
  });
  recordEvidence(ctx, {
    kind: 'figure',
    name: `time to program Services up to ${n}, ${series}`,
    value: step.programMs / 1000,
    unit: 's',
    better: 'lower',
    label: 'one apply of the new Services, until every node is programmed',
  });
  attachJson(
    ctx,
    {
      name: `samples-${step.services}.json`,
      kind: 'other',
      title: `every sample at ${n} Services: per-packet cost (ns, one per test run), connect times (ns)`,
    },
    step,
  );
  if (!step.connect) return;
  const title = 'TCP connect time against number of Services';
  for (const [key, label] of [
    ['ebpf', series],
    ['iptables', 'iptables'],
  ] as const) {
    const s = summarize(step.connect[key]);
    recordEvidence(ctx, {
      kind: 'figure',
      name: `TCP connect p50 through the NodePort at ${n} Services, ${label}`,
      value: s.median / 1000,
      unit: 'µs',
      spread: s.spread / 1000,
      better: 'lower',
      label: `${s.samples} connects from the external client, one after another`,
      chart: figureChart(title, label, step.services),
    });
  }
}

/** One count in a line: programming time, cost, connect times. */
function describeStep(s: Step): string {
  const connect = s.connect
    ? `; connect p50 eBPF ${describeSummary(summarize(s.connect.ebpf), 'µs', 1000)}, iptables ${describeSummary(summarize(s.connect.iptables), 'µs', 1000)} (switched to in ${(s.connect.switchMs / 1000).toFixed(1)} s)`
    : '';
  const down =
    s.unprogramMs !== undefined ? `, back down to it in ${(s.unprogramMs / 1000).toFixed(1)} s` : '';
  return `${count(s.services)} Services: programmed in ${(s.programMs / 1000).toFixed(1)} s${down}; ${describeSummary(summarize(s.cost), 'ns')} per packet${connect}`;
}

function judge(ctx: ScaleCtx, steps: readonly Step[], serviceMode: string, where: string): void {
  const first = steps[0]!;
  const last = steps[steps.length - 1]!;
  const [small, large] = [summarize(first.cost), summarize(last.cost)];
  const j = judgeCost(small, large);
  recordEvidence(ctx, {
    kind: 'figure',
    name: `per-packet cost at ${count(last.services)} / at ${count(first.services)} Services, eBPF ${serviceMode}`,
    value: j.ratio,
    spread: j.ratioSpread,
    better: 'lower',
    where,
    claim: CLAIM,
  });
  const table = steps.map(describeStep);
  recordEvidence(ctx, { kind: 'text', label: 'per count', text: table.join('\n') });
  const seen = `${describeSummary(small, 'ns')} at ${count(first.services)}, ${describeSummary(large, 'ns')} at ${count(last.services)}: ${j.ratio.toFixed(2)}x ± ${j.ratioSpread.toFixed(2)}`;
  recordSummary(ctx, `per-packet cost ${seen}`);
  if (j.outcome === 'holds') return;
  if (j.outcome === 'undecided') {
    throw new Error(
      `the machine was too noisy to decide: per-packet cost ${seen}, over ${COST_RATIO}x, but the two costs differ by less than their spreads together`,
    );
  }
  throw new ConformanceFailure(
    `a packet costs ${j.ratio.toFixed(2)}x as much at ${count(last.services)} Services as at ${count(first.services)}`,
    { expected: `at most ${COST_RATIO}x`, seen: table.join('\n'), where },
  );
}
