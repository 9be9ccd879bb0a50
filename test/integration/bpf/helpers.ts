/**
 * What the eBPF integration tests share beyond the lab: small map sizes, the object loaded by
 * hand on a node place with typed map writers, and the test build's record of its last send.
 */
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
import { listLinks } from '../../../src/dataplane/bpf/node-kernel.ts';
import type { NodePlace } from '../../../src/node/place.ts';

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

/**
 * A node's configuration record for the tests: short conntrack timeouts, Kubernetes' affinity
 * default, no flags unless given.
 */
export function testConfig(nodeIp: string, vxIfindex = 0, more: Partial<NodeConfig> = {}): NodeConfig {
  return { nodeIp, vxIfindex, flags: 0, tcpTimeoutS: 300, udpTimeoutS: 60, affinityTimeoutS: 10800, ...more };
}

/** One copy of the object loaded by hand on a node, with typed writers for its maps. */
export interface LoadedNode {
  /** The node it is loaded on: its maps are read and its programs run there. */
  node: NodePlace;
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

/**
 * Builds (test flavour by default) and loads the object under the node's own pin directory,
 * with nothing attached: the programs only run through BPF_PROG_TEST_RUN in the node.
 */
export async function loadNode(
  node: NodePlace,
  opts: { test?: boolean; sizes?: BpfMapSizes } = {},
): Promise<LoadedNode> {
  const build = await buildBpf({
    sizes: opts.sizes ?? SMALL_SIZES,
    test: opts.test ?? true,
    ...bpfSourceOverride(),
  });
  const object = build.objects.dpc;
  if (!object) throw new Error(`bpf build produced no dpc.o in ${build.dir}`);
  const pins = nodePins(node.bpffsDir);
  await node.fs.mkdir(pins.progDir);
  await node.fs.mkdir(pins.mapDir);
  await loadAll(node, object, pins.progDir, pins.mapDir);
  const put = (map: string, key: Uint8Array, value: Uint8Array) =>
    runBatch(node, [{ op: 'update', pin: mapPin(pins, map), key, value } satisfies BatchOp]);
  return {
    node,
    pins,
    frontend: (k, v) => put(MAP.natFrontend, encodeFrontendKey(k), encodeFrontendValue(v)),
    backend: (k, v) => put(MAP.natBackend, encodeBackendKey(k), encodeBackendValue(v)),
    route: (k, v) => put(MAP.routes, encodeRouteKey(k), encodeRouteValue(v)),
    conntrack: (k, v) => put(MAP.conntrack, encodeCtKey(k), encodeCtValue(v)),
    config: (c) => put(MAP.config, encodeU32(0), encodeConfig(c)),
    dsrOptout: (cidr, present = true) =>
      present
        ? put(MAP.dsrOptout, encodeDsrOptoutKey(cidr), encodeU32(1))
        : runBatch(node, [{ op: 'delete', pin: mapPin(pins, MAP.dsrOptout), key: encodeDsrOptoutKey(cidr) }]),
    tunnelIn: (remote, vni) => {
      const v = new Uint8Array(8);
      const d = new DataView(v.buffer);
      d.setUint32(0, remote, true);
      d.setUint32(4, vni, true);
      return put(TEST_MAP.tunnelIn, encodeU32(0), v);
    },
  };
}

/** The ifindex of an interface of a node (e.g. where its FIB sends traffic for the node network). */
export async function ifindexOf(node: NodePlace, iface: string): Promise<number> {
  const link = (await listLinks(node)).find((l) => l.name === iface);
  if (!link) throw new Error(`no interface ${iface} in ${node.where}`);
  return link.ifindex;
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

/** Reads (and then clears) the test build's record of its last send on a node. */
export async function takeSent(loaded: LoadedNode): Promise<Sent> {
  const pin = mapPin(loaded.pins, TEST_MAP.sent);
  const v = await lookupMap(loaded.node, pin, encodeU32(0));
  if (!v) throw new Error(`no cali_test_tx entry in ${loaded.node.where}`);
  const d = new DataView(v.buffer, v.byteOffset, v.byteLength);
  await runBatch(loaded.node, [{ op: 'update', pin, key: encodeU32(0), value: new Uint8Array(16) }]);
  return {
    remoteHostOrder: d.getUint32(0, true),
    vni: d.getUint32(4, true),
    ifindex: d.getUint32(8, true),
    calls: d.getUint32(12, true),
  };
}
