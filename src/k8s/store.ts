/**
 * The object store of the embedded control plane: what `kubectl apply` and `delete` would leave
 * in a cluster's API server. A batch is validated as a whole before anything changes, so a bad
 * batch leaves the store as it was. Serialisable, so the CLI can keep it between invocations.
 */

import { mergeFelixSettings } from './felix.ts';
import type { FelixSettings } from './felix-settings.ts';
import { BUILT_IN_NAMESPACES, isSupportedKind, KINDS, SUPPORTED_KINDS, type SupportedKind } from './kinds.ts';
import { identify, type Manifest, ManifestError, type ManifestSource, manifestLabel } from './manifest.ts';
import { type ObjectRef, type Resource, refKey, refLabel } from './resource.ts';
import { validateManifest } from './validate.ts';

/** What apply did to one object, in kubectl's words. */
export type ApplyAction = 'created' | 'configured' | 'unchanged';

/** The outcome of one apply. */
export interface ApplyResult {
  /** One entry per object of the batch, in batch order: `Service default/web` and what happened. */
  results: { object: string; action: ApplyAction }[];
  /** Accepted-but-ignored fields and similar, one line each. */
  warnings: string[];
}

/** The outcome of one delete. */
export interface DeleteResult {
  /** Objects removed, including those removed with their namespace. */
  deleted: string[];
  /** Objects named in the batch that did not exist. */
  notFound: string[];
}

/** One stored object in a snapshot. */
export interface StoredObject {
  source: ManifestSource;
  object: Record<string, unknown>;
}

/** The store as JSON. */
export interface StoreSnapshot {
  version: 1;
  objects: StoredObject[];
}

const BUILT_IN_SOURCE = '<built-in>';

type ResourceOf<K extends SupportedKind> = Extract<Resource, { kind: K }>;

function canonical(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function builtInNamespace(name: string, index: number): Resource {
  return {
    kind: 'Namespace',
    apiVersion: 'v1',
    name,
    namespace: undefined,
    source: { file: BUILT_IN_SOURCE, index, line: 0 },
    warnings: [],
    object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
  };
}

function errorAt(r: Resource | Manifest, field: string, message: string): ManifestError {
  return new ManifestError({ file: r.source.file, object: manifestLabel(r), field, message });
}

function whereOf(source: ManifestSource): string {
  return source.line > 0 ? `${source.file}:${source.line}` : `${source.file} #${source.index + 1}`;
}

/** Kubernetes objects by kind, namespace and name. */
export class ObjectStore {
  readonly #objects = new Map<string, Resource>();

  constructor() {
    for (const [i, name] of BUILT_IN_NAMESPACES.entries()) this.#put(builtInNamespace(name, i));
  }

  #put(r: Resource): void {
    this.#objects.set(refKey(r), r);
  }

  /** The object with this identity, if stored. */
  get<K extends SupportedKind>(
    kind: K,
    namespace: string | undefined,
    name: string,
  ): ResourceOf<K> | undefined {
    return this.#objects.get(refKey({ kind, namespace, name })) as ResourceOf<K> | undefined;
  }

  /** Every object, by kind (in commit order), then namespace, then name. */
  list(): Resource[] {
    const order = (k: SupportedKind) => SUPPORTED_KINDS.indexOf(k);
    return [...this.#objects.values()].sort(
      (a, b) =>
        order(a.kind) - order(b.kind) ||
        (a.namespace ?? '').localeCompare(b.namespace ?? '') ||
        a.name.localeCompare(b.name),
    );
  }

  /** Every object of one kind, by namespace then name. */
  ofKind<K extends SupportedKind>(kind: K): ResourceOf<K>[] {
    return this.list().filter((r): r is ResourceOf<K> => r.kind === kind);
  }

  /** True when the namespace exists. */
  hasNamespace(name: string): boolean {
    return this.#objects.has(refKey({ kind: 'Namespace', namespace: undefined, name }));
  }

  /**
   * Felix settings for a node: defaults, then FelixConfiguration `default`, then
   * `node.<nodeName>`, field by field as Calico layers them.
   */
  felixSettings(nodeName?: string): FelixSettings {
    const global = this.get('FelixConfiguration', undefined, 'default');
    const node =
      nodeName === undefined ? undefined : this.get('FelixConfiguration', undefined, `node.${nodeName}`);
    return mergeFelixSettings(global?.felix.explicit ?? {}, node?.felix.explicit ?? {});
  }

  /** Checks a whole batch against the store; returns the validated objects or throws. */
  #check(manifests: readonly Manifest[]): Resource[] {
    const batch = manifests.map(validateManifest);
    const seen = new Map<string, Resource>();
    for (const r of batch) {
      const first = seen.get(refKey(r));
      if (first)
        throw errorAt(r, 'metadata.name', `defined twice in this batch (also at ${whereOf(first.source)})`);
      seen.set(refKey(r), r);
    }
    for (const r of batch) {
      if (r.namespace !== undefined && !this.hasNamespace(r.namespace)) {
        const inBatch = seen.has(refKey({ kind: 'Namespace', namespace: undefined, name: r.namespace }));
        if (!inBatch) {
          throw errorAt(
            r,
            'metadata.namespace',
            `namespace "${r.namespace}" not found (create it first or apply its Namespace in the same batch)`,
          );
        }
      }
      this.#checkUpdate(r);
    }
    return batch;
  }

  /** Fields Kubernetes does not let an update change. */
  #checkUpdate(r: Resource): void {
    const old = this.#objects.get(refKey(r));
    if (!old) return;
    if (r.kind === 'Deployment' && old.kind === 'Deployment') {
      const before = canonical(old.object.spec?.selector);
      if (before !== canonical(r.object.spec?.selector)) {
        throw errorAt(r, 'spec.selector', `field is immutable (was ${before})`);
      }
    }
    if (r.kind === 'Service' && old.kind === 'Service') {
      const before = old.object.spec?.clusterIP;
      const after = r.object.spec?.clusterIP;
      if (before && after && before !== after)
        throw errorAt(r, 'spec.clusterIP', `field is immutable (was ${before})`);
    }
  }

  /** Creates or updates every object of the batch, or none of them. */
  apply(manifests: readonly Manifest[]): ApplyResult {
    const batch = this.#check(manifests);
    const results: ApplyResult['results'] = [];
    const order = (k: SupportedKind) => SUPPORTED_KINDS.indexOf(k);
    // Namespaces go in first so the objects of the batch always find theirs.
    for (const r of [...batch].sort((a, b) => order(a.kind) - order(b.kind))) {
      const old = this.#objects.get(refKey(r));
      const action: ApplyAction = !old
        ? 'created'
        : canonical(old.object) === canonical(r.object)
          ? 'unchanged'
          : 'configured';
      this.#put(r);
      results.push({ object: refLabel(r), action });
    }
    const position = new Map(batch.map((r, i) => [refLabel(r), i]));
    results.sort((a, b) => position.get(a.object)! - position.get(b.object)!);
    return { results, warnings: batch.flatMap((r) => r.warnings) };
  }

  /** Deletes the objects the manifests name (only their identity is read); a namespace takes its objects with it. */
  delete(manifests: readonly Manifest[]): DeleteResult {
    const refs: ObjectRef[] = manifests.map((m) => {
      if (!isSupportedKind(m.kind)) {
        throw errorAt(m, 'kind', `kind ${m.kind} is not supported`);
      }
      const served: readonly string[] = KINDS[m.kind].apiVersions;
      if (!served.includes(m.apiVersion)) {
        throw errorAt(
          m,
          'apiVersion',
          `${m.kind} is not served by ${JSON.stringify(m.apiVersion)}; use ${served.join(' or ')}`,
        );
      }
      if (m.kind === 'Namespace' && BUILT_IN_NAMESPACES.includes(m.name)) {
        throw errorAt(m, '', `namespace ${m.name} may not be deleted`);
      }
      return { kind: m.kind, namespace: m.namespace, name: m.name };
    });
    const deleted: string[] = [];
    const notFound: string[] = [];
    for (const ref of refs) {
      const key = refKey(ref);
      if (!this.#objects.delete(key)) {
        if (!deleted.includes(refLabel(ref))) notFound.push(refLabel(ref));
        continue;
      }
      deleted.push(refLabel(ref));
      if (ref.kind !== 'Namespace') continue;
      for (const r of this.list()) {
        if (r.namespace === ref.name) {
          this.#objects.delete(refKey(r));
          deleted.push(refLabel(r));
        }
      }
    }
    return { deleted, notFound };
  }

  /** The store as JSON (built-in namespaces are implied, not written). */
  toJSON(): StoreSnapshot {
    const objects = this.list()
      .filter((r) => r.source.file !== BUILT_IN_SOURCE)
      .map((r) => ({
        source: r.source,
        object: structuredClone(r.object) as unknown as Record<string, unknown>,
      }));
    return { version: 1, objects };
  }

  /** Rebuilds a store from {@link toJSON}'s output, validating every object again. */
  static fromJSON(snapshot: unknown): ObjectStore {
    const data = snapshot as Partial<StoreSnapshot> | null;
    if (data?.version !== 1 || !Array.isArray(data.objects)) {
      throw new Error('not an object store snapshot (expected {version: 1, objects: [...]})');
    }
    const store = new ObjectStore();
    store.apply(data.objects.map((o) => identify(o.object, o.source)));
    return store;
  }
}
