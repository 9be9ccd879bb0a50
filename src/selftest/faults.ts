/**
 * The faults `dpconform selftest` puts into a copy of the dataplane, one at a time: small,
 * realistic bugs in the C of bpf/ and in the control plane that programs it, each with the
 * requirements that must catch it. When the source moves on and an edit no longer applies, the
 * self-test (and its unit test) names the fault to update.
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the edits are source code, template literals included
import type { PassMode } from '../report/model.ts';
import type { Fault } from './fault.ts';

const TUNNEL: PassMode = { dataplane: 'bpf', serviceMode: 'Tunnel' };
const DSR: PassMode = { dataplane: 'bpf', serviceMode: 'DSR' };

/** Every fault of the self-test, in the order of the areas they break. */
export const FAULTS: readonly Fault[] = [
  {
    id: 'target-port-ignored',
    summary: "backends are programmed with the Service's port instead of the endpoints' target port",
    mode: TUNNEL,
    catches: ['NP-001', 'NP-002', 'LB-001', 'LB-002'],
    edits: [
      {
        file: 'src/dataplane/bpf/plan.ts',
        find: 'out.push({ ip: e.ip, port: ep.port, nodeName: e.nodeName });',
        replace: 'out.push({ ip: e.ip, port: port.port, nodeName: e.nodeName });',
      },
    ],
  },
  {
    id: 'service-ids-by-port',
    summary:
      'backend sets are keyed by port and protocol, not by Service: Services on the same port share backends',
    mode: TUNNEL,
    catches: ['NP-002', 'LB-002', 'DSR-001'],
    edits: [
      {
        file: 'src/dataplane/bpf/plan.ts',
        find: 'const id = ids.idFor(`${portKey}:${variant}`);',
        replace: 'const id = ids.idFor(`${port.protocol}:${port.port}:${variant}`);',
      },
    ],
  },
  {
    id: 'etp-local-refused',
    summary: 'externalTrafficPolicy Local without a local endpoint falls through to the stack, which refuses',
    mode: TUNNEL,
    catches: ['NP-004', 'LB-003'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: '\t\t\t*reason = DPC_R_DROP_NO_LOCAL_EP;\n\t\t\treturn TC_ACT_SHOT;',
        replace: '\t\t\t*reason = DPC_R_DROP_NO_LOCAL_EP;\n\t\t\treturn TC_ACT_OK;',
      },
    ],
  },
  {
    id: 'etp-local-miscounted',
    summary: 'externalTrafficPolicy Local drops are counted as "no backend" instead of "no local endpoint"',
    mode: TUNNEL,
    catches: ['NP-004', 'LB-003'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: '\t\t\t*reason = DPC_R_DROP_NO_LOCAL_EP;\n\t\t\treturn TC_ACT_SHOT;',
        replace: '\t\t\t*reason = DPC_R_DROP_NO_BACKEND;\n\t\t\treturn TC_ACT_SHOT;',
      },
    ],
  },
  {
    id: 'no-endpoints-dropped',
    summary: 'a Service without endpoints drops its traffic instead of refusing it',
    mode: TUNNEL,
    catches: ['NP-005', 'NP-007'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: "\t\t/* No endpoint anywhere: the node's own stack refuses (RST / port unreachable). */\n\t\treturn TC_ACT_OK;",
        replace: '\t\t*reason = DPC_R_DROP_NO_BACKEND;\n\t\treturn TC_ACT_SHOT;',
      },
    ],
  },
  {
    id: 'rebalance-every-packet',
    summary:
      'conntrack is not consulted for established flows: every packet is balanced anew (by the same tuple hash)',
    mode: TUNNEL,
    catches: ['NP-008'],
    edits: [
      {
        file: 'bpf/lib/hooks-host.h',
        find: '\tif (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, &p)) {\n\t\tif (ct->flags & DPC_CT_TUNNEL_OUT)',
        replace:
          '\tif (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, &p) && p.syn) {\n\t\tif (ct->flags & DPC_CT_TUNNEL_OUT)',
      },
    ],
  },
  {
    id: 'affinity-wrong-flag',
    summary:
      'ClientIP affinity is keyed on the externalTrafficPolicy Local flag instead of the affinity flag',
    mode: TUNNEL,
    catches: ['NP-009', 'NP-010', 'LB-005'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: '\tif (fe->flags & DPC_FE_AFFINITY) {',
        replace: '\tif (fe->flags & DPC_FE_LOCAL) {',
      },
    ],
  },
  {
    id: 'affinity-per-service',
    summary: 'ClientIP affinity entries are keyed by the Service alone: every client shares one backend',
    mode: TUNNEL,
    catches: ['NP-009', 'LB-005'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: 'struct dpc_aff_key ak = {.svc_id = fe->svc_id, .client = client};',
        replace: 'struct dpc_aff_key ak = {.svc_id = fe->svc_id, .client = 0};',
      },
    ],
  },
  {
    id: 'affinity-timeout-global',
    summary: "ClientIP affinity lasts the config's default whatever the Service's timeoutSeconds says",
    mode: TUNNEL,
    catches: ['NP-011'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: '__u32 secs = fe->affinity_s ? fe->affinity_s : cfg->affinity_timeout_s;',
        replace: '__u32 secs = cfg->affinity_timeout_s;',
      },
    ],
  },
  {
    id: 'established-flow-rebalanced',
    summary:
      'an established flow whose backend moved to another ordinal (endpoints added or removed) is balanced again',
    mode: DSR,
    catches: ['NP-012'],
    edits: [
      {
        file: 'bpf/lib/conntrack.h',
        find: '\tfor (__u32 i = 0; i < DPC_BE_SCAN_MAX; i++) {',
        replace: '\tfor (__u32 i = 0; i < 0; i++) {',
      },
    ],
  },
  {
    id: 'vip-ignores-etp-local',
    summary: 'LoadBalancer VIPs of an externalTrafficPolicy Local Service are balanced over every endpoint',
    mode: TUNNEL,
    catches: ['LB-003'],
    edits: [
      {
        file: 'src/dataplane/bpf/plan.ts',
        find: 'for (const ip of externalAddresses(svc)) addFrontend(ip, port.port, port.protocol, external);',
        replace:
          "for (const ip of externalAddresses(svc)) addFrontend(ip, port.port, port.protocol, 'cluster');",
      },
    ],
  },
  {
    id: 'tunnel-return-tuple',
    summary: "the frontend node looks up a tunnelled reply's flow with its ports unswapped and drops it",
    mode: TUNNEL,
    catches: ['DSR-004', 'NP-001', 'NP-002'],
    edits: [
      {
        file: 'bpf/lib/hooks-vx.h',
        find: '\t\t.saddr = p->daddr,\n\t\t.daddr = p->saddr,\n\t\t.sport = p->dport,\n\t\t.dport = p->sport,',
        replace:
          '\t\t.saddr = p->daddr,\n\t\t.daddr = p->saddr,\n\t\t.sport = p->sport,\n\t\t.dport = p->dport,',
      },
    ],
  },
  {
    id: 'dsr-flag-ignored',
    summary: 'replies of tunnelled flows skip the return tunnel whatever bpfExternalServiceMode says',
    mode: TUNNEL,
    catches: ['DSR-004'],
    edits: [
      {
        file: 'bpf/lib/tunnel.h',
        find: '\tif (!(cfg->flags & DPC_CFG_DSR))\n\t\treturn false;\n',
        replace: '',
      },
    ],
  },
  {
    id: 'dsr-optout-ignored',
    summary: "bpfDSROptoutCIDRs is looked up with the node's own address instead of the client's",
    mode: DSR,
    catches: ['DSR-005'],
    edits: [
      {
        file: 'bpf/lib/tunnel.h',
        find: 'struct dpc_dsr_optout_key k = {.prefixlen = 32, .addr = client};',
        replace: 'struct dpc_dsr_optout_key k = {.prefixlen = 32, .addr = cfg->node_ip};',
      },
    ],
  },
  {
    id: 'dsr-replies-tunnelled',
    summary: 'in DSR mode the backend node still sends replies back through the tunnel',
    mode: DSR,
    catches: ['DSR-002', 'DSR-003', 'DSR-007'],
    edits: [
      {
        file: 'bpf/lib/tunnel.h',
        find: '\tif (dsr)\n\t\treturn fib_forward(skb, p, reason);\n',
        replace: '',
      },
    ],
  },
  {
    id: 'pod-traffic-masqueraded',
    summary: "every pod's connection to a Service is SNATed to the node, not only a pod reaching itself",
    mode: TUNNEL,
    catches: ['SIP-004'],
    edits: [
      {
        file: 'bpf/lib/lb.h',
        find: 'bool snat = (client == CLIENT_POD && be_ip == p->saddr)',
        replace: 'bool snat = (client == CLIENT_POD)',
      },
    ],
  },
  {
    id: 'policy-except-ignored',
    summary: "an ipBlock's except list is dropped when policy is compiled",
    mode: TUNNEL,
    catches: ['POL-007'],
    edits: [
      {
        file: 'src/policy/compile.ts',
        find: 'out.cidrs.push({ cidr: peer.ipBlock.cidr, except: [...(peer.ipBlock.except ?? [])] });',
        replace: 'out.cidrs.push({ cidr: peer.ipBlock.cidr, except: [] });',
      },
    ],
  },
  {
    id: 'policy-port-range-open',
    summary: "a policy port range's upper bound is not checked: every port above an allowed one is open",
    mode: TUNNEL,
    catches: ['POL-006'],
    edits: [
      {
        file: 'bpf/lib/policy.h',
        find: 'if (r->proto == proto && port >= r->lo && port <= r->hi)',
        replace: 'if (r->proto == proto && port >= r->lo)',
      },
    ],
  },
  {
    id: 'policy-isolation-late',
    summary: 'pod isolation is written in the background, 2.5 s after the sync that should write it returned',
    mode: TUNNEL,
    catches: ['POL-002', 'POL-003', 'POL-011'],
    edits: [
      {
        file: 'src/dataplane/bpf/index.ts',
        find: '    const ops = [...rules.upserts, ...eps.upserts, ...eps.deletes, ...rules.deletes];',
        replace:
          '    const ops = [...rules.upserts, ...eps.deletes, ...rules.deletes];\n    if (eps.upserts.length > 0) setTimeout(() => void runBatch(rt.node, eps.upserts).catch(() => {}), 2500);',
      },
    ],
  },
  {
    id: 'policy-drops-miscounted',
    summary: 'packets NetworkPolicy drops are counted as "packets with unknown route"',
    mode: TUNNEL,
    catches: ['POL-008'],
    edits: [
      {
        file: 'bpf/lib/policy.h',
        find: '\t\t*reason = DPC_R_DROP_POLICY;',
        replace: '\t\t*reason = DPC_R_DROP_ROUTE;',
      },
    ],
  },
  {
    id: 'conntrack-not-lru',
    summary: 'the conntrack map is a plain hash: when it is full, new flows are refused',
    mode: TUNNEL,
    catches: ['MAP-002'],
    edits: [
      {
        file: 'bpf/lib/maps.h',
        find: '\t__uint(type, BPF_MAP_TYPE_LRU_HASH);\n\t__uint(max_entries, DPC_CT_SIZE);',
        replace: '\t__uint(type, BPF_MAP_TYPE_HASH);\n\t__uint(max_entries, DPC_CT_SIZE);',
      },
    ],
  },
  {
    id: 'recreated-counted-as-new',
    summary: 'conntrack re-creations are counted under the "new connections" reason',
    mode: TUNNEL,
    catches: ['MAP-002'],
    edits: [
      {
        file: 'bpf/dpc.h',
        find: '#define DPC_R_CT_RECREATED 10',
        replace: '#define DPC_R_CT_RECREATED DPC_R_NEW_CONN',
      },
    ],
  },
  {
    id: 'affinity-map-size-fixed',
    summary: 'the affinity map is built with a fixed size whatever bpfMapSizeNATAffinity says',
    mode: TUNNEL,
    catches: ['MAP-001'],
    edits: [
      {
        file: 'bpf/lib/maps.h',
        find: '\t__uint(max_entries, DPC_NAT_AFF_SIZE);',
        replace: '\t__uint(max_entries, 65536);',
      },
    ],
  },
  {
    id: 'refused-service-backends-kept',
    summary: 'a Service refused for want of room in the NAT frontend map still gets its backends written',
    mode: TUNNEL,
    catches: ['MAP-003'],
    edits: [
      {
        file: 'src/dataplane/bpf/plan.ts',
        find: '    if (plan.frontends.size + frontends.length > limits.natFrontend) {\n',
        replace:
          '    if (plan.frontends.size + frontends.length > limits.natFrontend) {\n      for (const e of backends) plan.backends.set(keyId(e.key), e);\n',
      },
    ],
  },
  {
    id: 'uninstall-leaves-vxlan',
    summary: 'switching away from eBPF leaves the VXLAN device on the nodes',
    mode: TUNNEL,
    catches: ['RB-001'],
    edits: [
      {
        file: 'src/dataplane/bpf/index.ts',
        find: '          await step(`${node.name} vx`, () => removeVxlan(node));\n',
        replace: '',
      },
    ],
  },
  {
    id: 'old-dataplane-retired-late',
    summary:
      'a dataplane switch returns before the old dataplane is gone, which goes 3 s later and takes live connections with it',
    mode: TUNNEL,
    catches: ['RB-003'],
    edits: [
      {
        file: 'src/cluster/runtime.ts',
        find: "    if (plan.order === 'make-before-break') await retire(old, plan);",
        replace:
          "    if (plan.order === 'make-before-break') setTimeout(() => void retire(old, plan).catch(() => {}), 3000);",
      },
    ],
  },
  {
    id: 'kube-proxy-chains-kept',
    summary:
      "switching to eBPF leaves kube-proxy's chains although bpfKubeProxyIptablesCleanupEnabled is true",
    mode: TUNNEL,
    catches: ['RB-002'],
    edits: [
      {
        file: 'src/dataplane/switch.ts',
        find: "settings.bpfKubeProxyIptablesCleanupEnabled ? 'remove' : 'leave'",
        replace: "settings.bpfKubeProxyIptablesCleanupEnabled ? 'untouched' : 'leave'",
      },
    ],
  },
  {
    id: 'hep-single-port-missed',
    summary:
      'a host policy rule whose port range is one port never matches (the range check leaves out its upper end)',
    mode: TUNNEL,
    catches: ['HEP-002', 'HEP-004'],
    edits: [
      {
        file: 'bpf/lib/host-policy.h',
        find: 'if (port >= r->ports[i].lo && port <= r->ports[i].hi)',
        replace: 'if (port >= r->ports[i].lo && port < r->ports[i].hi)',
      },
    ],
  },
  {
    id: 'tunnel-fit-unchecked',
    summary:
      'the programs never check that a packet fits the tunnel: full-size segments leave as outer fragments and no sender is told',
    mode: TUNNEL,
    catches: ['MTU-002', 'MTU-003'],
    edits: [
      {
        file: 'bpf/lib/tunnel.h',
        find: '\tif (mtu == 0 || p->seg_len <= mtu)\n\t\treturn true;',
        replace: '\tif (mtu == 0 || p->seg_len <= mtu || mtu > 0)\n\t\treturn true;',
      },
    ],
  },
  {
    id: 'psnat-ports-ignored',
    summary:
      'bpfPSNATPorts is parsed but never reaches the nodes: the programs SNAT from their built-in range',
    mode: TUNNEL,
    catches: ['FLX-002'],
    edits: [
      {
        file: 'src/dataplane/bpf/index.ts',
        find: "const [psnatLo, psnatHi] = s.bpfPSNATPorts.split('-').map(Number);",
        replace: 'const [psnatLo, psnatHi] = [0, 0];',
      },
    ],
  },
  {
    id: 'ttl-not-decremented',
    summary: 'a packet the programs forward themselves keeps its TTL: the node is no router hop',
    mode: TUNNEL,
    catches: ['DP-001'],
    edits: [
      {
        file: 'bpf/lib/routing.h',
        find: '((__u8 *)&cur)[0] = p->ttl - 1;',
        replace: '((__u8 *)&cur)[0] = p->ttl;',
      },
    ],
  },
];
