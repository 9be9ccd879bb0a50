import { describe, expect, it } from 'vitest';
import { endpointChainName, servicePortChains } from '../../../src/dataplane/iptables/chain-names.ts';
import { planFilter } from '../../../src/dataplane/iptables/render-filter.ts';
import { planNat } from '../../../src/dataplane/iptables/render-nat.ts';
import type { SavedTable } from '../../../src/dataplane/iptables/save-parse.ts';
import type { ClusterModel } from '../../../src/k8s/model.ts';
import { applyRestore, declared, endpoints, model, savedTable, service } from './fixtures.ts';

const web = servicePortChains('default/web', 'TCP');
const sep = (ip: string) => endpointChainName('default/web', 'TCP', `${ip}:8080`);

const two = (ips: string[]): ClusterModel =>
  model(
    [
      service({ name: 'web', clusterIP: '10.96.0.10' }),
      service({
        name: 'api',
        clusterIP: '10.96.0.11',
        type: 'NodePort',
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
      }),
    ],
    [
      endpoints(
        'web',
        ips.map((ip) => [ip, 'n0']),
      ),
      endpoints('api', [['10.244.0.9', 'n0']]),
    ],
  );

/** Renders and applies like one sync; returns the node's new table and what was sent. */
function syncNat(m: ClusterModel, current: SavedTable, previous?: Map<string, string>) {
  const plan = planNat(m, { name: 'n0' }, { current, previous });
  return { table: applyRestore(current, plan.text), text: plan.text, chains: plan.chains };
}

function body(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && l !== '*nat' && l !== '*filter' && l !== 'COMMIT');
}

describe('syncing a node step by step', () => {
  it('applies cleanly to an empty node and hooks each built-in chain once', () => {
    const { table } = syncNat(two(['10.244.0.2']), savedTable('nat'));
    const hooks = table.rules.filter((r) => ['PREROUTING', 'OUTPUT', 'POSTROUTING'].includes(r.chain));
    expect(hooks.map((r) => `${r.chain}->${r.target}`)).toEqual([
      'PREROUTING->KUBE-SERVICES',
      'OUTPUT->KUBE-SERVICES',
      'POSTROUTING->KUBE-POSTROUTING',
    ]);
  });

  it('rewrites every chain but adds no second hook when it has no memory of the last sync', () => {
    const first = syncNat(two(['10.244.0.2']), savedTable('nat'));
    const second = syncNat(two(['10.244.0.2']), first.table);
    expect(second.text).not.toContain('-I ');
    expect(declared(second.text)).toEqual(declared(first.text));
    expect(second.table.rules).toEqual(first.table.rules);
  });

  it('sends nothing at all when nothing changed since the last sync', () => {
    const first = syncNat(two(['10.244.0.2']), savedTable('nat'));
    const second = syncNat(two(['10.244.0.2']), first.table, first.chains);
    expect(body(second.text)).toEqual([]);
  });

  it('rewrites only the chains of a Service whose endpoints changed, and deletes the old endpoint chain', () => {
    const first = syncNat(two(['10.244.0.2']), savedTable('nat'));
    const second = syncNat(two(['10.244.0.3']), first.table, first.chains);
    expect(declared(second.text).sort()).toEqual([web.cluster, sep('10.244.0.2'), sep('10.244.0.3')].sort());
    expect(second.text).toContain(`-X ${sep('10.244.0.2')}`);
    expect(second.table.chains.has(sep('10.244.0.2'))).toBe(false);
    expect(second.table.rules.filter((r) => r.chain === 'KUBE-SERVICES')).toEqual(
      first.table.rules.filter((r) => r.chain === 'KUBE-SERVICES'),
    );
  });

  it('removes every chain of a deleted Service and its KUBE-SERVICES rule', () => {
    const first = syncNat(two(['10.244.0.2', '10.244.0.3']), savedTable('nat'));
    const onlyApi = two([]);
    onlyApi.services = onlyApi.services.filter((s) => s.name !== 'web');
    const second = syncNat(onlyApi, first.table, first.chains);
    for (const c of [web.cluster, sep('10.244.0.2'), sep('10.244.0.3')])
      expect(second.table.chains.has(c)).toBe(false);
    expect(second.table.rules.some((r) => r.spec.includes('default/web'))).toBe(false);
    expect(second.table.rules.some((r) => r.spec.includes('default/api'))).toBe(true);
  });

  it('repairs a chain someone flushed, even when the model did not change', () => {
    const first = syncNat(two(['10.244.0.2']), savedTable('nat'));
    const tampered: SavedTable = {
      ...first.table,
      rules: first.table.rules.filter((r) => r.chain !== 'KUBE-SERVICES'),
    };
    const second = syncNat(two(['10.244.0.2']), tampered, first.chains);
    expect(declared(second.text)).toEqual(['KUBE-SERVICES']);
    expect(second.table.rules.filter((r) => r.chain === 'KUBE-SERVICES')).toHaveLength(3);
  });

  it('removes chains an earlier owner left, unhooking other rules that point at them, and keeps foreign chains', () => {
    const current = savedTable('nat', [
      ':DOCKER_OUTPUT - [0:0]',
      ':KUBE-SVC-LEFTOVER00000000 - [0:0]',
      ':KUBE-SEP-LEFTOVER00000000 - [0:0]',
      '-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT',
      '-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:41234',
      '-A DOCKER_OUTPUT -j KUBE-SVC-LEFTOVER00000000',
      '-A KUBE-SVC-LEFTOVER00000000 -j KUBE-SEP-LEFTOVER00000000',
    ]);
    const { table, text } = syncNat(two(['10.244.0.2']), current);
    expect(text).toContain('-D DOCKER_OUTPUT -j KUBE-SVC-LEFTOVER00000000');
    expect(table.chains.has('KUBE-SVC-LEFTOVER00000000')).toBe(false);
    expect(table.chains.has('KUBE-SEP-LEFTOVER00000000')).toBe(false);
    expect(table.rules.filter((r) => r.chain === 'DOCKER_OUTPUT')).toHaveLength(1);
    expect(table.rules.some((r) => r.chain === 'OUTPUT' && r.target === 'DOCKER_OUTPUT')).toBe(true);
  });

  it('keeps the filter table in step the same way', () => {
    const current = savedTable('filter');
    const first = planFilter(
      model([service({ name: 'web', clusterIP: '10.96.0.10' })]),
      { name: 'n0' },
      { current },
    );
    const after = applyRestore(current, first.text);
    expect(after.rules.some((r) => r.chain === 'KUBE-SERVICES' && r.target === 'REJECT')).toBe(true);
    const second = planFilter(
      model([service({ name: 'web', clusterIP: '10.96.0.10' })], [endpoints('web', [['10.244.0.2', 'n0']])]),
      { name: 'n0' },
      { current: after, previous: first.chains },
    );
    expect(declared(second.text)).toEqual(['KUBE-SERVICES']);
    expect(applyRestore(after, second.text).rules.some((r) => r.target === 'REJECT')).toBe(false);
  });
});
