/**
 * The embedded control plane as a provider sees it: an object store that takes manifests, the
 * FelixConfiguration in force, and reconciliation into a realised model.
 */

import { reconcile } from '../k8s/controller.ts';
import type { FelixSettings } from '../k8s/felix-settings.ts';
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

/** A batch refused because its Services could not be allocated; the message names file, object and field. */
export class AllocationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestError';
  }
}

/** Objects in, realised model out. */
export class ControlPlane {
  #store: ObjectStore;

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

  /**
   * Applies manifests (a path, YAML text or objects): all of them or, on any error, none. Like an
   * API server, a batch whose Services cannot be allocated (a nodePort or ClusterIP already
   * taken) is refused whole; that is only known by reconciling, so the check runs one.
   */
  async apply(
    source: string | readonly unknown[],
    nodes: readonly NodeState[],
    previous: ClusterModel | undefined,
  ): Promise<string[]> {
    const before = this.#store.toJSON();
    const known = new Set(this.reconcile(nodes, previous).errors);
    const manifests = manifestsFrom(source);
    const warnings = this.#store.apply(manifests).warnings;
    // As the operator does: an Installation's linuxDataplane becomes FelixConfiguration bpfEnabled.
    const installation = manifests.some((m) => m.kind === 'Installation')
      ? this.#store.get('Installation', undefined, 'default')?.installation.linuxDataplane
      : undefined;
    if (installation) this.patchFelix({ bpfEnabled: installation === 'BPF' });
    const fresh = this.reconcile(nodes, previous).errors.filter((e) => !known.has(e));
    if (fresh.length > 0) {
      this.#restore(before);
      throw new AllocationError(fresh[0]!);
    }
    return warnings;
  }

  #restore(snapshot: unknown): void {
    const restored = ObjectStore.fromJSON(snapshot);
    this.#store = restored;
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
    this.#store.apply(
      manifestsFromObjects(
        [{ apiVersion: FELIX_API, kind: 'FelixConfiguration', metadata, spec }],
        '<patch>',
      ),
    );
  }

  /** The settings in force and the warnings about fields this dataplane does not implement. */
  settings(): { settings: FelixSettings; warnings: string[] } {
    // The dataplane's configuration also comes from the operator's Installation and ServiceMonitor.
    const warnings = [
      ...this.#store.ofKind('FelixConfiguration'),
      ...this.#store.ofKind('Installation'),
      ...this.#store.ofKind('ServiceMonitor'),
    ].flatMap((r) => r.warnings);
    return { settings: this.#store.felixSettings(), warnings };
  }

  /** Computes the next model from the objects, keeping what `previous` already realised. */
  reconcile(nodes: readonly NodeState[], previous: ClusterModel | undefined): Reconciled {
    const r = reconcile(this.#store, nodes, previous);
    return { model: r.model, added: r.podsAdded, removed: r.podsRemoved, errors: r.errors };
  }
}
