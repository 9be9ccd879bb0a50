/**
 * A real API server as the control plane's object source, through @kubernetes/client-node: its
 * KubeConfig for the server, credentials and TLS, its Watch for the event streams. Each type is
 * listed once, then watched from the list's resource version with bookmarks, so that a quiet
 * type still moves its resource version on and a reconnect resumes where the last event or
 * bookmark left off; a `410 Gone` (the version was compacted away) makes it list again and
 * report what changed in between. Objects are kept as the API's JSON, never as client-node's
 * typed models (which rename fields, `from` to `_from`).
 */
import { type KubeConfig, RequestContext, Watch } from '@kubernetes/client-node';
import { fetch } from 'undici';
import {
  ChangeListeners,
  type KubeObject,
  type KubeRef,
  type ObjectChange,
  type ObjectSource,
  objectKey,
  type ResourceType,
  SOURCE_TYPES,
} from './object-source.ts';

/** How an API-server source behaves. */
export interface ApiSourceOptions {
  types?: readonly ResourceType[];
  /** Server-side bound on one watch request; the source watches again from where it was. */
  watchTimeoutSeconds?: number;
  /** Pause before watching again after an error (never after a normal end or a 410). */
  retryDelayMs?: number;
  /** Field manager of server-side apply. */
  fieldManager?: string;
  log?: (line: string) => void;
}

/** An answer of the API server that was not a success. */
export class ApiError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, message: string) {
    super(`${method} ${path}: ${status} ${message}`);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** The collection path of a type (every namespace), as list and watch use it. */
export function collectionPath(t: ResourceType): string {
  return t.group === '' ? `/api/${t.version}/${t.plural}` : `/apis/${t.group}/${t.version}/${t.plural}`;
}

/** The path of one object. */
export function objectPath(t: ResourceType, name: string, namespace?: string): string {
  const base = t.group === '' ? `/api/${t.version}` : `/apis/${t.group}/${t.version}`;
  const ns = t.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? 'default')}` : '';
  return `${base}${ns}/${t.plural}/${encodeURIComponent(name)}`;
}

/** The apiVersion of a type's objects. */
export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

/** A watch ended because the resource version it resumed from is gone. */
function isGone(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: number; status?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410 || e?.status === 410;
}

interface WatchEvent {
  type: string;
  object: KubeObject & { code?: number; message?: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Follows an API server's objects. */
export class ApiServerObjectSource implements ObjectSource {
  readonly name = 'api-server';
  readonly types: readonly ResourceType[];
  readonly #kc: KubeConfig;
  readonly #opts: Required<Omit<ApiSourceOptions, 'types'>>;
  readonly #listeners = new ChangeListeners();
  readonly #cache = new Map<string, Map<string, KubeObject>>();
  readonly #versions = new Map<string, string>();
  readonly #watches = new Set<AbortController>();
  readonly #loops: Promise<void>[] = [];
  #stopped = false;

  constructor(kc: KubeConfig, opts: ApiSourceOptions = {}) {
    this.#kc = kc;
    this.types = opts.types ?? SOURCE_TYPES;
    this.#opts = {
      watchTimeoutSeconds: opts.watchTimeoutSeconds ?? 300,
      retryDelayMs: opts.retryDelayMs ?? 1000,
      fieldManager: opts.fieldManager ?? 'dpconform',
      log: opts.log ?? (() => {}),
    };
  }

  /** The resource version a type was last seen at (from a list, an event or a bookmark). */
  resourceVersion(kind: string): string | undefined {
    return this.#versions.get(kind);
  }

  async #request(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> {
    const server = this.#kc.getCurrentCluster()?.server;
    if (!server) throw new Error('the kubeconfig has no current cluster');
    const ctx = new RequestContext(`${server}${path}`, method as never);
    ctx.setHeaderParam('Accept', 'application/json');
    if (contentType) ctx.setHeaderParam('Content-Type', contentType);
    await this.#kc.applySecurityAuthentication(ctx);
    const res = await fetch(ctx.getUrl(), {
      method,
      headers: ctx.getHeaders(),
      dispatcher: ctx.getDispatcher(),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    const json = text === '' ? undefined : (JSON.parse(text) as { message?: string });
    if (!res.ok)
      throw new ApiError(method, path.split('?')[0] ?? path, res.status, json?.message ?? res.statusText);
    return json;
  }

  #type(kind: string): ResourceType {
    const t = this.types.find((x) => x.kind === kind);
    if (!t)
      throw new Error(
        `the source does not follow ${kind} (it follows ${this.types.map((x) => x.kind).join(', ')})`,
      );
    return t;
  }

  /** Lists a type and makes the cache match it, telling listeners what differs. */
  async #list(t: ResourceType): Promise<void> {
    const list = (await this.#request('GET', collectionPath(t))) as {
      metadata?: { resourceVersion?: string };
      items?: KubeObject[];
    };
    const fresh = new Map<string, KubeObject>();
    // Items of a list carry no kind or apiVersion of their own.
    for (const item of list.items ?? []) {
      const o = { ...item, kind: t.kind, apiVersion: apiVersionOf(t) };
      fresh.set(objectKey(o), o);
    }
    // The first list is where the source starts from; only later lists are changes.
    const first = !this.#cache.has(t.kind);
    const cache = this.#cache.get(t.kind) ?? new Map<string, KubeObject>();
    const changes: ObjectChange[] = [];
    for (const [key, o] of cache) if (!fresh.has(key)) changes.push({ type: 'deleted', object: o });
    for (const [key, o] of fresh) {
      const old = cache.get(key);
      if (!old) changes.push({ type: 'added', object: o });
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion)
        changes.push({ type: 'modified', object: o });
    }
    this.#cache.set(t.kind, fresh);
    this.#versions.set(t.kind, list.metadata?.resourceVersion ?? '');
    if (!first) for (const c of changes) this.#emit(c);
  }

  #emit(change: ObjectChange): void {
    if (!this.#stopped) this.#listeners.emit(change);
  }

  /** Applies one watch event; true when it says the resumed-from version is gone. */
  #event(t: ResourceType, ev: WatchEvent): boolean {
    if (ev.type === 'ERROR') {
      if (ev.object.code === 410) return true;
      this.#opts.log(`watch ${t.kind}: ${ev.object.message ?? 'error event'}`);
      return false;
    }
    const rv = ev.object?.metadata?.resourceVersion;
    if (rv) this.#versions.set(t.kind, rv);
    if (ev.type === 'BOOKMARK') return false;
    const o = { ...ev.object, kind: t.kind, apiVersion: apiVersionOf(t) };
    const cache = this.#cache.get(t.kind) ?? new Map<string, KubeObject>();
    this.#cache.set(t.kind, cache);
    const key = objectKey(o);
    if (ev.type === 'DELETED') {
      if (cache.delete(key)) this.#emit({ type: 'deleted', object: o });
    } else if (ev.type === 'ADDED' || ev.type === 'MODIFIED') {
      const type = cache.has(key) ? 'modified' : 'added';
      cache.set(key, o);
      this.#emit({ type, object: o });
    }
    return false;
  }

  /** One watch request, to its end: resolves with whether it ended on `410 Gone`. */
  async #watchOnce(t: ResourceType): Promise<boolean> {
    let gone = false;
    const ended = new Promise<unknown>((resolve) => {
      void new Watch(this.#kc)
        .watch(
          collectionPath(t),
          {
            resourceVersion: this.#versions.get(t.kind),
            allowWatchBookmarks: true,
            timeoutSeconds: this.#opts.watchTimeoutSeconds,
          },
          (type, object) => {
            if (this.#event(t, { type, object })) gone = true;
          },
          resolve,
        )
        .then((controller) => {
          if (this.#stopped) controller.abort();
          else {
            this.#watches.add(controller);
            void ended.finally(() => this.#watches.delete(controller));
          }
        }, resolve);
    });
    const err = await ended;
    if (gone || isGone(err)) return true;
    // A client-side inactivity timeout is a normal end: watch again from the same version.
    if (err && (err as Error).name !== 'TimeoutError' && !this.#stopped) throw err;
    return false;
  }

  async #follow(t: ResourceType): Promise<void> {
    while (!this.#stopped) {
      try {
        if (await this.#watchOnce(t)) {
          this.#opts.log(
            `watch ${t.kind}: resource version ${this.#versions.get(t.kind)} is gone; listing again`,
          );
          if (!this.#stopped) await this.#list(t);
        }
      } catch (err) {
        if (this.#stopped) return;
        this.#opts.log(`watch ${t.kind}: ${err instanceof Error ? err.message : String(err)}; retrying`);
        await sleep(this.#opts.retryDelayMs);
      }
    }
  }

  async start(): Promise<void> {
    this.#stopped = false;
    for (const t of this.types) await this.#list(t);
    for (const t of this.types) this.#loops.push(this.#follow(t));
  }

  objects(kind: string): KubeObject[] {
    this.#type(kind);
    return [...(this.#cache.get(kind)?.values() ?? [])];
  }

  async apply(objects: readonly KubeObject[]): Promise<void> {
    for (const o of objects) {
      const t = this.#type(o.kind);
      const query = `?fieldManager=${encodeURIComponent(this.#opts.fieldManager)}&force=true`;
      // Server-side apply creates or updates; JSON is YAML, which is what apply-patch takes.
      await this.#request(
        'PATCH',
        `${objectPath(t, o.metadata.name, o.metadata.namespace)}${query}`,
        o,
        'application/apply-patch+yaml',
      );
    }
  }

  async delete(refs: readonly KubeRef[]): Promise<void> {
    for (const r of refs) {
      const t = this.#type(r.kind);
      try {
        await this.#request('DELETE', objectPath(t, r.metadata.name, r.metadata.namespace));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
  }

  onChange(listener: (change: ObjectChange) => void): () => void {
    return this.#listeners.add(listener);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const w of this.#watches) w.abort();
    await Promise.all(this.#loops.splice(0));
    this.#listeners.clear();
  }
}
