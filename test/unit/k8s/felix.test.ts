import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  compileIfacePattern,
  KNOWN_FELIX_FIELDS,
  mergeFelixSettings,
  parseFelixSpec,
} from '../../../src/k8s/felix.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import { loadManifests } from '../../../src/k8s/manifest.ts';
import type { FelixConfigurationResource } from '../../../src/k8s/resource.ts';
import { validateManifests } from '../../../src/k8s/validate.ts';
import { messageOf } from './helpers.ts';

function felixFile(name: string): FelixConfigurationResource {
  const [r] = validateManifests(loadManifests(`fixtures/seed/${name}`));
  if (r?.kind !== 'FelixConfiguration') throw new Error(`${name} is not a FelixConfiguration`);
  return r;
}

const spec = (s: Record<string, unknown>) => parseFelixSpec(s, 'f.yaml');
const specError = (s: Record<string, unknown>) => messageOf(() => spec(s));

describe('seed FelixConfigurations', () => {
  it('are all present in fixtures/seed', () => {
    expect(
      readdirSync('fixtures/seed')
        .filter((f) => f.startsWith('felix-'))
        .sort(),
    ).toEqual(['felix-dsr.yaml', 'felix-map-sizes.yaml', 'felix-migrate.yaml', 'felix-tuning.yaml']);
  });

  it('the migration config loads as written', () => {
    const r = felixFile('felix-migrate.yaml');
    expect(r.warnings).toEqual([]);
    expect(r.felix.settings).toEqual({
      ...DEFAULT_FELIX_SETTINGS,
      bpfEnabled: true,
      bpfExternalServiceMode: 'Tunnel',
      bpfLogLevel: 'Info',
      bpfDataIfacePattern: '^(en.*|eth.*|tunl0)$',
      bpfConnectTimeLoadBalancingEnabled: true,
      bpfHostNetworkedNATWithoutCTLB: 'Enabled',
    });
  });

  it('the tuning config (with comments) loads as written', () => {
    const r = felixFile('felix-tuning.yaml');
    expect(r.warnings).toEqual([]);
    expect(r.felix.explicit).toEqual({
      bpfEnabled: true,
      bpfExternalServiceMode: 'DSR',
      bpfConnectTimeLoadBalancingEnabled: true,
      bpfLogLevel: 'Info',
      bpfDataIfacePattern: '^(en.*|eth.*|bond.*)$',
      bpfHostNetworkedNATWithoutCTLB: 'Enabled',
      bpfPSNATPorts: '20000-29999',
      bpfMapSizeNATFrontend: 65536,
      bpfMapSizeNATBackend: 262144,
      bpfMapSizeNATAffinity: 65536,
      bpfMapSizeRoute: 262144,
      bpfKubeProxyIptablesCleanupEnabled: true,
      bpfKubeProxyEndpointSlicesEnabled: true,
    });
  });

  it('the DSR config loads with its opt-out CIDR', () => {
    const r = felixFile('felix-dsr.yaml');
    expect(r.felix.settings.bpfExternalServiceMode).toBe('DSR');
    expect(r.felix.settings.bpfDSROptoutCIDRs).toEqual(['10.0.0.0/8']);
  });

  it('the map-size config loads with its conntrack size', () => {
    const r = felixFile('felix-map-sizes.yaml');
    expect(r.felix.settings.bpfMapSizeConntrack).toBe(524288);
    expect(r.felix.settings.bpfMapSizeRoute).toBe(262144);
    expect(r.felix.settings.bpfExternalServiceMode).toBe(DEFAULT_FELIX_SETTINGS.bpfExternalServiceMode);
  });
});

describe('implemented fields', () => {
  it('fill every default when the spec is empty', () => {
    expect(spec({}).settings).toEqual(DEFAULT_FELIX_SETTINGS);
    expect(spec({}).explicit).toEqual({});
  });

  it('check bpfExternalServiceMode, accepting any case as Calico does', () => {
    expect(spec({ bpfExternalServiceMode: 'dsr' }).settings.bpfExternalServiceMode).toBe('DSR');
    expect(specError({ bpfExternalServiceMode: 'Direct' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfExternalServiceMode: must be one of Tunnel, DSR, got "Direct"',
    );
  });

  it('check bpfLogLevel', () => {
    expect(specError({ bpfLogLevel: 'Verbose' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfLogLevel: must be one of Off, Info, Debug, got "Verbose"',
    );
  });

  it('check booleans strictly (YAML "yes" is a string)', () => {
    expect(specError({ bpfEnabled: 'yes' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfEnabled: must be true or false, got "yes"',
    );
  });

  it('check bpfHostNetworkedNATWithoutCTLB as an exact enum', () => {
    expect(specError({ bpfHostNetworkedNATWithoutCTLB: 'enabled' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfHostNetworkedNATWithoutCTLB: must be one of Enabled, Disabled, got "enabled"',
    );
  });

  it('check CIDR lists, normalising host bits and dropping IPv6 with a warning', () => {
    expect(specError({ bpfDSROptoutCIDRs: ['10.0.0.0/8', '10.1.2.3'] })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfDSROptoutCIDRs[1]: must be a CIDR such as 10.0.0.0/8, got "10.1.2.3"',
    );
    expect(specError({ bpfDSROptoutCIDRs: '10.0.0.0/8' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfDSROptoutCIDRs: must be a list, got "10.0.0.0/8"',
    );
    const r = spec({ bpfDSROptoutCIDRs: ['10.1.2.3/8', 'fd00::/8'] });
    expect(r.settings.bpfDSROptoutCIDRs).toEqual(['10.0.0.0/8']);
    expect(r.warnings).toEqual([
      'f.yaml: FelixConfiguration default: spec.bpfDSROptoutCIDRs[0]: host bits set in "10.1.2.3/8", using 10.0.0.0/8',
      'f.yaml: FelixConfiguration default: spec.bpfDSROptoutCIDRs[1]: IPv6 CIDR fd00::/8 ignored: this dataplane is IPv4-only',
    ]);
  });

  it('check bpfDataIfacePattern as a Go regular expression', () => {
    expect(specError({ bpfDataIfacePattern: '^(eth.*' })).toMatch(
      /^f\.yaml: FelixConfiguration default: spec\.bpfDataIfacePattern: not a valid regular expression \(.*\), got "\^\(eth\.\*"$/,
    );
    expect(specError({ bpfDataIfacePattern: '^(?!cali).*' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfDataIfacePattern: not a valid regular expression ' +
        '(lookaround and other (?...) groups are not supported by RE2), got "^(?!cali).*"',
    );
  });

  it('check map sizes as positive integers', () => {
    expect(specError({ bpfMapSizeConntrack: 0 })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfMapSizeConntrack: must be a positive integer, got 0',
    );
    expect(specError({ bpfMapSizeNATFrontend: '64k' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfMapSizeNATFrontend: must be a positive integer, got "64k"',
    );
    expect(specError({ bpfMapSizeRoute: 1.5 })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfMapSizeRoute: must be a positive integer, got 1.5',
    );
    expect(specError({ bpfMapSizeNATBackend: 2 ** 32 })).toBe(
      "f.yaml: FelixConfiguration default: spec.bpfMapSizeNATBackend: must be at most 4294967295 (a BPF map's max_entries), got 4294967296",
    );
  });

  it('read bpfPSNATPorts as a-b, a:b or one port', () => {
    expect(spec({ bpfPSNATPorts: '20000:29999' }).settings.bpfPSNATPorts).toBe('20000-29999');
    expect(spec({ bpfPSNATPorts: '1024-2047' }).settings.bpfPSNATPorts).toBe('1024-2047');
    expect(spec({ bpfPSNATPorts: 30000 }).settings.bpfPSNATPorts).toBe('30000-30000');
    for (const bad of ['29999-20000', '0-10', '20000-70000', 'a-b', '20000..29999']) {
      expect(specError({ bpfPSNATPorts: bad })).toBe(
        `f.yaml: FelixConfiguration default: spec.bpfPSNATPorts: must be a port range such as 20000-29999 or 20000:29999, got "${bad}"`,
      );
    }
  });
});

describe('fields beyond this dataplane', () => {
  it('accept known Calico fields with a warning naming each field', () => {
    const r = spec({ logSeverityScreen: 'Info', wireguardEnabled: false, bpfEnabled: true });
    expect(r.settings.bpfEnabled).toBe(true);
    expect(r.warnings).toEqual([
      'f.yaml: FelixConfiguration default: accepted, not implemented by this dataplane: spec.logSeverityScreen',
      'f.yaml: FelixConfiguration default: accepted, not implemented by this dataplane: spec.wireguardEnabled',
    ]);
  });

  it('still type-check known fields they do not implement', () => {
    expect(specError({ routeRefreshInterval: 90 })).toBe(
      'f.yaml: FelixConfiguration default: spec.routeRefreshInterval: must be a duration such as 90s or 1m30s, got 90',
    );
    expect(specError({ iptablesBackend: 'Fancy' })).toBe(
      'f.yaml: FelixConfiguration default: spec.iptablesBackend: must be one of Auto, Legacy, NFT, got "Fancy"',
    );
    expect(specError({ vxlanVNI: -1 })).toBe(
      'f.yaml: FelixConfiguration default: spec.vxlanVNI: must be an integer 0-16777215, got -1',
    );
    expect(spec({ routeRefreshInterval: '1m30s' }).warnings).toHaveLength(1);
  });

  it('reject unknown fields, naming file and field', () => {
    expect(specError({ bpfTurboMode: true })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfTurboMode: unknown field (not a FelixConfiguration spec field)',
    );
  });

  it('suggest the right spelling for a case slip', () => {
    expect(specError({ bpfExternalServicemode: 'DSR' })).toBe(
      'f.yaml: FelixConfiguration default: spec.bpfExternalServicemode: unknown field (did you mean bpfExternalServiceMode?)',
    );
  });

  it('know the Calico fields the suite is expected to recognise', () => {
    for (const f of [
      'bpfMapSizeIPSets',
      'logSeverityScreen',
      'iptablesRefreshInterval',
      'ipipEnabled',
      'vxlanVNI',
    ]) {
      expect(KNOWN_FELIX_FIELDS).toContain(f);
    }
    for (const f of ['wireguardEnabled', 'routeRefreshInterval', 'bpfConntrackTimeouts', 'bpfEnforceRPF']) {
      expect(KNOWN_FELIX_FIELDS).toContain(f);
    }
  });

  it('reject a spec that is not a mapping', () => {
    expect(messageOf(() => parseFelixSpec(['bpfEnabled'], 'f.yaml'))).toBe(
      'f.yaml: FelixConfiguration default: spec: must be a mapping, got a list',
    );
  });
});

describe('mergeFelixSettings', () => {
  it('layers later settings over earlier ones, field by field', () => {
    const merged = mergeFelixSettings(
      { bpfExternalServiceMode: 'DSR', bpfLogLevel: 'Info' },
      { bpfLogLevel: 'Debug' },
    );
    expect(merged.bpfExternalServiceMode).toBe('DSR');
    expect(merged.bpfLogLevel).toBe('Debug');
    expect(merged.bpfMapSizeConntrack).toBe(DEFAULT_FELIX_SETTINGS.bpfMapSizeConntrack);
  });

  it('does not share arrays with its inputs or the defaults', () => {
    const layer = { bpfDSROptoutCIDRs: ['10.0.0.0/8'] };
    const merged = mergeFelixSettings(layer);
    merged.bpfDSROptoutCIDRs.push('192.168.0.0/16');
    expect(layer.bpfDSROptoutCIDRs).toEqual(['10.0.0.0/8']);
    expect(mergeFelixSettings().bpfDSROptoutCIDRs).toEqual([]);
  });
});

describe('compileIfacePattern', () => {
  it('matches data interfaces and not workload veths with the default pattern', () => {
    const re = compileIfacePattern(DEFAULT_FELIX_SETTINGS.bpfDataIfacePattern);
    expect(['eth0', 'ens3', 'tunl0'].filter((i) => re.test(i))).toEqual(['eth0', 'ens3', 'tunl0']);
    expect(['cali1234567890a', 'lo', 'vxlan.calico'].filter((i) => re.test(i))).toEqual([]);
  });

  it("translates Go's leading flags and named groups", () => {
    expect(compileIfacePattern('(?i)^ETH').test('eth0')).toBe(true);
    expect(compileIfacePattern('^(?P<kind>eth)[0-9]$').test('eth1')).toBe(true);
  });
});
