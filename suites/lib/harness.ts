/**
 * What every suite file starts from: the cluster of the run it belongs to, the mode it runs in,
 * and the fixtures. Suites are run by `dpconform run`, which brings the cluster up and passes its
 * run id down; a suite never knows which provider built it.
 */
import { fileURLToPath } from 'node:url';
import { attachCluster } from '../../src/cluster/providers.ts';
import type { Cluster, NodeInfo } from '../../src/cluster/types.ts';
import type { ServiceState } from '../../src/k8s/model.ts';
import type { PassMode } from '../../src/report/model.ts';

/** The environment variable carrying the run id from `dpconform run` to the suites. */
export const RUN_ENV = 'DPCONFORM_RUN_ID';

let attached: Promise<Cluster> | undefined;

/** The run's cluster (attached once per suite file). */
export function suiteCluster(): Promise<Cluster> {
  const runId = process.env[RUN_ENV];
  if (!runId) {
    throw new Error(`${RUN_ENV} is not set: suites run under \`dpconform run\``);
  }
  attached ??= attachCluster(runId);
  return attached;
}

/** The mode this pass runs in, as the cluster reports it. */
export function passMode(c: Cluster): PassMode {
  return { dataplane: c.dataplaneMode(), serviceMode: c.settings().settings.bpfExternalServiceMode };
}

/** Absolute path of a fixture under `fixtures/`. */
export function fixture(path: string): string {
  return fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));
}

/** A Service of the model by name (namespace `default` unless given). */
export function service(c: Cluster, name: string, namespace = 'default'): ServiceState {
  const s = c.model().services.find((x) => x.name === name && x.namespace === namespace);
  if (!s) throw new Error(`service ${namespace}/${name} is not in the model (was its fixture applied?)`);
  return s;
}

/** The nodePort of a Service's port (the first port unless named). */
export function nodePortOf(s: ServiceState, portName?: string): number {
  const p = portName ? s.ports.find((x) => x.name === portName) : s.ports[0];
  if (p?.nodePort === undefined)
    throw new Error(`service ${s.name} has no nodePort${portName ? ` on ${portName}` : ''}`);
  return p.nodePort;
}

/** Names of the pods backing a Service (ready endpoints), with the node each is on. */
export function backendsOf(c: Cluster, s: ServiceState): { pod: string; node: string; ip: string }[] {
  const eps = c.model().endpoints.find((e) => e.namespace === s.namespace && e.serviceName === s.name);
  const seen = new Map<string, { pod: string; node: string; ip: string }>();
  for (const p of eps?.ports ?? []) {
    for (const e of p.endpoints)
      if (e.ready) seen.set(e.podName, { pod: e.podName, node: e.nodeName, ip: e.ip });
  }
  return [...seen.values()];
}

/** Nodes with and without a backend of the Service. */
export function splitNodes(c: Cluster, s: ServiceState): { withBackend: NodeInfo[]; without: NodeInfo[] } {
  const on = new Set(backendsOf(c, s).map((b) => b.node));
  const nodes = c.topology().nodes;
  return { withBackend: nodes.filter((n) => on.has(n.name)), without: nodes.filter((n) => !on.has(n.name)) };
}
