/**
 * Where the control plane takes its Kubernetes objects from: the embedded store (netns and
 * docker providers), or a real API server followed with list and watch (kind, in
 * ./object-source-api.ts). Both keep the same contract: once started, `objects` holds every
 * object of the types followed; a change made through `apply` or `delete`, or by anyone else,
 * shows there and reaches every listener, once, in the order the source saw it.
 */
import { manifestsFromObjects } from '../k8s/manifest.ts';
import { ObjectStore } from '../k8s/store.ts';

/** A resource type a source follows: its kind and where the API serves it. */
export interface ResourceType {
  kind: string;
  /** API group, `''` for the core group. */
  group: string;
  version: string;
  /** The resource's plural, as in its path. */
  plural: string;
  namespaced: boolean;
}

/**
 * The types the dataplane's control plane is programmed from. FelixConfiguration is Calico's
 * custom resource as stored (`crd.projectcalico.org/v1`), which is what an API server without
 * Calico's own API server serves.
 */
export const SOURCE_TYPES: readonly ResourceType[] = [
  { kind: 'Service', group: '', version: 'v1', plural: 'services', namespaced: true },
  {
    kind: 'EndpointSlice',
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
    namespaced: true,
  },
  {
    kind: 'NetworkPolicy',
    group: 'networking.k8s.io',
    version: 'v1',
    plural: 'networkpolicies',
    namespaced: true,
  },
  {
    kind: 'FelixConfiguration',
    group: 'crd.projectcalico.org',
    version: 'v1',
    plural: 'felixconfigurations',
    namespaced: false,
  },
];

/** An object as the API's JSON has it. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** What names an object to delete. */
export interface KubeRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** One change a source saw. */
export interface ObjectChange {
  type: 'added' | 'modified' | 'deleted';
  /** The object after the change (before it, for a deletion). */
  object: KubeObject;
}

/** Where the control plane's objects come from. */
export interface ObjectSource {
  /** `embedded` or `api-server`, for messages. */
  readonly name: string;
  /** The types it follows. */
  readonly types: readonly ResourceType[];
  /** Reads every type once; resolves when `objects` is complete, throws when the source cannot be read. */
  start(): Promise<void>;
  /** The objects of a kind as the source has them now. */
  objects(kind: string): KubeObject[];
  /** Creates or updates objects (as `kubectl apply --server-side` would). */
  apply(objects: readonly KubeObject[]): Promise<void>;
  /** Deletes the objects named; one that is not there is not an error. */
  delete(refs: readonly KubeRef[]): Promise<void>;
  /** Calls `listener` on every change from now on; returns the function that stops it. */
  onChange(listener: (change: ObjectChange) => void): () => void;
  /** Stops following; no listener is called afterwards. */
  stop(): Promise<void>;
}

/** `kind/namespace/name`: a source's key for an object. */
export function objectKey(o: Pick<KubeRef, 'kind' | 'metadata'>): string {
  return `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
}

/** Listeners of a source, called in order, each change once. */
export class ChangeListeners {
  readonly #listeners = new Set<(change: ObjectChange) => void>();

  /** Adds a listener; returns the function that removes it. */
  add(listener: (change: ObjectChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Tells every listener; one that throws does not keep the others from hearing. */
  emit(change: ObjectChange): void {
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch {
        // A listener's own failure is its own to report.
      }
    }
  }

  /** Forgets every listener. */
  clear(): void {
    this.#listeners.clear();
  }
}

/**
 * The embedded store as a source. Objects are validated as `dpconform apply` validates them (a
 * bad batch changes nothing and throws); each change gets the next resource version, as an API
 * server would give it.
 */
export class EmbeddedObjectSource implements ObjectSource {
  readonly name = 'embedded';
  readonly types: readonly ResourceType[];
  readonly #store: ObjectStore;
  readonly #listeners = new ChangeListeners();
  readonly #versions = new Map<string, number>();
  #version = 0;
  #running = false;

  constructor(store: ObjectStore = new ObjectStore(), types: readonly ResourceType[] = SOURCE_TYPES) {
    this.#store = store;
    this.types = types;
  }

  async start(): Promise<void> {
    for (const o of this.#all().values()) this.#versions.set(objectKey(o), ++this.#version);
    this.#running = true;
  }

  #all(): Map<string, KubeObject> {
    const out = new Map<string, KubeObject>();
    const kinds = new Set(this.types.map((t) => t.kind));
    for (const r of this.#store.list()) {
      const o = r.object as unknown as KubeObject;
      if (kinds.has(r.kind)) out.set(objectKey({ kind: r.kind, metadata: o.metadata }), o);
    }
    return out;
  }

  objects(kind: string): KubeObject[] {
    return [...this.#all().entries()]
      .filter(([key]) => key.startsWith(`${kind}/`))
      .map(([key, o]) => ({
        ...o,
        metadata: { ...o.metadata, resourceVersion: String(this.#versions.get(key) ?? 0) },
      }));
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    await this.#changing(() => this.#store.apply(manifestsFromObjects(objects)));
  }

  async delete(refs: readonly KubeRef[]): Promise<void> {
    await this.#changing(() => this.#store.delete(manifestsFromObjects(refs)));
  }

  /** Runs a change of the store and tells listeners what it did, object by object. */
  async #changing(change: () => unknown): Promise<void> {
    const before = this.#all();
    change();
    const after = this.#all();
    const changes: ObjectChange[] = [];
    for (const [key, o] of before) if (!after.has(key)) changes.push({ type: 'deleted', object: o });
    for (const [key, o] of after) {
      const old = before.get(key);
      if (!old) changes.push({ type: 'added', object: o });
      else if (JSON.stringify(old) !== JSON.stringify(o)) changes.push({ type: 'modified', object: o });
    }
    for (const c of changes) {
      const key = objectKey(c.object);
      if (c.type === 'deleted') this.#versions.delete(key);
      else this.#versions.set(key, ++this.#version);
      if (this.#running)
        this.#listeners.emit({
          ...c,
          object: { ...c.object, metadata: { ...c.object.metadata, resourceVersion: String(this.#version) } },
        });
    }
  }

  onChange(listener: (change: ObjectChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#listeners.clear();
  }
}
