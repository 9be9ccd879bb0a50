/**
 * Chain names the way kube-proxy's iptables mode derives them, so that a rule set written here
 * reads like (and diffs against) one written by kube-proxy: a fixed prefix plus the first 16
 * characters of the base32 (RFC 4648, upper case) SHA-256 of the service port's identity.
 */
import { createHash } from 'node:crypto';
import type { Protocol } from '../../k8s/model.ts';

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Standard base32 without padding; the chain names only ever use a prefix of it. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** The 16-character hash kube-proxy puts after every per-service chain prefix. */
function chainHash(text: string): string {
  return base32(createHash('sha256').update(text).digest()).slice(0, 16);
}

/**
 * kube-proxy's name for a service port: `namespace/name` for an unnamed port, or
 * `namespace/name:portName`.
 */
export function servicePortName(namespace: string, name: string, portName?: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

/** The protocol as kube-proxy spells it in rules and hashes (`tcp`, `udp`). */
export function protoWord(protocol: Protocol): 'tcp' | 'udp' {
  return protocol === 'UDP' ? 'udp' : 'tcp';
}

/** Hash of a service port and protocol, shared by its SVC, SVL, EXT and FW chains. */
export function portProtoHash(servicePort: string, protocol: Protocol): string {
  return chainHash(servicePort + protoWord(protocol));
}

/** The per-service-port chains kube-proxy may create. */
export interface ServicePortChains {
  /** Spreads over every usable endpoint (traffic policy Cluster). */
  cluster: string;
  /** Spreads over this node's endpoints only (traffic policy Local). */
  local: string;
  /** Entry point for NodePort, externalIP and LoadBalancer traffic. */
  external: string;
  /** LoadBalancer source-range firewall (not produced: the model has no source ranges). */
  firewall: string;
}

/** The chain names of one service port. */
export function servicePortChains(servicePort: string, protocol: Protocol): ServicePortChains {
  const hash = portProtoHash(servicePort, protocol);
  return {
    cluster: `KUBE-SVC-${hash}`,
    local: `KUBE-SVL-${hash}`,
    external: `KUBE-EXT-${hash}`,
    firewall: `KUBE-FW-${hash}`,
  };
}

/** The KUBE-SEP chain of one endpoint (`ip:port`) of a service port. */
export function endpointChainName(servicePort: string, protocol: Protocol, endpoint: string): string {
  return `KUBE-SEP-${chainHash(servicePort + protoWord(protocol) + endpoint)}`;
}

/**
 * The `--probability` for the i-th of n endpoint rules is 1/(n-i): each rule takes its share of
 * what earlier rules left, so every endpoint ends up with 1/n. Ten decimals, as kube-proxy prints.
 */
export function probability(remaining: number): string {
  return (1 / remaining).toFixed(10);
}
