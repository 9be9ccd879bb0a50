/**
 * The embedded control plane as a provider sees it: an object store that takes manifests, the
 * FelixConfiguration in force, and reconciliation into a realised model.
 */
import type { FelixSettings } from '../dataplane/types.ts';
import { reconcile } from '../k8s/controller.ts';
import { manifestsFrom, manifestsFromObjects } from '../k8s/manifest.ts';
import type { ClusterModel, NodeState, PodState } from '../k8s/model.ts';
import { ObjectStore } from '../k8s/store.ts';

const FELIX_API = 'projectcalico.org/v3';

/** What a reconcile asks the provider to realise. */
export interface Reconciled {
  model: ClusterModel;
  added: PodState[];
  removed: PodState[];
  /** Objects that could not be fully realised, one line each. */
  errors: string[];
}

/** Objects in, realised model out. */
export class ControlPlane {
  readonly #store: ObjectStore;

  private constructor(store: ObjectStore) {
    this.#store = store;
  }

  /** A fresh control plane; `settings` become the spec of FelixConfiguration `default`. */
  static empty(settings: Partial<FelixSettings> = {}): ControlPlane {
    const cp = new ControlPlane(new ObjectStore());
    if (Object.keys(settings).length > 0) cp.patchFelix(settings);
    return cp;
  }

  /** Restores a control plane saved with {@link toJSON}. */
  static fromJSON(json: unknown): ControlPlane {
    return new ControlPlane(ObjectStore.fromJSON(json));
  }

  /** The store as JSON. */
  toJSON(): unknown {
    return this.#store.toJSON();
  }

  /** Applies manifests (a path, YAML text or objects): all of them or, on any error, none. */
  async apply(source: string | readonly unknown[]): Promise<string[]> {
    return this.#store.apply(manifestsFrom(source)).warnings;
  }

  /** Deletes the objects the manifests name. */
  async delete(source: string | readonly unknown[]): Promise<void> {
    this.#store.delete(manifestsFrom(source));
  }

  /**
   * Patches fields of FelixConfiguration `default`, keeping the others, as
   * `calicoctl patch felixconfiguration default` does.
   */
  patchFelix(fields: Partial<FelixSettings>): void {
    const current = this.#store.get('FelixConfiguration', undefined, 'default');
    const spec = { ...((current?.object.spec as Record<string, unknown> | undefined) ?? {}), ...fields };
    const metadata = { name: 'default' };
    this.#store.apply(manifestsFromObjects([{ apiVersion: FELIX_API, kind: 'FelixConfiguration', metadata, spec }], '<patch>'));
  }

  /** The settings in force and the warnings about fields this dataplane does not implement. */
  settings(): { settings: FelixSettings; warnings: string[] } {
    const warnings = this.#store.ofKind('FelixConfiguration').flatMap((r) => r.warnings);
    return { settings: this.#store.felixSettings(), warnings };
  }

  /** Computes the next model from the objects, keeping what `previous` already realised. */
  reconcile(nodes: readonly NodeState[], previous: ClusterModel | undefined): Reconciled {
    const r = reconcile(this.#store, nodes, previous);
    return { model: r.model, added: r.podsAdded, removed: r.podsRemoved, errors: r.errors };
  }
}
