/**
 * Deployments -> pods: how many replicas, on which node, with which address. Existing pods are
 * kept as they are (name, IP, node) as long as their Deployment still wants them; only the
 * difference is added or removed.
 */

import { cidrContains, formatIpv4, mustCidr4, parseIpv4 } from './ip.ts';
import { objectLabel } from './manifest.ts';
import type { ContainerPort, NodeState, PodState } from './model.ts';
import {
  hostIfaceName,
  nameSuffix,
  POD_TEMPLATE_HASH_LABEL,
  podName,
  type Random,
  templateHash,
} from './naming.ts';
import { POD_HOST_FIRST, POD_HOST_LAST } from './ranges.ts';
import type { DeploymentResource } from './resource.ts';

/** What scheduling decided. */
export interface SchedulePlan {
  /** Every pod after this round: kept pods in their old order, then new ones. */
  pods: PodState[];
  added: PodState[];
  removed: PodState[];
  /** Replicas that could not be placed, one line each. */
  errors: string[];
}

/** What a Deployment asks for, read once. */
interface Want {
  res: DeploymentResource;
  hash: string;
  replicas: number;
  labels: Record<string, string>;
  ports: ContainerPort[];
}

function wantOf(res: DeploymentResource): Want {
  const spec = res.object.spec!;
  const template = spec.template;
  const hash = templateHash(template);
  const ports: ContainerPort[] = [];
  for (const container of template.spec?.containers ?? []) {
    for (const p of container.ports ?? []) {
      const port: ContainerPort = {
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP',
      };
      if (p.name !== undefined) port.name = p.name;
      ports.push(port);
    }
  }
  return {
    res,
    hash,
    replicas: spec.replicas ?? 1,
    labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash },
    ports,
  };
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** Node addresses handed out this round and before, and the lowest free one. */
class NodeAddresses {
  readonly #network: number;
  readonly #used = new Set<number>();

  constructor(node: NodeState) {
    this.#network = mustCidr4(node.podCidr).network;
  }

  use(ip: string): void {
    const value = parseIpv4(ip);
    if (value !== undefined) this.#used.add(value);
  }

  /** Lowest free address from .2 to .254, or undefined when the node is full. */
  next(): string | undefined {
    for (let offset = POD_HOST_FIRST; offset <= POD_HOST_LAST; offset++) {
      const ip = (this.#network + offset) >>> 0;
      if (!this.#used.has(ip)) return formatIpv4(ip);
    }
    return undefined;
  }
}

function podFits(pod: PodState, node: NodeState | undefined): boolean {
  if (!node) return false;
  const ip = parseIpv4(pod.ip);
  return ip !== undefined && cidrContains(mustCidr4(node.podCidr), ip);
}

/**
 * Plans pods for the Deployments on the nodes, starting from the previous pods. Addresses of
 * pods removed in this round are not handed out again in the same round, so a replaced pod
 * never inherits its predecessor's address (and its conntrack entries).
 */
export function schedulePods(
  deployments: readonly DeploymentResource[],
  nodes: readonly NodeState[],
  previous: readonly PodState[],
  rng: Random,
): SchedulePlan {
  const nodeByName = new Map(nodes.map((n) => [n.name, n]));
  const wants = new Map(deployments.map((d) => [key(d.namespace, d.name), wantOf(d)]));
  const kept: PodState[] = [];
  const removed: PodState[] = [];
  for (const pod of previous) {
    const want = pod.owner === undefined ? undefined : wants.get(key(pod.namespace, pod.owner));
    const current = want !== undefined && pod.labels[POD_TEMPLATE_HASH_LABEL] === want.hash;
    (current && podFits(pod, nodeByName.get(pod.nodeName)) ? kept : removed).push(pod);
  }

  // Scale down: take from the node with the most of this Deployment, then the busiest, then
  // the highest index; on that node the newest pod goes first.
  const onNode = (pods: readonly PodState[], node: string) => pods.filter((p) => p.nodeName === node).length;
  for (const want of wants.values()) {
    const mine = () => kept.filter((p) => p.namespace === want.res.namespace && p.owner === want.res.name);
    let excess = mine().length - want.replicas;
    while (excess-- > 0) {
      const pods = mine();
      const victimNode = [...new Set(pods.map((p) => p.nodeName))]
        .map((name) => nodeByName.get(name)!)
        .sort(
          (a, b) =>
            onNode(pods, b.name) - onNode(pods, a.name) ||
            onNode(kept, b.name) - onNode(kept, a.name) ||
            b.index - a.index,
        )[0]!;
      const victim = pods.filter((p) => p.nodeName === victimNode.name).at(-1)!;
      kept.splice(kept.indexOf(victim), 1);
      removed.push(victim);
    }
  }

  const addresses = new Map(nodes.map((n) => [n.name, new NodeAddresses(n)]));
  for (const pod of previous) addresses.get(pod.nodeName)?.use(pod.ip);
  const takenNames = new Set(previous.map((p) => key(p.namespace, p.name)));
  const pods = [...kept];
  const added: PodState[] = [];
  const errors: string[] = [];
  const sorted = [...wants.values()].sort(
    (a, b) => a.res.namespace.localeCompare(b.res.namespace) || a.res.name.localeCompare(b.res.name),
  );
  for (const want of sorted) {
    const { namespace, name } = want.res;
    const mine = pods.filter((p) => p.namespace === namespace && p.owner === name);
    let missing = want.replicas - mine.length;
    while (missing > 0) {
      const candidates = nodes
        .map((n) => ({ node: n, ip: addresses.get(n.name)!.next() }))
        .filter((c) => c.ip !== undefined)
        .sort(
          (a, b) =>
            onNode(mine, a.node.name) - onNode(mine, b.node.name) ||
            onNode(pods, a.node.name) - onNode(pods, b.node.name) ||
            a.node.index - b.node.index,
        );
      const choice = candidates[0];
      if (!choice) {
        const why = nodes.length === 0 ? 'there are no nodes' : 'no node has a free pod address';
        errors.push(
          `${want.res.source.file}: ${objectLabel('Deployment', namespace, name)}: spec.replicas: ` +
            `${missing} of ${want.replicas} replicas not scheduled: ${why}`,
        );
        break;
      }
      let podNameText: string;
      do podNameText = podName(name, want.hash, nameSuffix(rng));
      while (takenNames.has(key(namespace, podNameText)));
      takenNames.add(key(namespace, podNameText));
      addresses.get(choice.node.name)!.use(choice.ip!);
      const pod: PodState = {
        namespace,
        name: podNameText,
        labels: { ...want.labels },
        nodeName: choice.node.name,
        ip: choice.ip!,
        owner: name,
        ports: want.ports.map((p) => ({ ...p })),
        hostIface: hostIfaceName(namespace, podNameText),
      };
      pods.push(pod);
      mine.push(pod);
      added.push(pod);
      missing--;
    }
  }
  return { pods, added, removed, errors };
}
