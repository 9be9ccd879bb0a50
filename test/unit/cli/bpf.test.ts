import { describe, expect, it } from 'vitest';
import { parseBpfRequest, selectNodes } from '../../../src/cli/commands/bpf.ts';
import type { NodeInfo } from '../../../src/cluster/types.ts';

describe('bpf command line', () => {
  it('takes a view and a verb, defaulting the verb', () => {
    expect(parseBpfRequest(['counters', 'dump'])).toEqual({ view: 'counters', verb: 'dump' });
    expect(parseBpfRequest(['conntrack', 'stats'])).toEqual({ view: 'conntrack', verb: 'stats' });
    expect(parseBpfRequest(['maps'])).toEqual({ view: 'maps', verb: 'show' });
  });

  it('refuses unknown views, verbs and extra words with a usage error', () => {
    expect(() => parseBpfRequest([])).toThrow(/say what to show/);
    expect(() => parseBpfRequest(['routes'])).toThrow(/unknown view "routes"/);
    expect(() => parseBpfRequest(['nat', 'stats'])).toThrow(/unknown action "stats"/);
    expect(() => parseBpfRequest(['nat', 'dump', 'x'])).toThrow(/unexpected argument/);
    expect(() => parseBpfRequest(['x'])).toThrow(expect.objectContaining({ exitCode: 2 }));
  });

  it('selects a node by name or names the known ones', () => {
    const nodes = [{ name: 'a' }, { name: 'b' }] as NodeInfo[];
    expect(selectNodes(nodes, undefined)).toHaveLength(2);
    expect(selectNodes(nodes, 'b')).toEqual([{ name: 'b' }]);
    expect(() => selectNodes(nodes, 'c')).toThrow(/no node named c \(nodes: a, b\)/);
  });
});
