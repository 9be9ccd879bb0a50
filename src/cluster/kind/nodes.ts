/**
 * A kind cluster's nodes as the node-container code sees them: kind names its node containers
 * `dpc-<run>-control-plane`, `dpc-<run>-worker`, ..., which are the docker provider's names, so
 * once their pids are recorded the docker provider's places enter them unchanged. Here too: the
 * CNI configuration each node gets, its routes to the other nodes' pods, and Calico's names for
 * pods' veths once the CNI has made them.
 */
import { writeFile } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { run } from '../../sys/exec.ts';
import { containersFile } from '../docker/containers.ts';
import { docker, type Engine } from '../docker/engine.ts';
import { ipBatchIn, nodePlace } from '../docker/places.ts';
import { nodeRouteLines } from '../docker/plan.ts';
import { type ResourceType, SOURCE_TYPES } from '../object-source.ts';
import type { NodeInfo, Topology } from '../types.ts';
import { CNI_CONFIG_PATH, calicoIfaceOf, cniConflist, renameVethLines } from './cni.ts';
import { kindClusterName } from './lifecycle.ts';

/** Nodes and pods, which a kind run also follows on its API server. */
export const KIND_TYPES: readonly ResourceType[] = [
  ...SOURCE_TYPES,
  { kind: 'Node', group: '', version: 'v1', plural: 'nodes', namespaced: false },
  { kind: 'Pod', group: '', version: 'v1', plural: 'pods', namespaced: true },
];

/** The run cluster's kubeconfig, as client-node loads it. */
export async function kindKubeConfig(runId: string): Promise<KubeConfig> {
  const r = await run(['kind', 'get', 'kubeconfig', '--name', kindClusterName(runId)]);
  const kc = new KubeConfig();
  kc.loadFromString(r.stdout);
  return kc;
}

/** Records the pids of a run's kind node containers, where the docker provider's places find them. */
export async function recordKindNodes(
  runId: string,
  engine: Engine,
  names: readonly string[],
): Promise<void> {
  const r = await docker(engine, ['inspect', '--format', '{{.Name}} {{.Id}} {{.State.Pid}}', ...names]);
  const record = Object.fromEntries(
    r.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name, id, pid] = line.split(' ');
        return [name?.replace(/^\//, ''), { id, pid: Number(pid) }];
      }),
  );
  await writeFile(containersFile(runId), `${JSON.stringify(record)}\n`);
}

/** Installs the CNI configuration and the routes to the other nodes' pods in every node. */
export async function wireKindNodes(t: Topology): Promise<void> {
  await Promise.all(
    t.nodes.map(async (n: NodeInfo) => {
      const node = nodePlace(t, n);
      await node.exec(['mkdir', '-p', CNI_CONFIG_PATH.slice(0, CNI_CONFIG_PATH.lastIndexOf('/'))]);
      await node.exec(['tee', CNI_CONFIG_PATH], { input: cniConflist(n.podCidr) });
      await ipBatchIn(node, nodeRouteLines(t, n));
    }),
  );
}

/** A pod the CNI has wired, as the API server reports it. */
export interface WiredPod {
  namespace: string;
  name: string;
  ip: string;
}

/** Gives pods' node-side veths Calico's names (the CNI names them `veth…`). */
export async function renamePodVeths(
  t: Topology,
  nodeName: string,
  pods: readonly WiredPod[],
): Promise<void> {
  const info = t.nodes.find((n) => n.name === nodeName);
  if (!info) throw new Error(`no node named ${nodeName}`);
  const node = nodePlace(t, info);
  const lines: string[] = [];
  for (const p of pods) {
    const [route] = await node.execJson<{ dev?: string }[]>(['ip', '-j', 'route', 'get', p.ip]);
    if (!route?.dev) throw new Error(`${nodeName} has no route to pod ${p.namespace}/${p.name} (${p.ip})`);
    lines.push(...renameVethLines(p.ip, route.dev, calicoIfaceOf(p.namespace, p.name)));
  }
  await ipBatchIn(node, lines);
}
