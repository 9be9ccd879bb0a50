/**
 * Plain-text tables for the terminal: the CLI's human output.
 */
import type { Topology } from '../cluster/types.ts';
import type { ClusterModel } from '../k8s/model.ts';

/** Renders rows as aligned columns with a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The topology as `dpconform up` and `status` print it. */
export function formatTopology(t: Topology): string {
  const rows: string[][] = [
    ...t.nodes.map((n) => ['node', n.name, n.where, n.iface, n.ip, n.podCidr]),
    ...t.clients.map((c) => ['client', c.name, c.where, c.iface, c.ip, '']),
    ...t.pods.map((p) => [
      'pod',
      `${p.namespace}/${p.name}`,
      p.where,
      `${p.iface} (${p.hostIface} on ${p.nodeName})`,
      p.ip,
      '',
    ]),
  ];
  return [
    `run ${t.runId} (provider ${t.provider}, node network ${t.network})`,
    `services ${t.serviceCidr}, pods ${t.clusterCidr}, LoadBalancer VIPs ${t.vipPool}`,
    '',
    table(['KIND', 'NAME', 'WHERE', 'INTERFACE', 'ADDRESS', 'POD CIDR'], rows),
  ].join('\n');
}

/** Services with their allocations and endpoint counts. */
export function formatServices(m: ClusterModel): string {
  const rows = m.services.map((s) => {
    const eps = m.endpoints.find((e) => e.namespace === s.namespace && e.serviceName === s.name);
    const ports = s.ports
      .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol}`)
      .join(',');
    const ready = new Set(eps?.ports.flatMap((p) => p.endpoints.filter((e) => e.ready).map((e) => e.ip)));
    return [
      `${s.namespace}/${s.name}`,
      s.type,
      s.clusterIP,
      [...(s.loadBalancerIP ? [s.loadBalancerIP] : []), ...s.externalIPs].join(',') || '-',
      ports,
      s.externalTrafficPolicy,
      String(ready.size),
    ];
  });
  return table(['SERVICE', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'ETP', 'ENDPOINTS'], rows);
}
