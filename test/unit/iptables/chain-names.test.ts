import { describe, expect, it } from 'vitest';
import {
  endpointChainName,
  portProtoHash,
  probability,
  servicePortChains,
  servicePortName,
} from '../../../src/dataplane/iptables/chain-names.ts';

describe('kube-proxy chain names', () => {
  // Names as a real kube-proxy prints them for these service ports.
  it.each([
    ['default', 'kubernetes', 'https', 'TCP', 'NPX46M4PTMTKRN6Y'],
    ['kube-system', 'kube-dns', 'dns', 'UDP', 'TCOU7JCQXEZGVUNU'],
    ['kube-system', 'kube-dns', 'dns-tcp', 'TCP', 'ERIFXISQEP7F7OF4'],
    ['kube-system', 'kube-dns', 'metrics', 'TCP', 'JD5MR3NA4I4DYORP'],
    ['default', 'nginx', undefined, 'TCP', '2CMXP7HKUVJN7L6M'],
    ['ns1', 'svc1', 'p80', 'TCP', 'XPGD46QRK7WJZT7O'],
  ] as const)('%s/%s:%s %s hashes to %s', (ns, name, port, proto, hash) => {
    expect(portProtoHash(servicePortName(ns, name, port), proto)).toBe(hash);
  });

  it('names the SVC, SVL, EXT and FW chains of a port with one hash', () => {
    expect(servicePortChains('ns1/svc1:p80', 'TCP')).toEqual({
      cluster: 'KUBE-SVC-XPGD46QRK7WJZT7O',
      local: 'KUBE-SVL-XPGD46QRK7WJZT7O',
      external: 'KUBE-EXT-XPGD46QRK7WJZT7O',
      firewall: 'KUBE-FW-XPGD46QRK7WJZT7O',
    });
  });

  it('names an endpoint chain from the port, protocol and ip:port', () => {
    expect(endpointChainName('ns1/svc1:p80', 'TCP', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(endpointChainName('ns1/svc1:p80', 'UDP', '10.180.0.1:80')).not.toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
  });

  it('keeps names within the 28 characters iptables allows', () => {
    const name = endpointChainName(
      'a-very-long-namespace/a-very-long-service:a-long-port',
      'TCP',
      '10.1.2.3:65535',
    );
    expect(name.length).toBeLessThanOrEqual(28);
    expect(name).toMatch(/^KUBE-SEP-[A-Z2-7]{16}$/);
  });

  it('leaves the port name out of an unnamed port', () => {
    expect(servicePortName('default', 'web')).toBe('default/web');
    expect(servicePortName('default', 'web', '')).toBe('default/web');
    expect(servicePortName('default', 'web', 'http')).toBe('default/web:http');
  });

  it('prints probabilities with ten decimals', () => {
    expect(probability(2)).toBe('0.5000000000');
    expect(probability(3)).toBe('0.3333333333');
    expect(probability(7)).toBe('0.1428571429');
  });
});
