/**
 * The kernel state the eBPF dataplane puts in a node's network besides programs: the
 * collect-metadata VXLAN device and the `local` routes that make the node refuse services
 * without endpoints itself. Every command runs in the node's place.
 */
import type { Place } from '../../node/place.ts';
import { VXLAN_DEVICE, VXLAN_PORT } from './layout.ts';

/** Routing protocol number that marks our `local` routes, so that we find and remove only ours. */
export const LOCAL_ROUTE_PROTO = 201;

/** One interface of a place. */
export interface Link {
  name: string;
  ifindex: number;
  mtu: number;
}

/** The interfaces of a place. */
export async function listLinks(place: Place): Promise<Link[]> {
  const rows = await place.execJson<{ ifname: string; ifindex: number; mtu: number }[]>([
    'ip',
    '-j',
    'link',
    'show',
  ]);
  return rows.map((r) => ({ name: r.ifname, ifindex: r.ifindex, mtu: r.mtu }));
}

/**
 * Creates (if missing) and brings up the node's `vx` device with an MTU that leaves room for
 * the encapsulation on the node's interface (`mtu`); returns its ifindex.
 */
export async function ensureVxlan(node: Place, mtu: number): Promise<number> {
  const existing = (await listLinks(node)).find((l) => l.name === VXLAN_DEVICE);
  if (!existing) {
    await node.exec([
      'ip',
      'link',
      'add',
      VXLAN_DEVICE,
      'type',
      'vxlan',
      'external',
      'dstport',
      String(VXLAN_PORT),
    ]);
  }
  // The return path's bpf_fib_lookup refuses to route for a device with forwarding off.
  await node.exec(['sysctl', '-qw', `net.ipv4.conf.${VXLAN_DEVICE}.forwarding=1`]);
  await node.exec(['ip', 'link', 'set', VXLAN_DEVICE, 'mtu', String(mtu), 'up']);
  const link = (await listLinks(node)).find((l) => l.name === VXLAN_DEVICE);
  if (!link) throw new Error(`${VXLAN_DEVICE} missing in ${node.where} right after creating it`);
  return link.ifindex;
}

/** Reads a sysctl of a place (`net.ipv4.conf.lo.accept_local`). */
export async function readSysctl(place: Place, key: string): Promise<string> {
  return (await place.exec(['sysctl', '-n', key])).stdout.trim();
}

/** Sets a sysctl of a place. */
export async function writeSysctl(place: Place, key: string, value: string): Promise<void> {
  await place.exec(['sysctl', '-qw', `${key}=${value}`]);
}

/** Deletes the node's `vx` device if present. */
export async function removeVxlan(node: Place): Promise<void> {
  if ((await listLinks(node)).some((l) => l.name === VXLAN_DEVICE)) {
    await node.exec(['ip', 'link', 'del', VXLAN_DEVICE]);
  }
}

/** Normalises `ip -j route` destinations (`a.b.c.d` for a host route) to CIDR form. */
export function routeDstCidr(dst: string): string {
  return dst.includes('/') ? dst : `${dst}/32`;
}

/** Our `local` routes in a place. */
export async function listLocalRoutes(place: Place): Promise<string[]> {
  const rows = await place.execJson<{ dst: string }[]>([
    'ip',
    '-j',
    'route',
    'show',
    'table',
    'local',
    'proto',
    String(LOCAL_ROUTE_PROTO),
  ]);
  return rows.map((r) => routeDstCidr(r.dst));
}

/** The `ip -batch` lines that bring our local routes from `current` to `desired`. */
export function localRouteBatch(current: readonly string[], desired: readonly string[]): string[] {
  const want = new Set(desired);
  const have = new Set(current);
  const lines: string[] = [];
  for (const c of desired) {
    if (!have.has(c)) lines.push(`route replace local ${c} dev lo table local proto ${LOCAL_ROUTE_PROTO}`);
  }
  for (const c of current) {
    if (!want.has(c)) lines.push(`route del local ${c} dev lo table local proto ${LOCAL_ROUTE_PROTO}`);
  }
  return lines;
}

/** Makes our local routes exactly `cidrs`. */
export async function syncLocalRoutes(node: Place, cidrs: readonly string[]): Promise<void> {
  const lines = localRouteBatch(await listLocalRoutes(node), cidrs);
  if (lines.length > 0) await node.exec(['ip', '-batch', '-'], { input: `${lines.join('\n')}\n` });
}
