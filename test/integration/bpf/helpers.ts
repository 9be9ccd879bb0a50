/**
 * Shared set-up for the eBPF integration tests: unique names, a loaded object with typed map
 * writers, throw-away network namespaces.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { type BatchOp, loadAll, lookupMap, runBatch } from '../../../src/dataplane/bpf/bpftool.ts';
import { type BpfMapSizes, buildBpf } from '../../../src/dataplane/bpf/build.ts';
import {
  type BackendKey,
  type BackendValue,
  type CtKey,
  type CtValue,
  encodeBackendKey,
  encodeBackendValue,
  encodeConfig,
  encodeCtKey,
  encodeCtValue,
  encodeDsrOptoutKey,
  encodeFrontendKey,
  encodeFrontendValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeU32,
  type FrontendKey,
  type FrontendValue,
  type NodeConfig,
  type RouteKey,
  type RouteValue,
} from '../../../src/dataplane/bpf/encoding.ts';
import { MAP, TEST_MAP } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin, type NodePins, nodePins } from '../../../src/dataplane/bpf/maps.ts';
import { run } from '../../../src/sys/exec.ts';

/** A fresh `dpc-t<hex>` tag for this test's namespaces and pins. */
export function testTag(): string {
  return `dpc-t${randomBytes(4).toString('hex')}`;
}

/**
 * `DPC_BPF_SOURCE_DIR` runs the tests against another copy of bpf/ (used to check that each
 * test fails when the C is broken on purpose).
 */
export function bpfSourceOverride(): { sourceDir?: string } {
  const dir = process.env.DPC_BPF_SOURCE_DIR;
  return dir ? { sourceDir: dir } : {};
}

/** Small maps, so that tests load fast and can fill them. */
export const SMALL_SIZES: BpfMapSizes = {
  natFrontend: 64,
  natBackend: 256,
  natAffinity: 64,
  route: 64,
  conntrack: 128,
};

/** One loaded copy of the object, as one node would have it. */
export interface LoadedNode {
  pins: NodePins;
  frontend(k: FrontendKey, v: FrontendValue): Promise<void>;
  backend(k: BackendKey, v: BackendValue): Promise<void>;
  route(k: RouteKey, v: RouteValue): Promise<void>;
  conntrack(k: CtKey, v: CtValue): Promise<void>;
  config(c: NodeConfig): Promise<void>;
  /** Adds (or with `present` false removes) a bpfDSROptoutCIDRs entry. */
  dsrOptout(cidr: string, present?: boolean): Promise<void>;
  /** Test builds: the tunnel key the vx hook will believe it received. */
  tunnelIn(remoteHostOrder: number, vni: number): Promise<void>;
}

/** Builds (test flavour by default) and loads the object under `/sys/fs/bpf/<tag>/<node>`. */
export async function loadNode(
  tag: string,
  node: string,
  opts: { test?: boolean; sizes?: BpfMapSizes } = {},
) {
  const build = await buildBpf({
    sizes: opts.sizes ?? SMALL_SIZES,
    test: opts.test ?? true,
    ...bpfSourceOverride(),
  });
  const pins = nodePins(`/sys/fs/bpf/${tag}`, node);
  await mkdir(pins.progDir, { recursive: true });
  await mkdir(pins.mapDir, { recursive: true });
  await loadAll(build.objects.dpc!, pins.progDir, pins.mapDir);
  const put = (map: string, key: Uint8Array, value: Uint8Array) =>
    runBatch([{ op: 'update', pin: mapPin(pins, map), key, value } satisfies BatchOp]);
  const loaded: LoadedNode = {
    pins,
    frontend: (k, v) => put(MAP.natFrontend, encodeFrontendKey(k), encodeFrontendValue(v)),
    backend: (k, v) => put(MAP.natBackend, encodeBackendKey(k), encodeBackendValue(v)),
    route: (k, v) => put(MAP.routes, encodeRouteKey(k), encodeRouteValue(v)),
    conntrack: (k, v) => put(MAP.conntrack, encodeCtKey(k), encodeCtValue(v)),
    config: (c) => put(MAP.config, encodeU32(0), encodeConfig(c)),
    dsrOptout: (cidr, present = true) =>
      present
        ? put(MAP.dsrOptout, encodeDsrOptoutKey(cidr), encodeU32(1))
        : runBatch([{ op: 'delete', pin: mapPin(pins, MAP.dsrOptout), key: encodeDsrOptoutKey(cidr) }]),
    tunnelIn: (remote, vni) => {
      const v = new Uint8Array(8);
      const d = new DataView(v.buffer);
      d.setUint32(0, remote, true);
      d.setUint32(4, vni, true);
      return put(TEST_MAP.tunnelIn, encodeU32(0), v);
    },
  };
  return loaded;
}

/** Removes every pin under `/sys/fs/bpf/<tag>`. */
export async function removePins(tag: string): Promise<void> {
  await rm(`/sys/fs/bpf/${tag}`, { recursive: true, force: true });
}

/** Creates a network namespace (name must start with `dpc`). */
export async function addNetns(name: string): Promise<void> {
  if (!name.startsWith('dpc')) throw new Error(`test namespace without dpc prefix: ${name}`);
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', 'link', 'set', 'lo', 'up'], { netns: name });
}

/** Deletes a network namespace if it exists. */
export async function delNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name], { reject: false });
}

/** An IPv4 address as the host-order u32 the tunnel key holds. */
export function hostOrder(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** What a test build recorded of its last tunnel send or redirect. */
export interface Sent {
  remoteHostOrder: number;
  vni: number;
  ifindex: number;
  calls: number;
}

/** Reads (and then clears) the test build's record of its last send. */
export async function takeSent(pins: NodePins): Promise<Sent> {
  const pin = mapPin(pins, TEST_MAP.sent);
  const v = await lookupMap(pin, encodeU32(0));
  if (!v) throw new Error('no dpc_test_tx entry');
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  await runBatch([{ op: 'update', pin, key: encodeU32(0), value: new Uint8Array(16) }]);
  return {
    remoteHostOrder: d.getUint32(0, true),
    vni: d.getUint32(4, true),
    ifindex: d.getUint32(8, true),
    calls: d.getUint32(12, true),
  };
}
