/**
 * The kernel state the eBPF dataplane puts in a node's network namespace besides programs:
 * the collect-metadata VXLAN device and the `local` routes that make the node refuse services
 * without endpoints itself. Every call runs in the node's namespace through nsenter.
 */
import { run, runJson } from '../../sys/exec.ts';
import { VXLAN_DEVICE, VXLAN_PORT } from './layout.ts';

/** Routing protocol number that marks our `local` routes, so that we find and remove only ours. */
export const LOCAL_ROUTE_PROTO = 201;

/** One interface of a namespace. */
export interface Link {
  name: string;
  ifindex: number;
}

/** The interfaces of a namespace. */
export async function listLinks(netns: string): Promise<Link[]> {
  const rows = await runJson<{ ifname: string; ifindex: number }[]>(['ip', '-j', 'link', 'show'], { netns });
  return rows.map((r) => ({ name: r.ifname, ifindex: r.ifindex }));
}

/** Creates (if missing) and brings up the node's `vx` device; returns its ifindex. */
export async function ensureVxlan(netns: string): Promise<number> {
  const existing = (await listLinks(netns)).find((l) => l.name === VXLAN_DEVICE);
  if (!existing) {
    await run(
      ['ip', 'link', 'add', VXLAN_DEVICE, 'type', 'vxlan', 'external', 'dstport', String(VXLAN_PORT)],
      {
        netns,
      },
    );
  }
  // The return path's bpf_fib_lookup refuses to route for a device with forwarding off.
  await run(['sysctl', '-qw', `net.ipv4.conf.${VXLAN_DEVICE}.forwarding=1`], { netns });
  await run(['ip', 'link', 'set', VXLAN_DEVICE, 'up'], { netns });
  const link = (await listLinks(netns)).find((l) => l.name === VXLAN_DEVICE);
  if (!link) throw new Error(`${VXLAN_DEVICE} missing in ${netns} right after creating it`);
  return link.ifindex;
}

/** Deletes the node's `vx` device if present. */
export async function removeVxlan(netns: string): Promise<void> {
  if ((await listLinks(netns)).some((l) => l.name === VXLAN_DEVICE)) {
    await run(['ip', 'link', 'del', VXLAN_DEVICE], { netns });
  }
}

/** Normalises `ip -j route` destinations (`a.b.c.d` for a host route) to CIDR form. */
export function routeDstCidr(dst: string): string {
  return dst.includes('/') ? dst : `${dst}/32`;
}

/** Our `local` routes in the namespace. */
export async function listLocalRoutes(netns: string): Promise<string[]> {
  const rows = await runJson<{ dst: string }[]>(
    ['ip', '-j', 'route', 'show', 'table', 'local', 'proto', String(LOCAL_ROUTE_PROTO)],
    { netns },
  );
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
export async function syncLocalRoutes(netns: string, cidrs: readonly string[]): Promise<void> {
  const lines = localRouteBatch(await listLocalRoutes(netns), cidrs);
  if (lines.length > 0) await run(['ip', '-batch', '-'], { netns, input: `${lines.join('\n')}\n` });
}
