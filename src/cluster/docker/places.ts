/**
 * Places in containers: the only code of the docker provider that knows how to enter one. A
 * command run in a node or client enters the container's network, mount and pid namespaces
 * (`nsenter -t <pid> -n -m -p`), so it runs the container's own tools over its own files; a
 * program of this machine spawned there (an agent, tcpdump, a metrics server) enters only the
 * network and keeps this machine's files. A pod is a network namespace inside its node, reached
 * from here through the node's root (`/proc/<pid>/root/run/netns/<pod>`).
 *
 * Each node sees this machine's bpffs and its own cgroup at the paths this machine uses (bind
 * mounts, as kind/dpc-3node.yaml gives kind's nodes bpffs), so a pin or a cgroup has one name for
 * commands in the node and for this machine's programs that read it (the metrics server).
 */
import type { NodePlace, Place } from '../../node/place.ts';
import { wrappedNode, wrappedPlace } from '../../node/wrapped.ts';
import { CommandError } from '../../sys/exec.ts';
import { podNetns, runBpffsDir, runCgroupDir } from '../netns/address-plan.ts';
import type { ClientInfo, NodeInfo, PodInfo, Topology } from '../types.ts';
import { containerPid } from './containers.ts';
import { containerName } from './plan.ts';

/**
 * Prefixes an argv to run inside a container: its network, its files, its processes' view.
 * TMPDIR is dropped: this machine's scratch directory (a run's suites have one of their own)
 * does not exist in the container's files, and programs that keep temporary files there
 * (iperf3's stream buffers) would fail.
 */
export function enterContainer(pid: number, argv: readonly string[]): string[] {
  return ['nsenter', '-t', String(pid), '-n', '-m', '-p', '--', 'env', '-u', 'TMPDIR', ...argv];
}

/** Prefixes an argv of this machine's program to run in a container's network only. */
export function enterContainerNetwork(pid: number, argv: readonly string[]): string[] {
  return ['nsenter', '-t', String(pid), '-n', '--', ...argv];
}

/** The path, from this machine, of a network namespace a container named in its /run/netns. */
export function containerNetnsPath(pid: number, netns: string): string {
  return `/proc/${pid}/root/run/netns/${netns}`;
}

/** Prefixes an argv of this machine's program to run in a pod's network. */
export function enterPod(pid: number, netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${containerNetnsPath(pid, netns)}`, '--', ...argv];
}

/** Where a node of the run pins, on this machine and in the node alike. */
export function nodeBpffsDir(runId: string, node: string): string {
  return `${runBpffsDir(runId)}/${node}`;
}

/** The cgroup of a node's own processes, on this machine and in the node alike. */
export function nodeCgroupDir(runId: string, node: string): string {
  return `${runCgroupDir(runId)}/${node}`;
}

/** How commands and programs enter a container of the run (its pid is read when they start). */
function entering(runId: string, container: string) {
  const pid = () => containerPid(runId, container);
  return {
    where: `container ${container}`,
    wrap: (argv: readonly string[]) => enterContainer(pid(), argv),
    wrapSpawn: (argv: readonly string[]) => enterContainerNetwork(pid(), argv),
  };
}

/** A node's place. */
export function nodePlace(t: Topology, node: NodeInfo): NodePlace {
  return wrappedNode(node, {
    ...entering(t.runId, containerName(t.runId, node.name)),
    bpffsDir: nodeBpffsDir(t.runId, node.name),
    cgroupDir: nodeCgroupDir(t.runId, node.name),
  });
}

/** An external client's place. */
export function clientPlace(t: Topology, client: ClientInfo): Place {
  return wrappedPlace({
    name: client.name,
    kind: 'client',
    ...entering(t.runId, containerName(t.runId, client.name)),
  });
}

/** The network namespace of a pod, as its node names it. */
export function podNetnsName(runId: string, pod: Pick<PodInfo, 'hostIface'>): string {
  return podNetns(runId, pod.hostIface);
}

/**
 * A pod's place: this machine's commands and programs in the pod's network (as on the netns
 * provider, a pod has no files of its own).
 */
export function podPlace(t: Topology, pod: PodInfo): Place {
  const container = containerName(t.runId, pod.nodeName);
  const netns = podNetnsName(t.runId, pod);
  const wrap = (argv: readonly string[]) => enterPod(containerPid(t.runId, container), netns, argv);
  return wrappedPlace({
    name: `${pod.namespace}/${pod.name}`,
    kind: 'pod',
    where: `netns ${netns} in container ${container}`,
    wrap,
  });
}

/**
 * Runs `ip -batch` in a place; a failure names the line it failed on (`ip` only says
 * `Command failed -:N`), so that the error can be read without the input at hand.
 */
export async function ipBatchIn(place: Place, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  try {
    await place.exec(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
  } catch (err) {
    const n = err instanceof CommandError ? /Command failed -:(\d+)/.exec(err.stderr)?.[1] : undefined;
    if (!(err instanceof CommandError) || n === undefined) throw err;
    throw new CommandError({
      argv: err.argv,
      exitCode: err.exitCode,
      stdout: err.stdout,
      stderr: `${err.stderr.split('\n')[0]} [input: ${lines[Number(n) - 1]}]\n${err.stderr}`,
      cause: err,
    });
  }
}
