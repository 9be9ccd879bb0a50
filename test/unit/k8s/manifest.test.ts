import { describe, expect, it } from 'vitest';
import {
  loadManifests,
  ManifestError,
  manifestsFrom,
  manifestsFromObjects,
  parseManifests,
} from '../../../src/k8s/manifest.ts';
import { messageOf, yaml } from './helpers.ts';

const FIX = 'test/unit/k8s/fixtures';

describe('parseManifests', () => {
  it('reads every document with its file, index and line, skipping empty ones', () => {
    const text = yaml`
      ---
      apiVersion: v1
      kind: Namespace
      metadata:
        name: team-a
      ---
      ---
      apiVersion: v1
      kind: Service
      metadata:
        name: web
      spec: {}
    `;
    const docs = parseManifests(text, 'in.yaml');
    expect(docs.map((d) => [d.kind, d.namespace, d.name, d.source])).toEqual([
      ['Namespace', undefined, 'team-a', { file: 'in.yaml', index: 0, line: 2 }],
      ['Service', 'default', 'web', { file: 'in.yaml', index: 2, line: 8 }],
    ]);
  });

  it('keeps a written namespace and defaults namespaced kinds to default', () => {
    const [a, b] = parseManifests(
      'apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: x}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n',
    );
    expect(a!.namespace).toBe('x');
    expect(b!.namespace).toBe('default');
  });

  it('gives cluster-scoped kinds no namespace', () => {
    const [ns] = parseManifests('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: x}\n');
    expect(ns!.namespace).toBeUndefined();
  });

  it('names file and line for a YAML syntax error', () => {
    expect(messageOf(() => loadManifests(`${FIX}/bad-syntax.yaml`))).toBe(
      `${FIX}/bad-syntax.yaml:7: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    );
  });

  it('rejects duplicate keys with their line', () => {
    expect(messageOf(() => parseManifests('kind: Service\nkind: Namespace\n', 'dup.yaml'))).toBe(
      'dup.yaml:2: YAML syntax error: Map keys must be unique',
    );
  });

  it('rejects unknown YAML tags rather than reading them as strings', () => {
    expect(messageOf(() => parseManifests('kind: !!foo Service\n', 'tag.yaml'))).toBe(
      'tag.yaml:1: YAML syntax error: Unresolved tag: tag:yaml.org,2002:foo',
    );
  });

  it('rejects a document that is not a mapping', () => {
    expect(messageOf(() => parseManifests('- a\n- b\n', 'list.yaml'))).toBe(
      'list.yaml: document 1 (line 1): must be a mapping with apiVersion, kind and metadata, got a list',
    );
  });

  it('rejects a document without kind, naming the document', () => {
    expect(messageOf(() => parseManifests('apiVersion: v1\nmetadata: {name: a}\n', 'k.yaml'))).toBe(
      'k.yaml: document 1 (line 1): kind: required',
    );
  });

  it('rejects an object without a name', () => {
    expect(messageOf(() => parseManifests('apiVersion: v1\nkind: Service\nmetadata: {}\n', 'n.yaml'))).toBe(
      'n.yaml: Service default/(unnamed): metadata.name: required',
    );
    expect(
      messageOf(() =>
        parseManifests('apiVersion: v1\nkind: Service\nmetadata: {generateName: web-}\n', 'n.yaml'),
      ),
    ).toBe('n.yaml: Service default/(unnamed): metadata.name: required (generateName is not supported)');
  });

  it('rejects an object without apiVersion', () => {
    expect(messageOf(() => parseManifests('kind: Service\nmetadata: {name: web}\n', 'a.yaml'))).toBe(
      'a.yaml: Service default/web: apiVersion: required',
    );
  });

  it('throws ManifestError carrying file, object and field', () => {
    try {
      parseManifests('apiVersion: v1\nkind: Service\nmetadata: {name: 7}\n', 'x.yaml');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ManifestError);
      const e = err as ManifestError;
      expect([e.file, e.object, e.field]).toEqual(['x.yaml', 'Service default/(unnamed)', 'metadata.name']);
    }
  });

  it('returns nothing for an empty stream', () => {
    expect(parseManifests('')).toEqual([]);
    expect(parseManifests('# only a comment\n')).toEqual([]);
  });
});

describe('loadManifests', () => {
  it('loads a directory: *.yaml and *.yml only, sorted by name', () => {
    const docs = loadManifests(`${FIX}/dir`);
    expect(docs.map((d) => `${d.source.file}#${d.source.index} ${d.kind} ${d.name}`)).toEqual([
      `${FIX}/dir/a-namespace.yaml#1 Namespace team-a`,
      `${FIX}/dir/a-namespace.yaml#2 Service a`,
      `${FIX}/dir/b-service.yml#0 Service b`,
    ]);
  });

  it('names a missing path', () => {
    expect(messageOf(() => loadManifests(`${FIX}/nope.yaml`))).toBe(
      `${FIX}/nope.yaml: no such file or directory`,
    );
  });
});

describe('manifestsFrom', () => {
  it('takes a path, YAML text or objects', () => {
    expect(manifestsFrom(`${FIX}/dir/b-service.yml`).map((m) => m.name)).toEqual(['b']);
    expect(manifestsFrom('apiVersion: v1\nkind: Namespace\nmetadata: {name: t}\n')[0]!.source.file).toBe(
      '<text>',
    );
    const [m] = manifestsFrom([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'o' } }]);
    expect(m!.source).toEqual({ file: '<objects>', index: 0, line: 0 });
  });

  it('copies objects so later changes by the caller do not leak in', () => {
    const obj = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'o' } };
    const [m] = manifestsFromObjects([obj]);
    obj.metadata.name = 'changed';
    expect((m!.object.metadata as { name: string }).name).toBe('o');
  });

  it('names an object of a list by position', () => {
    expect(
      messageOf(() =>
        manifestsFromObjects([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } }, 3]),
      ),
    ).toBe('<objects>: object 2: must be a mapping with apiVersion, kind and metadata, got 3');
  });
});
