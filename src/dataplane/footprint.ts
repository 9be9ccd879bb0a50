/**
 * What either dataplane leaves on a cluster's nodes: programs, maps, pins, tc filters, devices,
 * iptables chains, `local` routes and cgroup attachments. Read through the node places only, so
 * that a rollback check or a leak check works on whatever provider made the nodes, and compared
 * by shape, because ids change on every install while a clean state must look the same each time.
 */
import type { NodePlace, Place } from '../node/place.ts';
import { cgroupPrograms } from './bpf/attach.ts';
import { listLocalRoutes } from './bpf/node-kernel.ts';
import { readTables } from './iptables/node-tables.ts';

/** One program or map as `bpftool -j -f prog|map show` prints it. */
interface BpfObject {
  id: number;
  name?: string;
  pinned?: string[];
  map_ids?: number[];
}

/** One filter as `tc -j filter show` prints it. */
interface TcFilter {
  kind?: string;
  options?: { bpf_name?: string; prog?: { id: number; name?: string } };
}

/** Everything of the dataplanes one node holds. */
export interface NodeFootprint {
  /** Every interface of the node, sorted (our `vx` device shows up here). */
  links: string[];
  /** `iface/direction prog-name` of every BPF tc filter, sorted. */
  tcFilters: string[];
  /** `table chain` of every iptables chain, built-in ones included, sorted. */
  chains: string[];
  /** Our `local` routes (those with our routing protocol number), as CIDRs, sorted. */
  localRoutes: string[];
  /** Names of the programs attached to the node's cgroup, sorted. */
  cgroupProgs: string[];
  /** Ids of the programs behind the tc filters (they tell which kernel programs are ours). */
  tcProgIds: number[];
}

/** The dataplanes' footprint on a cluster's nodes. */
export interface DataplaneFootprint {
  /** Our programs: attached to our nodes' interfaces or pinned under a node's bpffsDir. */
  progIds: number[];
  /** The maps our programs use, and maps pinned under a node's bpffsDir. */
  mapIds: number[];
  /** `<node>/<path under its bpffsDir>` of every pinned file, sorted. */
  pins: string[];
  /** Per node name. */
  nodes: Record<string, NodeFootprint>;
}

/** The footprint as counts and names only, for comparing two states of the cluster. */
export interface FootprintShape {
  programs: number;
  maps: number;
  pins: number;
  nodes: Record<
    string,
    {
      links: string[];
      tcFilters: string[];
      chains: number;
      chainNames: string[];
      localRoutes: number;
      cgroupProgs: string[];
    }
  >;
}

/** The kube-proxy chains that carry services (not the jump or masquerade plumbing). */
const SERVICE_CHAIN = /^(KUBE-SERVICES|KUBE-NODEPORTS|KUBE-SVC-.*|KUBE-SEP-.*)$/;

const byNumber = (a: number, b: number) => a - b;

/**
 * Files pinned under a node's bpffsDir, as `<node>/<relative path>`. Listed by the node itself,
 * since only it is sure to see its own bpffs; a directory that is not there lists nothing.
 */
async function listPins(node: NodePlace): Promise<string[]> {
  const dir = node.bpffsDir.replace(/\/+$/, '');
  const r = await node.exec(['find', dir, '-mindepth', '1', '!', '-type', 'd'], { reject: false });
  return r.stdout
    .split('\n')
    .filter((line) => line.startsWith(`${dir}/`))
    .map((line) => `${node.name}/${line.slice(dir.length + 1)}`)
    .sort();
}

/** The BPF tc filters on every hook of the node's interfaces. */
async function tcFilters(node: Place, links: readonly string[]): Promise<{ names: string[]; ids: number[] }> {
  const names: string[] = [];
  const ids: number[] = [];
  for (const iface of links) {
    for (const dir of ['ingress', 'egress']) {
      // An interface without clsact (or one that vanished since listing) has nothing to show.
      const r = await node.exec(['tc', '-j', 'filter', 'show', 'dev', iface, dir], { reject: false });
      if (r.exitCode !== 0 || r.stdout.trim() === '') continue;
      for (const f of JSON.parse(r.stdout) as TcFilter[]) {
        if (f.kind !== 'bpf' || !f.options) continue;
        names.push(`${iface}/${dir} ${f.options.prog?.name ?? f.options.bpf_name ?? '?'}`);
        if (f.options.prog) ids.push(f.options.prog.id);
      }
    }
  }
  return { names: names.sort(), ids };
}

/** What the dataplanes left on one node. */
async function readNodeFootprint(node: NodePlace): Promise<NodeFootprint> {
  const rows = await node.execJson<{ ifname: string }[]>(['ip', '-j', 'link', 'show']);
  const links = rows.map((l) => l.ifname).sort();
  const tc = await tcFilters(node, links);
  const chains: string[] = [];
  for (const table of (await readTables(node)).values()) {
    for (const chain of table.chains.keys()) chains.push(`${table.name} ${chain}`);
  }
  return {
    links,
    tcFilters: tc.names,
    chains: chains.sort(),
    localRoutes: (await listLocalRoutes(node)).sort(),
    cgroupProgs: (await cgroupPrograms(node, node.cgroupDir)).sort(),
    tcProgIds: tc.ids,
  };
}

/**
 * Reads what the dataplanes left on these nodes. A program or map counts as ours when it is
 * attached to one of the nodes' interfaces, pinned under one of their bpffsDirs, or used by such
 * a program; another run's `dpc_*` objects on the same kernel are not ours. The kernel-wide
 * listings run in the first node, since all nodes share the kernel; the pinned paths they report
 * are the ones the first node sees, so on providers where each node has its own bpffs the other
 * nodes' pins still show in `pins` and through their attachments.
 */
export async function readFootprint(nodes: readonly NodePlace[]): Promise<DataplaneFootprint> {
  const first = nodes[0];
  if (!first) return { progIds: [], mapIds: [], pins: [], nodes: {} };
  const perNode = await Promise.all(nodes.map(readNodeFootprint));
  const pins = (await Promise.all(nodes.map(listPins))).flat().sort();
  const [progs, maps] = await Promise.all([
    first.execJson<BpfObject[]>(['bpftool', '-j', '-f', 'prog', 'show']),
    first.execJson<BpfObject[]>(['bpftool', '-j', '-f', 'map', 'show']),
  ]);
  const dirs = nodes.map((n) => `${n.bpffsDir.replace(/\/+$/, '')}/`);
  const pinnedHere = (o: BpfObject) => o.pinned?.some((p) => dirs.some((d) => p.startsWith(d))) ?? false;
  const attached = new Set(perNode.flatMap((n) => n.tcProgIds));
  const ours = progs.filter((p) => attached.has(p.id) || pinnedHere(p));
  const mapIds = new Set(ours.flatMap((p) => p.map_ids ?? []));
  for (const m of maps) if (pinnedHere(m)) mapIds.add(m.id);
  return {
    progIds: ours.map((p) => p.id).sort(byNumber),
    mapIds: [...mapIds].sort(byNumber),
    pins,
    nodes: Object.fromEntries(nodes.map((n, i) => [n.name, perNode[i] as NodeFootprint])),
  };
}

/**
 * Ids of every program and map the kernel still holds, seen from a place: a footprint's ids that
 * are missing here are really gone, not just unpinned.
 */
export async function liveIds(place: Place): Promise<{ progs: Set<number>; maps: Set<number> }> {
  const [progs, maps] = await Promise.all([
    place.execJson<BpfObject[]>(['bpftool', '-j', 'prog', 'show']),
    place.execJson<BpfObject[]>(['bpftool', '-j', 'map', 'show']),
  ]);
  return { progs: new Set(progs.map((p) => p.id)), maps: new Set(maps.map((m) => m.id)) };
}

/** The footprint without ids (they change on every install), so two states compare equal. */
export function footprintShape(f: DataplaneFootprint): FootprintShape {
  return {
    programs: f.progIds.length,
    maps: f.mapIds.length,
    pins: f.pins.length,
    nodes: Object.fromEntries(
      Object.entries(f.nodes).map(([name, n]) => [
        name,
        {
          links: n.links,
          tcFilters: n.tcFilters,
          chains: n.chains.length,
          chainNames: n.chains,
          localRoutes: n.localRoutes.length,
          cgroupProgs: n.cgroupProgs,
        },
      ]),
    ),
  };
}

/** A few lines a person reads in a failure message or as evidence: counts, and the node's links. */
export function describeFootprint(f: DataplaneFootprint): string {
  const lines = [`programs ${f.progIds.length}, maps ${f.mapIds.length}, pins ${f.pins.length}`];
  for (const [name, n] of Object.entries(f.nodes)) {
    lines.push(
      `${name}: links ${n.links.length} (${n.links.join(' ')}), tc filters ${n.tcFilters.length}, chains ${n.chains.length}, local routes ${n.localRoutes.length}, cgroup programs ${n.cgroupProgs.length}`,
    );
  }
  return lines.join('\n');
}

/**
 * kube-proxy's service chains per node name, as `table chain`: what a switch to eBPF must remove
 * (or report as left) while kubelet's and everyone else's chains stay.
 */
export function kubeServiceChains(f: DataplaneFootprint): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(f.nodes).map(([name, n]) => [
      name,
      n.chains.filter((ch) => SERVICE_CHAIN.test(ch.split(' ')[1] ?? '')),
    ]),
  );
}
