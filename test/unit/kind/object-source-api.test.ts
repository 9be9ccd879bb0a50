/**
 * The API-server object source against the API's responses: a list, a watch from the list's
 * resource version with bookmarks, a reconnect from the last bookmark, `410 Gone` (as an ERROR
 * event and as a status) and the list that follows it, and writes as server-side apply.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KubeObject, ObjectChange, ResourceType } from '../../../src/cluster/object-source.ts';
import { ApiServerObjectSource } from '../../../src/cluster/object-source-api.ts';
import { FakeApiServer } from './fake-api-server.ts';

const SERVICES: ResourceType = {
  kind: 'Service',
  group: '',
  version: 'v1',
  plural: 'services',
  namespaced: true,
};
const POLICIES: ResourceType = {
  kind: 'NetworkPolicy',
  group: 'networking.k8s.io',
  version: 'v1',
  plural: 'networkpolicies',
  namespaced: true,
};
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const until = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 20 });

let server: FakeApiServer | undefined;
let source: ApiServerObjectSource | undefined;

afterEach(async () => {
  await source?.stop();
  await server?.close();
  source = undefined;
  server = undefined;
});

async function start(
  types: ResourceType[] = [SERVICES],
): Promise<{ s: FakeApiServer; src: ApiServerObjectSource }> {
  server = await FakeApiServer.start(types);
  source = new ApiServerObjectSource(server.kubeConfig(), { types, retryDelayMs: 50 });
  return { s: server, src: source };
}

function watches(s: FakeApiServer, path: string) {
  return s.requests.filter((r) => r.path === path && r.query.watch === 'true');
}

describe('API-server object source, on the API’s responses', () => {
  it('lists, then watches from the list’s resource version with bookmarks, and follows the events', async () => {
    const { s, src } = await start();
    s.play('/api/v1/services', false, [{ status: 200, body: fixture('services-list.json') }]);
    s.play('/api/v1/services', true, [{ status: 200, events: fixture('services-watch.json'), hold: true }]);
    const seen: string[] = [];
    src.onChange((c: ObjectChange) =>
      seen.push(`${c.type} ${c.object.metadata.namespace}/${c.object.metadata.name}`),
    );
    await src.start();
    await until(() => expect(src.resourceVersion('Service')).toBe('1187'));
    expect(s.requests[0]).toEqual({ method: 'GET', path: '/api/v1/services', query: {} });
    expect(watches(s, '/api/v1/services')[0]?.query).toMatchObject({
      watch: 'true',
      resourceVersion: '1043',
      allowWatchBookmarks: 'true',
    });
    expect(
      src
        .objects('Service')
        .map((o) => `${o.metadata.namespace}/${o.metadata.name}`)
        .sort(),
    ).toEqual(['default/echo-nodeport', 'default/kubernetes', 'kube-system/kube-dns']);
    // The list's items carry no kind of their own: the source names it.
    expect(src.objects('Service').every((o) => o.kind === 'Service' && o.apiVersion === 'v1')).toBe(true);
    // The bookmark moves the version on and is no change of anything.
    expect(seen).toEqual(['added default/echo-nodeport']);
  });

  it('resumes a watch that ended from the last bookmark, not from the list', async () => {
    const { s, src } = await start();
    s.play('/api/v1/services', false, [{ status: 200, body: fixture('services-list.json') }]);
    s.play('/api/v1/services', true, [
      { status: 200, events: fixture('services-watch.json') },
      { status: 200, events: [], hold: true },
    ]);
    await src.start();
    await until(() => expect(watches(s, '/api/v1/services')).toHaveLength(2));
    expect(watches(s, '/api/v1/services')[1]?.query.resourceVersion).toBe('1187');
    // No list again: nothing was lost.
    expect(s.requests.filter((r) => r.path === '/api/v1/services' && r.query.watch !== 'true')).toHaveLength(
      1,
    );
  });

  it('on a 410 Gone ERROR event lists again, reports what changed meanwhile, and watches from the new list', async () => {
    const { s, src } = await start();
    const relisted = fixture('services-list.json');
    // Meanwhile kube-dns went and echo-nodeport came; kubernetes is unchanged.
    relisted.metadata.resourceVersion = '1502';
    relisted.items = [relisted.items[0], fixture('services-watch.json')[0].object];
    s.play('/api/v1/services', false, [
      { status: 200, body: fixture('services-list.json') },
      { status: 200, body: relisted },
    ]);
    s.play('/api/v1/services', true, [
      { status: 200, events: [fixture('watch-gone.json')] },
      { status: 200, events: [], hold: true },
    ]);
    const seen: string[] = [];
    src.onChange((c) => seen.push(`${c.type} ${c.object.metadata.namespace}/${c.object.metadata.name}`));
    await src.start();
    await until(() => expect(watches(s, '/api/v1/services')).toHaveLength(2));
    expect(seen.sort()).toEqual(['added default/echo-nodeport', 'deleted kube-system/kube-dns']);
    expect(watches(s, '/api/v1/services')[1]?.query.resourceVersion).toBe('1502');
    expect(src.resourceVersion('Service')).toBe('1502');
  });

  it('on a 410 Gone answer to the watch request lists again too', async () => {
    const { s, src } = await start();
    s.play('/api/v1/services', false, [
      { status: 200, body: fixture('services-list.json') },
      { status: 200, body: { ...fixture('services-list.json'), metadata: { resourceVersion: '1600' } } },
    ]);
    s.play('/api/v1/services', true, [
      { status: 410, body: fixture('gone-status.json') },
      { status: 200, events: [], hold: true },
    ]);
    await src.start();
    await until(() => expect(watches(s, '/api/v1/services')[1]?.query.resourceVersion).toBe('1600'));
  });

  it('misses nothing across a compaction while it was disconnected', async () => {
    const { s, src } = await start();
    s.put('/api/v1/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'a', namespace: 'default' },
    });
    await src.start();
    await until(() => expect(s.openWatches('/api/v1/services')).toBe(1));
    s.dropWatches();
    // While it reconnects: b comes and a goes, and the server forgets those events.
    s.put('/api/v1/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'b', namespace: 'default' },
    });
    s.remove('/api/v1/services', 'a', 'default');
    s.compact();
    await until(() => expect(src.objects('Service').map((o) => o.metadata.name)).toEqual(['b']));
    await until(() => expect(s.openWatches('/api/v1/services')).toBe(1));
  });

  it('writes with server-side apply and deletes by path, keeping the API’s own field names', async () => {
    const { s, src } = await start([SERVICES, POLICIES]);
    await src.start();
    const policy: KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'allow-x', namespace: 'y' },
      spec: {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'x' } } }] }],
      },
    };
    await src.apply([policy]);
    const patch = s.requests.find((r) => r.method === 'PATCH');
    expect(patch).toEqual({
      method: 'PATCH',
      path: '/apis/networking.k8s.io/v1/namespaces/y/networkpolicies/allow-x',
      query: { fieldManager: 'dpconform', force: 'true' },
    });
    await until(() => expect(src.objects('NetworkPolicy')).toHaveLength(1));
    // client-node's typed models would have renamed it `_from`.
    const [stored] = src.objects('NetworkPolicy');
    expect((stored?.spec as { ingress: object[] } | undefined)?.ingress[0]).toHaveProperty('from');
    await src.delete([policy]);
    expect(s.requests.at(-1)).toMatchObject({
      method: 'DELETE',
      path: '/apis/networking.k8s.io/v1/namespaces/y/networkpolicies/allow-x',
    });
    await until(() => expect(src.objects('NetworkPolicy')).toEqual([]));
  });

  it('refuses a kind it does not follow, naming the ones it does', async () => {
    const { src } = await start();
    await src.start();
    expect(() => src.objects('Deployment')).toThrow(
      'the source does not follow Deployment (it follows Service)',
    );
  });
});
