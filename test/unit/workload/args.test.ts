import { describe, expect, it } from 'vitest';
import { parseAgentArgs, parsePortList } from '../../../src/workload/args.ts';

describe('agent command line', () => {
  it('parses every option, in either form', () => {
    expect(
      parseAgentArgs([
        '--socket',
        '/run/a.sock',
        '--name=web-1',
        '--listen',
        '8080,80,81,80',
        '--cgroup',
        '/cg/n1',
      ]),
    ).toEqual({ socket: '/run/a.sock', name: 'web-1', listen: [80, 81, 8080], cgroup: '/cg/n1' });
  });

  it('defaults to no listen ports and no cgroup', () => {
    expect(parseAgentArgs(['--socket', 's', '--name', 'n'])).toEqual({ socket: 's', name: 'n', listen: [] });
  });

  it('refuses missing, unknown and valueless options', () => {
    expect(() => parseAgentArgs(['--name', 'n'])).toThrow(/--socket and --name are required/);
    expect(() => parseAgentArgs(['--socket', 's', '--name', 'n', '--port', '1'])).toThrow(/unknown argument/);
    expect(() => parseAgentArgs(['--socket', 's', '--name'])).toThrow(/--name needs a value/);
  });

  it('refuses ports that are not ports', () => {
    expect(parsePortList('')).toEqual([]);
    expect(parsePortList(' 443 , 80 ')).toEqual([80, 443]);
    for (const bad of ['0', '65536', 'http', '80,,81', '8.5'])
      expect(() => parsePortList(bad)).toThrow(/not a port/);
  });
});
