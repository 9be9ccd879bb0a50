/**
 * The node's Prometheus registry: prom-client metrics set from one snapshot per scrape, so every
 * value in one exposition comes from the same read of the maps.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { METRIC } from './names.ts';
import { type NodeSnapshot, packetsPerIfaceHook, policyDropsPerIfaceHook } from './snapshot.ts';
import type { SweepResult } from './sweep.ts';

/** A registry and the way to refresh it. */
export interface NodeMetrics {
  registry: Registry;
  /** Replaces every value with the snapshot's. */
  update(snapshot: NodeSnapshot): void;
  /** Reads a fresh snapshot, updates, and renders the exposition text. */
  scrape(): Promise<string>;
  /** Takes the result of one conntrack sweep. */
  recordSweep(result: SweepResult): void;
}

/** Builds the registry; `read` is called once per scrape. */
export function createNodeMetrics(read: () => Promise<NodeSnapshot>): NodeMetrics {
  const registry = new Registry();
  const registers = [registry];
  // The kernel's counters are the source of truth: each scrape resets and sets them to the
  // map's values, which stay monotonic as long as the maps are not re-created.
  const packets = new Counter({ ...METRIC.packets, labelNames: ['iface', 'hook'], registers });
  const policyDrops = new Counter({ ...METRIC.policyDrops, labelNames: ['iface', 'hook'], registers });
  // Entry counts go down as flows expire and services go, so they are gauges even where the
  // guide's name ends in _total.
  const connections = new Gauge({ ...METRIC.connections, registers });
  const natFrontends = new Gauge({ ...METRIC.natFrontends, registers });
  const mapEntries = new Gauge({ ...METRIC.mapEntries, labelNames: ['map'], registers });
  const mapMax = new Gauge({ ...METRIC.mapMaxEntries, labelNames: ['map'], registers });
  const endpoints = new Gauge({ ...METRIC.endpoints, registers });
  const happyEndpoints = new Gauge({ ...METRIC.happyEndpoints, registers });
  const dirtyEndpoints = new Gauge({ ...METRIC.dirtyEndpoints, registers });
  const ctUsed = new Gauge({ ...METRIC.conntrackUsed, labelNames: ['type'], registers });
  // Kept by this process across sweeps: it is the sweeper, so it alone knows what it deleted.
  const ctCleaned = new Counter({ ...METRIC.conntrackCleaned, labelNames: ['type'], registers });
  const ctSweeps = new Counter({ ...METRIC.conntrackSweeps, registers });
  for (const type of ['fwd', 'rev']) {
    ctUsed.set({ type }, 0);
    ctCleaned.inc({ type }, 0);
  }

  const update = (s: NodeSnapshot): void => {
    packets.reset();
    for (const r of packetsPerIfaceHook(s.counters)) packets.inc({ iface: r.iface, hook: r.hook }, r.packets);
    policyDrops.reset();
    for (const r of policyDropsPerIfaceHook(s.counters))
      policyDrops.inc({ iface: r.iface, hook: r.hook }, r.packets);
    connections.set(s.conntrack);
    natFrontends.set(s.natFrontends);
    mapEntries.reset();
    mapMax.reset();
    for (const m of s.maps) {
      mapEntries.set({ map: m.name }, m.entries);
      mapMax.set({ map: m.name }, m.maxEntries);
    }
    endpoints.set(s.endpoints.total);
    happyEndpoints.set(s.endpoints.happy);
    dirtyEndpoints.set(s.endpoints.total - s.endpoints.happy);
  };

  const recordSweep = (r: SweepResult): void => {
    ctSweeps.inc();
    for (const [type, n] of Object.entries(r.used)) ctUsed.set({ type }, n);
    for (const [type, n] of Object.entries(r.cleaned)) ctCleaned.inc({ type }, n);
  };

  // Scrapes run one after the other, so that two at once cannot mix their snapshots.
  let queue: Promise<unknown> = Promise.resolve();
  const scrape = (): Promise<string> => {
    const next = queue.then(async () => {
      update(await read());
      return registry.metrics();
    });
    queue = next.catch(() => undefined);
    return next;
  };

  return { registry, update, scrape, recordSweep };
}
