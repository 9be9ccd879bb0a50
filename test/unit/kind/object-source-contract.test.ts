/**
 * The object source contract, once for each implementation: the embedded store, and an API
 * server followed through client-node (here the fake one, on a unix socket).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  EmbeddedObjectSource,
  type KubeObject,
  type ObjectChange,
  type ObjectSource,
  SOURCE_TYPES,
} from '../../../src/cluster/object-source.ts';
import { ApiServerObjectSource, collectionPath } from '../../../src/cluster/object-source-api.ts';
import { manifestsFromObjects } from '../../../src/k8s/manifest.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { FakeApiServer } from './fake-api-server.ts';

function service(name: string, port = 80): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 8080, protocol: 'TCP' }] },
  };
}

const denyAll: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'deny', namespace: 'default' },
  spec: { podSelector: {}, policyTypes: ['Ingress'] },
};

/** A source under test with objects already there before it starts. */
interface Subject {
  source: ObjectSource;
  close(): Promise<void>;
}

type Make = (existing: KubeObject[]) => Promise<Subject>;

const makeEmbedded: Make = async (existing) => {
  const store = new ObjectStore();
  if (existing.length > 0) store.apply(manifestsFromObjects(existing));
  return { source: new EmbeddedObjectSource(store), close: async () => {} };
};

const makeApi: Make = async (existing) => {
  const server = await FakeApiServer.start(SOURCE_TYPES);
  for (const o of existing) {
    const type = SOURCE_TYPES.find((t) => t.kind === o.kind)!;
    server.put(collectionPath(type), o);
  }
  const source = new ApiServerObjectSource(server.kubeConfig(), { retryDelayMs: 50 });
  return {
    source,
    close: async () => {
      await source.stop();
      await server.close();
    },
  };
};

// An API server's changes arrive through the watch; the embedded store's at once.
const until = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 20 });

function names(source: ObjectSource, kind: string): string[] {
  return source
    .objects(kind)
    .map((o) => o.metadata.name)
    .sort();
}

for (const [name, make] of [
  ['embedded store', makeEmbedded],
  ['API server through client-node', makeApi],
] as const) {
  describe(`object source contract: ${name}`, () => {
    let subject: Subject | undefined;
    afterEach(async () => {
      await subject?.close();
      subject = undefined;
    });

    it('holds every object that was there before it started, each with a resource version', async () => {
      subject = await make([service('web'), denyAll]);
      await subject.source.start();
      expect(names(subject.source, 'Service')).toEqual(['web']);
      expect(names(subject.source, 'NetworkPolicy')).toEqual(['deny']);
      for (const o of subject.source.objects('Service')) expect(o.metadata.resourceVersion).toMatch(/^\d+$/);
    });

    it('tells listeners of what is applied, changed and deleted through it, once each and in order', async () => {
      subject = await make([]);
      const { source } = subject;
      await source.start();
      const seen: string[] = [];
      source.onChange((c: ObjectChange) => seen.push(`${c.type} ${c.object.kind}/${c.object.metadata.name}`));
      await source.apply([service('web')]);
      await until(() => expect(names(source, 'Service')).toEqual(['web']));
      await source.apply([service('web', 81)]);
      const port = () =>
        (source.objects('Service')[0]?.spec as { ports: { port: number }[] } | undefined)?.ports[0];
      await until(() => expect(port()?.port).toBe(81));
      await source.delete([service('web')]);
      await until(() => expect(names(source, 'Service')).toEqual([]));
      expect(seen).toEqual(['added Service/web', 'modified Service/web', 'deleted Service/web']);
    });

    it('moves an object’s resource version on with every change', async () => {
      subject = await make([service('web')]);
      const { source } = subject;
      await source.start();
      const before = Number(source.objects('Service')[0]?.metadata.resourceVersion);
      await source.apply([service('web', 81)]);
      await until(() =>
        expect(Number(source.objects('Service')[0]?.metadata.resourceVersion)).toBeGreaterThan(before),
      );
    });

    it('takes a delete of an object that is not there as done', async () => {
      subject = await make([]);
      await subject.source.start();
      await expect(subject.source.delete([service('nothing')])).resolves.toBeUndefined();
    });

    it('calls no listener once stopped', async () => {
      subject = await make([]);
      const { source } = subject;
      await source.start();
      const seen: ObjectChange[] = [];
      source.onChange((c) => seen.push(c));
      await source.stop();
      await source.apply([service('late')]).catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      expect(seen).toEqual([]);
    });
  });
}
