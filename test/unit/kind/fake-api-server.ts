/**
 * A Kubernetes API server for unit tests, on a unix socket (no address, no packet): it answers
 * list, watch (with bookmarks and `410 Gone` for compacted versions), server-side apply and
 * delete for the collections it is given, in the API's own wire format, and records every
 * request. It can also be given recorded responses to play back, in order, instead of its own.
 * client-node reaches it through a KubeConfig whose dispatcher connects to the socket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';
import { Agent } from 'undici';
import type { KubeObject, ResourceType } from '../../../src/cluster/object-source.ts';
import { apiVersionOf, collectionPath } from '../../../src/cluster/object-source-api.ts';

/** A request the server saw. */
export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

/** A response to play back: a JSON body, or a watch stream of event lines. */
export type Recorded =
  | { status: number; body: unknown }
  | { status: 200; events: unknown[] /** keep the stream open after the events */; hold?: boolean };

interface Watcher {
  collection: string;
  res: ServerResponse;
}

interface Stored {
  type: ResourceType;
  objects: Map<string, KubeObject>;
  /** Events by resource version, for watches that resume from an older one. */
  history: { rv: number; line: string }[];
}

/** The server. */
export class FakeApiServer {
  readonly requests: SeenRequest[] = [];
  readonly #server: Server;
  readonly #dir: string;
  readonly #collections = new Map<string, Stored>();
  readonly #watchers = new Set<Watcher>();
  readonly #recorded = new Map<string, Recorded[]>();
  #rv = 1000;
  /** Watches from a version below this are answered `410 Gone`, as after an etcd compaction. */
  #compactedBelow = 0;

  private constructor(server: Server, dir: string) {
    this.#server = server;
    this.#dir = dir;
  }

  /** Starts a server for these types. */
  static async start(types: readonly ResourceType[]): Promise<FakeApiServer> {
    const dir = await mkdtemp(join(tmpdir(), 'dpc-fake-api-'));
    const holder: { s?: FakeApiServer } = {};
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => holder.s?.handle(req, res, body));
    });
    const fake = new FakeApiServer(server, dir);
    holder.s = fake;
    for (const t of types)
      fake.#collections.set(collectionPath(t), { type: t, objects: new Map(), history: [] });
    await new Promise<void>((resolve) => server.listen(fake.socket, resolve));
    return fake;
  }

  /** The socket it listens on. */
  get socket(): string {
    return join(this.#dir, 'api.sock');
  }

  /** The current resource version. */
  get resourceVersion(): number {
    return this.#rv;
  }

  /** A KubeConfig for this server: client-node's own, with a dispatcher that dials the socket. */
  kubeConfig(): KubeConfig {
    const dispatcher = new Agent({ connect: { socketPath: this.socket } });
    class SocketKubeConfig extends KubeConfig {
      override async applySecurityAuthentication(context: RequestContext): Promise<void> {
        await super.applySecurityAuthentication(context);
        context.setDispatcher(dispatcher);
      }
    }
    const kc = new SocketKubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: 'http://api.fake.invalid', skipTLSVerify: true }],
      users: [{ name: 'fake', token: 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Plays these responses back, in order, for requests to the collection (`watch` ones apart). */
  play(collection: string, watch: boolean, responses: Recorded[]): void {
    this.#recorded.set(`${watch ? 'watch' : 'list'} ${collection}`, responses);
  }

  /** Changes an object as another client would (written to history, sent to open watches). */
  put(collection: string, object: KubeObject): KubeObject {
    const c = this.#collection(collection);
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const type = c.objects.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = this.#stamp(c, object);
    c.objects.set(key, stored);
    this.#event(collection, c, type, stored);
    return stored;
  }

  /** Deletes an object as another client would; false when there was none. */
  remove(collection: string, name: string, namespace?: string): boolean {
    const c = this.#collection(collection);
    const key = `${namespace ?? ''}/${name}`;
    const old = c.objects.get(key);
    if (!old) return false;
    c.objects.delete(key);
    this.#rv++;
    this.#event(collection, c, 'DELETED', {
      ...old,
      metadata: { ...old.metadata, resourceVersion: String(this.#rv) },
    });
    return true;
  }

  /** Sends a bookmark at the current version to every open watch of the collection. */
  bookmark(collection: string): void {
    const c = this.#collection(collection);
    const line = JSON.stringify({
      type: 'BOOKMARK',
      object: {
        kind: c.type.kind,
        apiVersion: apiVersionOf(c.type),
        metadata: { resourceVersion: String(this.#rv) },
      },
    });
    for (const w of this.#watchers) if (w.collection === collection) w.res.write(`${line}\n`);
  }

  /** Forgets history below the current version: a watch resuming from before it gets 410. */
  compact(): void {
    this.#compactedBelow = this.#rv;
    for (const c of this.#collections.values()) c.history = [];
  }

  /** Ends every open watch, as the server does when a watch times out. */
  dropWatches(): void {
    for (const w of this.#watchers) w.res.end();
    this.#watchers.clear();
  }

  /** Number of watches open now. */
  openWatches(collection?: string): number {
    return [...this.#watchers].filter((w) => !collection || w.collection === collection).length;
  }

  async close(): Promise<void> {
    this.dropWatches();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#dir, { recursive: true, force: true });
  }

  #collection(path: string): Stored {
    const c = this.#collections.get(path);
    if (!c) throw new Error(`fake API server: no collection ${path}`);
    return c;
  }

  #stamp(c: Stored, object: KubeObject): KubeObject {
    this.#rv++;
    const ns = c.type.namespaced ? { namespace: object.metadata.namespace ?? 'default' } : {};
    return {
      ...object,
      apiVersion: apiVersionOf(c.type),
      kind: c.type.kind,
      metadata: {
        ...object.metadata,
        ...ns,
        resourceVersion: String(this.#rv),
        uid: `uid-${object.metadata.name}`,
      },
    };
  }

  #event(collection: string, c: Stored, type: string, object: KubeObject): void {
    const line = JSON.stringify({ type, object });
    c.history.push({ rv: this.#rv, line });
    for (const w of this.#watchers) if (w.collection === collection) w.res.write(`${line}\n`);
  }

  private handle(req: IncomingMessage, res: ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query });
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const status = (code: number, reason: string, message: string) =>
      json(code, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message,
        reason,
        code,
      });
    const watch = query.watch === 'true';
    const recorded = this.#recorded.get(`${watch ? 'watch' : 'list'} ${url.pathname}`);
    if (req.method === 'GET' && recorded && recorded.length > 0) {
      const r = recorded.shift()!;
      if ('events' in r) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        for (const e of r.events) res.write(`${JSON.stringify(e)}\n`);
        if (r.hold) {
          const w = { collection: url.pathname, res };
          this.#watchers.add(w);
          res.on('close', () => this.#watchers.delete(w));
        } else res.end();
      } else json(r.status, r.body);
      return;
    }
    const collection = this.#collections.get(url.pathname);
    if (req.method === 'GET' && collection && !watch) {
      return json(200, {
        kind: `${collection.type.kind}List`,
        apiVersion: apiVersionOf(collection.type),
        metadata: { resourceVersion: String(this.#rv) },
        items: [...collection.objects.values()].map(({ kind: _k, apiVersion: _a, ...item }) => item),
      });
    }
    if (req.method === 'GET' && collection && watch) {
      const from = Number(query.resourceVersion ?? '0');
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      // An API server answers a watch at once and streams the events after.
      res.flushHeaders();
      if (from > 0 && from < this.#compactedBelow) {
        // What the API server sends: a 200 stream with one ERROR event carrying a 410 Status.
        const gone = {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${from} (${this.#compactedBelow})`,
          reason: 'Expired',
          code: 410,
        };
        res.end(`${JSON.stringify({ type: 'ERROR', object: gone })}\n`);
        return;
      }
      for (const h of collection.history) if (h.rv > from) res.write(`${h.line}\n`);
      const w = { collection: url.pathname, res };
      this.#watchers.add(w);
      res.on('close', () => this.#watchers.delete(w));
      return;
    }
    // An object: /api/v1/namespaces/<ns>/<plural>/<name> or /apis/<g>/<v>/[namespaces/<ns>/]<plural>/<name>.
    const m = /^(\/apis?\/(?:[^/]+\/)?v[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)\/([^/]+)$/.exec(
      url.pathname,
    );
    const target = m ? this.#collections.get(`${m[1]}/${m[3]}`) : undefined;
    if (!m || !target) return status(404, 'NotFound', `the server could not find the requested resource`);
    const path = `${m[1]}/${m[3]}`;
    const name = decodeURIComponent(m[4]!);
    const namespace = m[2] ? decodeURIComponent(m[2]) : undefined;
    if (req.method === 'PATCH') {
      if (req.headers['content-type'] !== 'application/apply-patch+yaml')
        return status(415, 'UnsupportedMediaType', `unsupported media type ${req.headers['content-type']}`);
      const object = JSON.parse(body) as KubeObject;
      return json(
        200,
        this.put(path, {
          ...object,
          metadata: { ...object.metadata, name, ...(namespace ? { namespace } : {}) },
        }),
      );
    }
    if (req.method === 'DELETE') {
      if (!this.remove(path, name, namespace))
        return status(404, 'NotFound', `${target.type.plural} "${name}" not found`);
      return json(200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
    }
    status(405, 'MethodNotAllowed', `${req.method} is not allowed`);
  }
}
