/**
 * Pods inside node containers, wired as on the netns provider (the same lines: a network
 * namespace per pod in its node, a `cali*` veth, a /32 route and proxy ARP on the node side, the
 * link-local gateway on the pod side), only made from inside the node.
 */
import { readdir, readlink, stat } from 'node:fs/promises';
import { stopProcesses } from '../../sys/process.ts';
import { podLines, podNodeLines, podNodeSysctls, QUIET_SYSCTLS } from '../netns/plan.ts';
import type { PodInfo, Topology } from '../types.ts';
import { containerPid } from './containers.ts';
import { containerNetnsPath, ipBatchIn, nodePlace, podNetnsName, podPlace } from './places.ts';
import { containerName } from './plan.ts';

function byNode(pods: readonly PodInfo[]): Map<string, PodInfo[]> {
  const out = new Map<string, PodInfo[]>();
  for (const p of pods) out.set(p.nodeName, [...(out.get(p.nodeName) ?? []), p]);
  return out;
}

function sysctlArgv(settings: Readonly<Record<string, number>>): string[] {
  return ['sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)];
}

function nodeOf(t: Topology, name: string) {
  const node = t.nodes.find((n) => n.name === name);
  if (!node) throw new Error(`pod scheduled to unknown node ${name}`);
  return node;
}

/** Wires pods into their nodes. Undone by {@link removeContainerPods}. */
export async function addContainerPods(t: Topology, pods: readonly PodInfo[]): Promise<void> {
  if (pods.length === 0) return;
  await Promise.all(
    [...byNode(pods)].map(async ([nodeName, onNode]) => {
      const node = nodePlace(t, nodeOf(t, nodeName));
      await ipBatchIn(
        node,
        onNode.map((p) => `netns add ${podNetnsName(t.runId, p)}`),
      );
      await Promise.all(onNode.map((p) => podPlace(t, p).exec(sysctlArgv(QUIET_SYSCTLS))));
      await ipBatchIn(
        node,
        onNode.flatMap((p) => podNodeLines(t.runId, p)),
      );
      await node.exec(sysctlArgv(Object.assign({}, ...onNode.map(podNodeSysctls))));
    }),
  );
  await Promise.all(pods.map((p) => ipBatchIn(podPlace(t, p), podLines(p))));
}

/** Pids of every process of this machine whose network namespace is one of those at `paths`. */
export async function pidsInNetns(paths: readonly string[]): Promise<number[]> {
  const inodes = await Promise.all(
    paths.map((p) =>
      stat(p).then(
        (s) => `net:[${s.ino}]`,
        () => undefined,
      ),
    ),
  );
  const wanted = new Set(inodes.filter((i): i is string => i !== undefined));
  if (wanted.size === 0) return [];
  const pids: number[] = [];
  // One pass over /proc, however many pods go.
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const ns = await readlink(`/proc/${entry}/ns/net`).catch(() => '');
    if (wanted.has(ns)) pids.push(Number(entry));
  }
  return pids;
}

/** Stops whatever runs in the pods, then removes their namespaces (and with them veths and routes). */
export async function removeContainerPods(t: Topology, pods: readonly PodInfo[]): Promise<void> {
  if (pods.length === 0) return;
  await Promise.all(
    [...byNode(pods)].map(async ([nodeName, onNode]) => {
      let pid: number;
      try {
        pid = containerPid(t.runId, containerName(t.runId, nodeName));
      } catch {
        return; // The node is gone, and its pods with it.
      }
      const names = onNode.map((p) => podNetnsName(t.runId, p));
      await stopProcesses(await pidsInNetns(names.map((n) => containerNetnsPath(pid, n))));
      // -force keeps going past a namespace that is already gone.
      await nodePlace(t, nodeOf(t, nodeName)).exec(['ip', '-force', '-batch', '-'], {
        input: `${names.map((n) => `netns del ${n}`).join('\n')}\n`,
        reject: false,
      });
    }),
  );
}
