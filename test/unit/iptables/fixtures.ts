/**
 * Small builders for cluster models and a stand-in for iptables-restore, so the renderers can
 * be checked against what a node would hold after applying their output.
 */
import {
  parseIptablesSave,
  type SavedTable,
  splitRuleWords,
} from '../../../src/dataplane/iptables/save-parse.ts';
import type {
  ClusterModel,
  EndpointsState,
  Protocol,
  ServicePortState,
  ServiceState,
} from '../../../src/k8s/model.ts';

/** A Service with sensible defaults for the fields a test does not care about. */
export function service(
  fields: Partial<ServiceState> & Pick<ServiceState, 'name' | 'clusterIP'> & { ports?: ServicePortState[] },
): ServiceState {
  return {
    namespace: 'default',
    type: 'ClusterIP',
    externalIPs: [],
    externalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    ...fields,
  };
}

/** Endpoints of one Service port: `[ip, nodeName]` pairs, all ready unless marked. */
export function endpoints(
  name: string,
  list: [ip: string, node: string, ready?: boolean][],
  port: { portName?: string; protocol?: Protocol; port?: number } = {},
  namespace = 'default',
): EndpointsState {
  return {
    namespace,
    serviceName: name,
    ports: [
      {
        portName: port.portName ?? '',
        protocol: port.protocol ?? 'TCP',
        port: port.port ?? 8080,
        endpoints: list.map(([ip, nodeName, ready], i) => ({
          ip,
          nodeName,
          podName: `${name}-${i}`,
          ready: ready ?? true,
        })),
      },
    ],
  };
}

/** A two-node cluster model with kind's address plan. */
export function model(services: ServiceState[], eps: EndpointsState[] = []): ClusterModel {
  return {
    nodes: [
      { name: 'n0', index: 0, ip: '172.18.0.2', podCidr: '10.244.0.0/24' },
      { name: 'n1', index: 1, ip: '172.18.0.3', podCidr: '10.244.1.0/24' },
    ],
    pods: [],
    services,
    endpoints: eps,
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
}

/** The rule lines of one chain in restore text, without the `-A <chain> ` prefix. */
export function rulesOf(text: string, chain: string): string[] {
  const prefix = `-A ${chain} `;
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

/** Chains declared in restore text. */
export function declared(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(':'))
    .map((l) => l.slice(1).split(' ')[0] as string);
}

const BUILTINS: Record<string, string[]> = {
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** An iptables-save dump of a table holding only its built-in chains (and extra lines). */
export function savedTable(table: 'nat' | 'filter', extra: string[] = []): SavedTable {
  const lines = [
    `*${table}`,
    ...(BUILTINS[table] ?? []).map((c) => `:${c} ACCEPT [0:0]`),
    ...extra,
    'COMMIT',
  ];
  return parseIptablesSave(lines.join('\n')).get(table) as SavedTable;
}

/**
 * What a node's table looks like after `iptables-restore --noflush` of `text`, following the
 * rules the real tool follows: a declaration creates or flushes, -I/-A/-D edit, -X deletes (and
 * fails on a chain still referenced). Throws where the real restore would fail.
 */
export function applyRestore(current: SavedTable, text: string): SavedTable {
  const chains = new Map(current.chains);
  const rules = new Map<string, string[]>();
  for (const c of chains.keys()) rules.set(c, []);
  for (const r of current.rules) rules.get(r.chain)?.push(r.spec);
  const must = (chain: string): string[] => {
    const list = rules.get(chain);
    if (!list) throw new Error(`no chain ${chain}`);
    return list;
  };
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('*') || line === 'COMMIT') continue;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(' ') as [string, string];
      if (!chains.has(name)) chains.set(name, policy);
      if (policy === '-') rules.set(name, []);
      continue;
    }
    const [op, chain, ...rest] = line.split(' ') as [string, string, ...string[]];
    if (op === '-A') must(chain).push(rest.join(' '));
    else if (op === '-I') must(chain).splice(Number(rest[0]) - 1, 0, rest.slice(1).join(' '));
    else if (op === '-D') {
      const list = must(chain);
      const at = list.indexOf(rest.join(' '));
      if (at < 0) throw new Error(`-D: no such rule in ${chain}: ${rest.join(' ')}`);
      list.splice(at, 1);
    } else if (op === '-X') {
      if (must(chain).length > 0) throw new Error(`-X ${chain}: chain not empty`);
      for (const [other, list] of rules) {
        if (list.some((spec) => targetOf(spec) === chain))
          throw new Error(`-X ${chain}: referenced from ${other}`);
      }
      chains.delete(chain);
      rules.delete(chain);
    } else if (op === '-S') {
      // read-only
    } else {
      throw new Error(`unexpected restore line: ${line}`);
    }
  }
  for (const [chain, list] of rules) {
    for (const spec of list) {
      const target = targetOf(spec);
      if (target?.startsWith('KUBE-') && !chains.has(target))
        throw new Error(`${chain} jumps to missing ${target}`);
    }
  }
  const lines = [`*${current.name}`];
  for (const [c, p] of chains) lines.push(`:${c} ${p} [0:0]`);
  for (const [c, list] of rules) for (const spec of list) lines.push(`-A ${c} ${spec}`);
  lines.push('COMMIT');
  return parseIptablesSave(lines.join('\n')).get(current.name) as SavedTable;
}

function targetOf(spec: string): string | undefined {
  const words = splitRuleWords(spec);
  const i = words.indexOf('-j');
  return i >= 0 ? words[i + 1] : undefined;
}
