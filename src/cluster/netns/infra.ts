/**
 * Builds and removes the fixed part of a netns cluster: the fabric bridge, the nodes, the
 * external clients and the nodes' cgroups; and wires pods into their nodes.
 */
import { mkdir, readdir, rmdir } from 'node:fs/promises';
import type { Step } from '../steps.ts';
import type { PodInfo, Topology } from '../types.ts';
import { clientNetns, fabricNetns, nodeNetns, podNetns, runCgroupDir } from './address-plan.ts';
import { createNetns, deleteNetns, ipBatch, sysctl } from './ip.ts';
import {
  CLIENT_SYSCTLS,
  clientLines,
  fabricLines,
  infraNetns,
  NODE_SYSCTLS,
  nodeLines,
  podLines,
  podNodeLines,
  podNodeSysctls,
  QUIET_SYSCTLS,
} from './plan.ts';

/** The ordered bring-up of fabric, nodes, clients and node cgroups. */
export function infraSteps(t: Topology): Step[] {
  const all = infraNetns(t);
  const fabric = fabricNetns(t.runId);
  return [
    {
      name: 'create network namespaces',
      run: () => createNetns(all),
      undo: () => deleteNetns(all),
    },
    {
      name: 'quiet IPv6 and set routing sysctls',
      run: async () => {
        await Promise.all([
          sysctl(fabric, QUIET_SYSCTLS),
          ...t.nodes.map((n) => sysctl(nodeNetns(t.runId, n.name), NODE_SYSCTLS)),
          ...t.clients.map((c) => sysctl(clientNetns(t.runId, c.name), CLIENT_SYSCTLS)),
        ]);
      },
    },
    { name: 'build the fabric bridge and links', run: () => ipBatch(fabric, fabricLines(t)) },
    {
      name: 'address the nodes and route between them',
      run: async () => {
        await Promise.all(t.nodes.map((n) => ipBatch(nodeNetns(t.runId, n.name), nodeLines(t, n))));
      },
    },
    {
      name: 'address the external clients',
      run: async () => {
        await Promise.all(t.clients.map((c) => ipBatch(clientNetns(t.runId, c.name), clientLines(c))));
      },
    },
    {
      name: 'create the nodes’ cgroups',
      run: async () => {
        await Promise.all(
          t.nodes.map((n) => mkdir(`${runCgroupDir(t.runId)}/${n.name}`, { recursive: true })),
        );
      },
      undo: () => removeCgroups(t.runId),
    },
  ];
}

/** Removes the run's cgroup tree; cgroups must be empty, so their processes must be gone first. */
export async function removeCgroups(runId: string): Promise<void> {
  const dir = runCgroupDir(runId);
  let children: string[] = [];
  try {
    children = await readdir(dir, { withFileTypes: true }).then((es) =>
      es.filter((e) => e.isDirectory()).map((e) => e.name),
    );
  } catch {
    return;
  }
  for (const c of children) await rmdir(`${dir}/${c}`).catch(() => {});
  await rmdir(dir).catch(() => {});
}

/** Wires pods into their nodes: namespaces, veths, routes, proxy ARP. Undone by {@link removePods}. */
export async function createPods(t: Topology, pods: readonly PodInfo[]): Promise<void> {
  if (pods.length === 0) return;
  const netnsOf = (p: PodInfo) => podNetns(t.runId, p.hostIface);
  await createNetns(pods.map(netnsOf));
  await Promise.all(pods.map((p) => sysctl(netnsOf(p), QUIET_SYSCTLS)));
  const byNode = new Map<string, PodInfo[]>();
  for (const p of pods) byNode.set(p.nodeName, [...(byNode.get(p.nodeName) ?? []), p]);
  await Promise.all(
    [...byNode].map(async ([nodeName, nodePods]) => {
      const node = t.nodes.find((n) => n.name === nodeName);
      if (!node) throw new Error(`pod scheduled to unknown node ${nodeName}`);
      const netns = nodeNetns(t.runId, node.name);
      await ipBatch(
        netns,
        nodePods.flatMap((p) => podNodeLines(t.runId, p)),
      );
      await sysctl(netns, Object.assign({}, ...nodePods.map(podNodeSysctls)));
    }),
  );
  await Promise.all(pods.map((p) => ipBatch(netnsOf(p), podLines(p))));
}

/** Removes pods: their namespaces (and with them the veths and the node's /32 routes). */
export async function removePods(runId: string, pods: readonly PodInfo[]): Promise<void> {
  await deleteNetns(pods.map((p) => podNetns(runId, p.hostIface)));
}
