import { describe, expect, it } from 'vitest';
import { renderCleanup } from '../../../src/dataplane/iptables/cleanup.ts';
import { isKubeProxyChain } from '../../../src/dataplane/iptables/kube-chains.ts';
import { renderNat } from '../../../src/dataplane/iptables/render-nat.ts';
import { applyRestore, endpoints, model, savedTable, service } from './fixtures.ts';

describe('isKubeProxyChain', () => {
  it.each([
    ['KUBE-SERVICES', true],
    ['KUBE-SVC-XPGD46QRK7WJZT7O', true],
    ['KUBE-SVL-XPGD46QRK7WJZT7O', true],
    ['KUBE-EXT-XPGD46QRK7WJZT7O', true],
    ['KUBE-FW-XPGD46QRK7WJZT7O', true],
    ['KUBE-SEP-SXIVWICOYRO3J4NJ', true],
    ['KUBE-XLB-XPGD46QRK7WJZT7O', true],
    ['KUBE-PROXY-CANARY', true],
    ['KUBE-FIREWALL', false],
    ['KUBE-KUBELET-CANARY', false],
    ['KUBE-MARK-DROP', false],
    ['DOCKER', false],
    ['INPUT', false],
  ])('%s -> %s', (name, owned) => {
    expect(isKubeProxyChain(name)).toBe(owned);
  });
});

describe('renderCleanup', () => {
  it('returns nothing for a table with nothing of ours', () => {
    expect(renderCleanup(savedTable('nat', [':DOCKER - [0:0]', '-A PREROUTING -j DOCKER']))).toBeUndefined();
  });

  it('unhooks, flushes and deletes every kube-proxy chain and leaves the rest alone', () => {
    const m = model(
      [
        service({
          name: 'web',
          clusterIP: '10.96.0.10',
          type: 'NodePort',
          ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
        }),
      ],
      [endpoints('web', [['10.244.0.2', 'n0']])],
    );
    const base = savedTable('nat', [
      ':DOCKER - [0:0]',
      ':KUBE-MARK-DROP - [0:0]',
      '-A PREROUTING -j DOCKER',
      '-A KUBE-MARK-DROP -j MARK --or-mark 0x8000',
    ]);
    const programmed = applyRestore(base, renderNat(m, { name: 'n0' }));
    const text = renderCleanup(programmed);
    expect(text).toBeDefined();
    const after = applyRestore(programmed, text as string);
    expect([...after.chains.keys()]).toEqual([
      'PREROUTING',
      'INPUT',
      'OUTPUT',
      'POSTROUTING',
      'DOCKER',
      'KUBE-MARK-DROP',
    ]);
    expect(after.rules.map((r) => `${r.chain} ${r.spec}`)).toEqual([
      'PREROUTING -j DOCKER',
      'KUBE-MARK-DROP -j MARK --or-mark 0x8000',
    ]);
  });
});
