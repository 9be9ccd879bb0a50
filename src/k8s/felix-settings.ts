/**
 * The dataplane vocabulary every layer shares: which dataplane runs, how external traffic reaches
 * a remote backend, and the FelixConfiguration settings with Calico's defaults. It sits on the
 * lowest floor so that the object model, the dataplanes and the report can all speak it.
 */

/** Which dataplane programs a cluster's services and policy. */
export type DataplaneMode = 'iptables' | 'bpf';

/** How external traffic to a service reaches a remote backend (FelixConfiguration wording). */
export type ServiceMode = 'Tunnel' | 'DSR';

/**
 * FelixConfiguration `spec` after validation, with every default filled in. Field names are
 * Calico's, so that the seed guide's YAML applies as written.
 */
export interface FelixSettings {
  bpfEnabled: boolean;
  bpfExternalServiceMode: ServiceMode;
  bpfDSROptoutCIDRs: string[];
  bpfDataIfacePattern: string;
  bpfLogLevel: 'Off' | 'Info' | 'Debug';
  bpfConnectTimeLoadBalancingEnabled: boolean;
  bpfHostNetworkedNATWithoutCTLB: 'Enabled' | 'Disabled';
  bpfPSNATPorts: string;
  bpfMapSizeNATFrontend: number;
  bpfMapSizeNATBackend: number;
  bpfMapSizeNATAffinity: number;
  bpfMapSizeRoute: number;
  bpfMapSizeConntrack: number;
  bpfKubeProxyIptablesCleanupEnabled: boolean;
  bpfKubeProxyEndpointSlicesEnabled: boolean;
  /** Ports to the host that no host endpoint policy can close, so a bad policy cannot cut a node off. */
  failsafeInboundHostPorts: ProtoPort[];
  /** Ports the host may always connect to, whatever its host endpoint policy says. */
  failsafeOutboundHostPorts: ProtoPort[];
}

/** One failsafe port: protocol and port, optionally only for peers in `net`. */
export interface ProtoPort {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  /** Inbound: the source must be in this CIDR; outbound: the destination. */
  net?: string;
}

const tcp = (port: number): ProtoPort => ({ protocol: 'TCP', port });
const udp = (port: number): ProtoPort => ({ protocol: 'UDP', port });

/** Calico's defaults for the settings above (the seed guide's interface pattern). */
export const DEFAULT_FELIX_SETTINGS: Readonly<FelixSettings> = Object.freeze({
  bpfEnabled: true,
  bpfExternalServiceMode: 'Tunnel',
  bpfDSROptoutCIDRs: [],
  bpfDataIfacePattern: '^(en.*|eth.*|tunl0)$',
  bpfLogLevel: 'Off',
  bpfConnectTimeLoadBalancingEnabled: true,
  bpfHostNetworkedNATWithoutCTLB: 'Enabled',
  bpfPSNATPorts: '20000-29999',
  bpfMapSizeNATFrontend: 65536,
  bpfMapSizeNATBackend: 262144,
  bpfMapSizeNATAffinity: 65536,
  bpfMapSizeRoute: 262144,
  bpfMapSizeConntrack: 512000,
  bpfKubeProxyIptablesCleanupEnabled: true,
  bpfKubeProxyEndpointSlicesEnabled: true,
  // Calico's defaults: SSH, DHCP, DNS, BGP, etcd (2379, 2380, 6666, 6667), Typha, the API server.
  failsafeInboundHostPorts: [22, 179, 2379, 2380, 5473, 6443, 6666, 6667].map(tcp).concat(udp(68)),
  failsafeOutboundHostPorts: [udp(53), udp(67), ...[179, 2379, 2380, 5473, 6443, 6666, 6667].map(tcp)],
});

/** The `bpfMapSize*` fields that differ between two settings, as `field old -> new`. */
export function mapSizeChanges(before: FelixSettings, after: FelixSettings): string[] {
  const fields = [
    'bpfMapSizeNATFrontend',
    'bpfMapSizeNATBackend',
    'bpfMapSizeNATAffinity',
    'bpfMapSizeRoute',
    'bpfMapSizeConntrack',
  ] as const;
  return fields.filter((f) => before[f] !== after[f]).map((f) => `${f} ${before[f]} -> ${after[f]}`);
}
