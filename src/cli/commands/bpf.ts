/**
 * `dpconform bpf ...`: what the eBPF dataplane holds on each node (counters, NAT, conntrack,
 * map fill), read from the pinned maps of a running cluster.
 */
import type { BpfDataplane, Cluster, NodeInfo } from '../../cluster/types.ts';
import { attachFromArgs } from '../attach.ts';
import { CliError, type Command, EXIT, type Parsed, strOption } from '../command.ts';
import {
  counterLines,
  ctLines,
  ctStats,
  logLines,
  mapLines,
  natLines,
  renderConntrack,
  renderCounters,
  renderCtStats,
  renderLog,
  renderMaps,
  renderNat,
  renderStats,
  statsLines,
  toJson,
} from '../inspect.ts';

/** The inspections `bpf` offers, each with the verbs it takes (the first is the default). */
export const BPF_VIEWS: Readonly<Record<string, readonly string[]>> = {
  counters: ['dump'],
  nat: ['dump'],
  conntrack: ['dump', 'stats'],
  maps: ['show'],
  stats: ['show'],
  log: ['show'],
};

/** A checked `bpf` command line. */
export interface BpfRequest {
  view: 'counters' | 'nat' | 'conntrack' | 'maps' | 'stats' | 'log';
  verb: string;
}

/** Checks the positionals of `bpf` before anything is touched. */
export function parseBpfRequest(positionals: readonly string[]): BpfRequest {
  const [view, verb, extra] = positionals;
  const usage = `(${Object.entries(BPF_VIEWS)
    .map(([v, verbs]) => `${v} ${verbs.join('|')}`)
    .join(', ')})`;
  if (!view) throw new CliError(`bpf: say what to show ${usage}`, EXIT.usage);
  const verbs = BPF_VIEWS[view];
  if (!verbs) throw new CliError(`bpf: unknown view "${view}" ${usage}`, EXIT.usage);
  const v = verb ?? verbs[0] ?? '';
  if (!verbs.includes(v))
    throw new CliError(`bpf ${view}: unknown action "${v}" (${verbs.join(', ')})`, EXIT.usage);
  if (extra !== undefined) throw new CliError(`bpf: unexpected argument "${extra}"`, EXIT.usage);
  return { view: view as BpfRequest['view'], verb: v };
}

/** Attaches to the run and returns its eBPF dataplane, or a one-line usage error in iptables mode. */
async function attachBpf(args: Parsed): Promise<{ cluster: Cluster; dp: BpfDataplane }> {
  const cluster = await attachFromArgs(args);
  const dp = cluster.bpf();
  if (!dp)
    throw new CliError(
      `run ${cluster.runId} runs the ${cluster.dataplaneMode()} dataplane: there are no eBPF maps to show`,
      EXIT.usage,
    );
  return { cluster, dp };
}

/** The nodes to show: all, or the one `--node` names. */
export function selectNodes(nodes: readonly NodeInfo[], name: string | undefined): NodeInfo[] {
  if (name === undefined) return [...nodes];
  const n = nodes.find((x) => x.name === name);
  if (!n)
    throw new CliError(`no node named ${name} (nodes: ${nodes.map((x) => x.name).join(', ')})`, EXIT.usage);
  return [n];
}

function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

async function show(req: BpfRequest, args: Parsed): Promise<void> {
  const json = args.values.json === true;
  const { cluster, dp } = await attachBpf(args);
  const all = cluster.topology().nodes;
  const nodes = selectNodes(all, strOption(args, 'node'));
  const each = <T>(read: (n: NodeInfo) => Promise<T>) =>
    Promise.all(nodes.map(async (n) => ({ node: n.name, data: await read(n) })));

  if (req.view === 'counters') {
    const lines = counterLines(await each((n) => dp.counters(n.name)), strOption(args, 'iface'));
    out(json ? toJson(lines) : renderCounters(lines));
  } else if (req.view === 'nat') {
    const services = cluster.model().services;
    const lines = (
      await Promise.all(
        nodes.map(async (n) =>
          natLines(n, await dp.frontends(n.name), await dp.backends(n.name), all, services),
        ),
      )
    ).flat();
    out(json ? toJson(lines) : renderNat(lines));
  } else if (req.view === 'conntrack') {
    const per = await each((n) => dp.conntrack(n.name));
    if (req.verb === 'stats') {
      const max = cluster.settings().settings.bpfMapSizeConntrack;
      const stats = per.map((p) => ctStats(p.node, p.data, max));
      out(json ? toJson(stats) : renderCtStats(stats));
    } else {
      // The programs stamp entries with CLOCK_MONOTONIC, the clock hrtime reads.
      const now = process.hrtime.bigint();
      const lines = per.flatMap((p) => ctLines(p.node, p.data, now));
      out(json ? toJson(lines) : renderConntrack(lines));
    }
  } else if (req.view === 'stats') {
    const lines = statsLines(await each((n) => dp.counters(n.name)));
    out(json ? toJson(lines) : renderStats(lines));
  } else if (req.view === 'log') {
    // The programs stamp records with CLOCK_MONOTONIC, the clock hrtime reads.
    const now = process.hrtime.bigint();
    const per = await each(async (n) => ({
      records: await dp.log(n.name),
      names: new Map((await dp.counters(n.name)).map((c) => [c.ifindex, c.iface])),
    }));
    const lines = per
      .flatMap((p) => logLines(p.node, p.data.records, p.data.names, now))
      .sort((a, b) => b.ago - a.ago);
    out(json ? toJson(lines) : renderLog(lines));
  } else {
    const lines = mapLines(await each((n) => dp.mapUsage(n.name)));
    out(json ? toJson(lines) : renderMaps(lines));
  }
}

/** `dpconform bpf counters|nat|conntrack|maps`. */
export const bpf: Command = {
  name: 'bpf',
  summary:
    "Show the eBPF dataplane of each node: counters, stats and errors, NAT frontends/backends, conntrack, map fill, the programs' log.",
  usage: `counters dump [--iface IF] | stats | nat dump | conntrack dump|stats | maps | log  [--node N] [--run ID] [--json]`,
  options: {
    node: { type: 'string', arg: 'N', help: 'only this node' },
    iface: { type: 'string', arg: 'IF', help: 'counters: only this interface' },
    json: { type: 'boolean', help: 'print as JSON' },
  },
  positionals: true,
  async run(args) {
    const req = parseBpfRequest(args.positionals);
    if (strOption(args, 'iface') !== undefined && req.view !== 'counters')
      throw new CliError('bpf: --iface applies to counters only', EXIT.usage);
    await show(req, args);
    return EXIT.ok;
  },
};
