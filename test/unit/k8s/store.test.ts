import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests, manifestsFromObjects, parseManifests } from '../../../src/k8s/manifest.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { messageOf, yaml } from './helpers.ts';

const NS_A = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n';

function svc(name: string, namespace?: string, extra = ''): string {
  const ns = namespace ? `, namespace: ${namespace}` : '';
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}${ns}}\nspec:\n  ports: [{port: 80}]\n${extra}`;
}

function apply(store: ObjectStore, text: string, file = 'b.yaml') {
  return store.apply(parseManifests(text, file));
}

function names(store: ObjectStore): string[] {
  return store.list().map((r) => `${r.kind} ${r.namespace ?? ''}/${r.name}`);
}

describe('ObjectStore', () => {
  it('starts with the default and kube-system namespaces', () => {
    expect(names(new ObjectStore())).toEqual(['Namespace /default', 'Namespace /kube-system']);
  });

  it('applies the seed DSR test manifest as written', () => {
    const store = new ObjectStore();
    const r = store.apply(loadManifests('fixtures/seed/dsr-test.yaml'));
    expect(r.results).toEqual([
      { object: 'Service default/dsr-test', action: 'created' },
      { object: 'Deployment default/nginx', action: 'created' },
    ]);
    expect(r.warnings).toEqual([]);
    expect(store.get('Service', 'default', 'dsr-test')?.object.spec?.externalTrafficPolicy).toBe('Local');
  });

  it('applies the workload fixtures together', () => {
    const store = new ObjectStore();
    expect(store.apply(loadManifests('fixtures/workloads')).warnings).toEqual([]);
    expect(store.ofKind('Service').map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'echo-clusterip',
        'echo-lb',
        'echo-local',
        'echo-nodeport',
        'echo-udp',
        'no-endpoints',
      ]),
    );
    expect(store.get('Deployment', 'default', 'echo')?.object.spec?.replicas).toBe(3);
  });

  it('accepts every fixture file on its own', () => {
    const files = readdirSync('fixtures', { recursive: true, encoding: 'utf8' }).filter((f) =>
      /\.ya?ml$/.test(f),
    );
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      expect(() => new ObjectStore().apply(loadManifests(join('fixtures', file))), file).not.toThrow();
    }
  });

  it('reports created, configured and unchanged as kubectl does', () => {
    const store = new ObjectStore();
    expect(apply(store, svc('web')).results).toEqual([{ object: 'Service default/web', action: 'created' }]);
    expect(apply(store, svc('web')).results).toEqual([
      { object: 'Service default/web', action: 'unchanged' },
    ]);
    expect(apply(store, svc('web', undefined, '  sessionAffinity: ClientIP\n')).results).toEqual([
      { object: 'Service default/web', action: 'configured' },
    ]);
  });

  it('rejects an object whose namespace does not exist', () => {
    const store = new ObjectStore();
    expect(messageOf(() => apply(store, svc('web', 'team-a')))).toBe(
      'b.yaml: Service team-a/web: metadata.namespace: namespace "team-a" not found ' +
        '(create it first or apply its Namespace in the same batch)',
    );
  });

  it('accepts an object whose Namespace comes later in the same batch', () => {
    const store = new ObjectStore();
    const r = apply(store, `${svc('web', 'team-a')}---\n${NS_A}`);
    expect(r.results.map((x) => x.object)).toEqual(['Service team-a/web', 'Namespace team-a']);
    expect(store.get('Service', 'team-a', 'web')).toBeDefined();
  });

  it('commits nothing when any object of the batch is bad', () => {
    const store = new ObjectStore();
    const bad = `${NS_A}---\n${svc('ok')}---\n${svc('broken', undefined, '  type: Magic\n')}`;
    expect(messageOf(() => apply(store, bad))).toBe(
      'b.yaml: Service default/broken: spec.type: must be one of ClusterIP, NodePort, LoadBalancer, got "Magic"',
    );
    expect(names(store)).toEqual(['Namespace /default', 'Namespace /kube-system']);
  });

  it('rejects the same object twice in one batch, naming both places', () => {
    const store = new ObjectStore();
    expect(messageOf(() => apply(store, `${svc('web')}---\n${svc('web')}`))).toBe(
      'b.yaml: Service default/web: metadata.name: defined twice in this batch (also at b.yaml:1)',
    );
  });

  it('keeps a Deployment selector immutable', () => {
    const store = new ObjectStore();
    const dep = (app: string) => yaml`
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        selector: {matchLabels: {app: ${app}}}
        template:
          metadata: {labels: {app: ${app}}}
          spec: {containers: [{name: web, image: nginx}]}
    `;
    apply(store, dep('web'));
    expect(messageOf(() => apply(store, dep('api')))).toBe(
      'b.yaml: Deployment default/web: spec.selector: field is immutable (was {"matchLabels":{"app":"web"}})',
    );
  });

  it('keeps a written clusterIP immutable', () => {
    const store = new ObjectStore();
    apply(store, svc('web', undefined, '  clusterIP: 10.96.1.1\n'));
    expect(messageOf(() => apply(store, svc('web', undefined, '  clusterIP: 10.96.1.2\n')))).toBe(
      'b.yaml: Service default/web: spec.clusterIP: field is immutable (was 10.96.1.1)',
    );
  });

  it('collects warnings from the whole batch', () => {
    const store = new ObjectStore();
    const r = apply(
      store,
      'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {xdpEnabled: false}\n',
    );
    expect(r.warnings).toEqual([
      'b.yaml: FelixConfiguration default: accepted, not implemented by this dataplane: spec.xdpEnabled',
    ]);
  });
});

describe('ObjectStore.delete', () => {
  it('deletes by kind, namespace and name, reporting what was not there', () => {
    const store = new ObjectStore();
    apply(store, `${svc('web')}---\n${svc('api')}`);
    const r = store.delete(parseManifests(`${svc('web')}---\n${svc('gone')}`));
    expect(r).toEqual({ deleted: ['Service default/web'], notFound: ['Service default/gone'] });
    expect(store.ofKind('Service').map((s) => s.name)).toEqual(['api']);
  });

  it('reads only the identity of what it deletes', () => {
    const store = new ObjectStore();
    apply(store, svc('web'));
    const r = store.delete(
      manifestsFromObjects([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' } }]),
    );
    expect(r.deleted).toEqual(['Service default/web']);
  });

  it('takes a namespace’s objects with it', () => {
    const store = new ObjectStore();
    apply(store, `${NS_A}---\n${svc('web', 'team-a')}---\n${svc('web')}`);
    const r = store.delete(parseManifests(`${NS_A}---\n${svc('web', 'team-a')}`));
    expect(r).toEqual({ deleted: ['Namespace team-a', 'Service team-a/web'], notFound: [] });
    expect(names(store)).toEqual(['Namespace /default', 'Namespace /kube-system', 'Service default/web']);
  });

  it('refuses to delete the built-in namespaces, and deletes nothing else of the batch', () => {
    const store = new ObjectStore();
    apply(store, svc('web'));
    const batch = parseManifests(
      `${svc('web')}---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kube-system}\n`,
      'd.yaml',
    );
    expect(messageOf(() => store.delete(batch))).toBe(
      'd.yaml: Namespace kube-system: namespace kube-system may not be deleted',
    );
    expect(store.get('Service', 'default', 'web')).toBeDefined();
  });

  it('refuses unknown kinds', () => {
    expect(
      messageOf(() =>
        new ObjectStore().delete(
          parseManifests('apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n', 'd.yaml'),
        ),
      ),
    ).toBe('d.yaml: Pod p: kind: kind Pod is not supported');
  });
});

describe('ObjectStore JSON', () => {
  it('round-trips every object with its source', () => {
    const store = new ObjectStore();
    store.apply(loadManifests('fixtures/workloads'));
    apply(store, `${NS_A}---\n${svc('web', 'team-a')}`);
    store.apply(loadManifests('fixtures/seed/felix-dsr.yaml'));
    const json = JSON.parse(JSON.stringify(store));
    const again = ObjectStore.fromJSON(json);
    expect(names(again)).toEqual(names(store));
    expect(again.list().map((r) => r.source)).toEqual(store.list().map((r) => r.source));
    expect(again.felixSettings()).toEqual(store.felixSettings());
    expect(JSON.stringify(again)).toBe(JSON.stringify(store));
  });

  it('does not write the built-in namespaces', () => {
    expect(new ObjectStore().toJSON()).toEqual({ version: 1, objects: [] });
  });

  it('refuses something that is not a snapshot', () => {
    expect(messageOf(() => ObjectStore.fromJSON({ objects: [] }))).toBe(
      'not an object store snapshot (expected {version: 1, objects: [...]})',
    );
  });
});

describe('ObjectStore.felixSettings', () => {
  it('layers node.<name> over default over the built-in defaults', () => {
    const store = new ObjectStore();
    store.apply(loadManifests('fixtures/seed/felix-dsr.yaml'));
    apply(
      store,
      'apiVersion: projectcalico.org/v3\nkind: FelixConfiguration\nmetadata: {name: node.dpc-worker}\nspec: {bpfLogLevel: Debug}\n',
    );
    expect(store.felixSettings().bpfLogLevel).toBe('Off');
    expect(store.felixSettings('dpc-worker')).toMatchObject({
      bpfLogLevel: 'Debug',
      bpfExternalServiceMode: 'DSR',
    });
    expect(store.felixSettings('dpc-worker2').bpfLogLevel).toBe('Off');
  });
});
