/**
 * Loading Kubernetes manifests: YAML text, a file or a directory of files becomes a list of raw
 * objects, each remembering where it came from. Structure beyond identity (apiVersion, kind,
 * metadata.name/namespace) is checked later, per kind.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import { DEFAULT_NAMESPACE, isSupportedKind, KINDS, storedKind } from './kinds.ts';

/** Where an object was written. */
export interface ManifestSource {
  /** The file as the user named it (relative paths stay relative), or `<stdin>`, `<objects>`. */
  file: string;
  /** 0-based position of the YAML document in the file (empty documents count). */
  index: number;
  /** 1-based line where the document's content starts (0 when not from text). */
  line: number;
}

/** One object as written, with its identity pulled out. */
export interface Manifest {
  source: ManifestSource;
  apiVersion: string;
  kind: string;
  name: string;
  /** The namespace for namespaced kinds (`default` when not written); undefined otherwise. */
  namespace: string | undefined;
  /** The document as parsed (a deep copy, free to keep). */
  object: Record<string, unknown>;
}

/** What a {@link ManifestError} points at. */
export interface ManifestErrorParts {
  file: string;
  /** `Service default/web`, `FelixConfiguration default`, or `document 2 (line 7)`. */
  object?: string;
  /** Dotted path of the offending field, e.g. `spec.ports[0].port`. */
  field?: string;
  /** Line number, for YAML syntax errors. */
  line?: number;
  message: string;
}

/**
 * A manifest the control plane cannot accept. The message is one line:
 * `file: Kind namespace/name: field.path: what is wrong, got <value>`.
 */
export class ManifestError extends Error {
  readonly file: string;
  readonly object: string;
  readonly field: string;
  readonly line: number | undefined;
  readonly detail: string;

  constructor(parts: ManifestErrorParts) {
    const where = parts.line === undefined ? parts.file : `${parts.file}:${parts.line}`;
    super([where, parts.object, parts.field, parts.message].filter((p) => p).join(': '));
    this.name = 'ManifestError';
    this.file = parts.file;
    this.object = parts.object ?? '';
    this.field = parts.field ?? '';
    this.line = parts.line;
    this.detail = parts.message;
  }
}

/** The label an object goes by in messages: `Service default/web`, `Namespace team-a`. */
export function objectLabel(kind: string, namespace: string | undefined, name: string): string {
  return namespace === undefined ? `${kind} ${name}` : `${kind} ${namespace}/${name}`;
}

/** The label of a manifest, for messages. */
export function manifestLabel(m: Pick<Manifest, 'kind' | 'namespace' | 'name'>): string {
  return objectLabel(m.kind, m.namespace, m.name);
}

/** Renders a value the way error messages quote what they got. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** First line of a YAML library message, without its ` at line X, column Y` tail. */
function yamlMessage(message: string): string {
  const first = message.split('\n', 1)[0] ?? message;
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Pulls apiVersion, kind and metadata out of one parsed document. `where` names the document
 * when it has no identity yet (`document 2 (line 7)`).
 */
export function identify(object: unknown, source: ManifestSource): Manifest {
  const docLabel =
    source.line > 0 ? `document ${source.index + 1} (line ${source.line})` : `object ${source.index + 1}`;
  const fail = (objectName: string, field: string, message: string): never => {
    throw new ManifestError({ file: source.file, object: objectName, field, message });
  };
  if (!isRecord(object)) {
    return fail(
      docLabel,
      '',
      `must be a mapping with apiVersion, kind and metadata, got ${describeValue(object)}`,
    );
  }
  const { kind, apiVersion } = object;
  if (kind === undefined) fail(docLabel, 'kind', 'required');
  if (typeof kind !== 'string' || kind === '')
    fail(docLabel, 'kind', `must be a string, got ${describeValue(kind)}`);
  const kindText = storedKind(kind as string, apiVersion);
  const metadata = object.metadata;
  if (metadata !== undefined && !isRecord(metadata)) {
    fail(`${kindText} (${docLabel})`, 'metadata', `must be a mapping, got ${describeValue(metadata)}`);
  }
  const meta = (metadata ?? {}) as Record<string, unknown>;
  const rawNs = meta.namespace;
  if (rawNs !== undefined && typeof rawNs !== 'string') {
    fail(`${kindText} (${docLabel})`, 'metadata.namespace', `must be a string, got ${describeValue(rawNs)}`);
  }
  const namespaced = isSupportedKind(kindText) ? KINDS[kindText].namespaced : rawNs !== undefined;
  const namespace = namespaced ? (rawNs as string | undefined) || DEFAULT_NAMESPACE : undefined;
  const name = meta.name;
  if (name === undefined || name === '') {
    const hint = meta.generateName !== undefined ? ' (generateName is not supported)' : '';
    fail(objectLabel(kindText, namespace, '(unnamed)'), 'metadata.name', `required${hint}`);
  }
  if (typeof name !== 'string') {
    fail(
      objectLabel(kindText, namespace, '(unnamed)'),
      'metadata.name',
      `must be a string, got ${describeValue(name)}`,
    );
  }
  const label = objectLabel(kindText, namespace, name as string);
  if (apiVersion === undefined) fail(label, 'apiVersion', 'required');
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    fail(label, 'apiVersion', `must be a string, got ${describeValue(apiVersion)}`);
  }
  return {
    source,
    apiVersion: apiVersion as string,
    kind: kindText,
    name: name as string,
    namespace,
    object: structuredClone(object),
  };
}

/** Parses YAML text holding one or more documents. Empty documents are skipped. */
export function parseManifests(text: string, file = '<stdin>'): Manifest[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  const out: Manifest[] = [];
  for (const [index, doc] of docs.entries()) {
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) {
      const line = problem.linePos?.[0]?.line ?? lineCounter.linePos(problem.pos[0]).line;
      throw new ManifestError({ file, line, message: `YAML syntax error: ${yamlMessage(problem.message)}` });
    }
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      throw new ManifestError({ file, line, message: `YAML error: ${yamlMessage((err as Error).message)}` });
    }
    if (value === null || value === undefined) continue;
    out.push(identify(value, { file, index, line }));
  }
  return out;
}

/** Reads and parses one manifest file. */
export function readManifestFile(file: string): Manifest[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ManifestError({
      file,
      message: `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    });
  }
  return parseManifests(text, file);
}

/** The manifest files of a directory: `*.yaml` and `*.yml`, not recursive, sorted by name. */
export function listManifestFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => join(dir, name));
}

/** Loads a file, or every manifest file of a directory (in name order). */
export function loadManifests(path: string): Manifest[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new ManifestError({ file: path, message: 'no such file or directory' });
  }
  if (!isDir) return readManifestFile(path);
  const files = listManifestFiles(path);
  if (files.length === 0)
    throw new ManifestError({ file: path, message: 'directory holds no *.yaml or *.yml files' });
  return files.flatMap(readManifestFile);
}

/** Turns already-parsed objects into manifests (the programmatic `apply(objects)` path). */
export function manifestsFromObjects(objects: readonly unknown[], file = '<objects>'): Manifest[] {
  return objects.map((object, index) => identify(object, { file, index, line: 0 }));
}

/**
 * Manifests from what a user or suite hands over: parsed objects, a path to a file or
 * directory, or YAML text (anything with a newline that is not an existing path).
 */
export function manifestsFrom(source: string | readonly unknown[]): Manifest[] {
  if (typeof source !== 'string') return manifestsFromObjects(source);
  if (existsSync(source)) return loadManifests(source);
  if (source.includes('\n')) return parseManifests(source, '<text>');
  throw new ManifestError({ file: source, message: 'no such file or directory' });
}
