/**
 * What the CLI refuses before it builds anything, and how it says so: probe targets, what a run
 * runs, a cluster's size and manifests checked whole, report directories, and the exit codes
 * `--help` documents.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CliError, commandHelp, EXIT, EXIT_CODES, parseCommand } from '../../../src/cli/command.ts';
import { parseProbeTarget, up } from '../../../src/cli/commands/cluster.ts';
import { runCommand } from '../../../src/cli/commands/run.ts';
import { checkReportRoot, runSelection } from '../../../src/cli/inputs.ts';
import { mainHelp } from '../../../src/cli/main.ts';
import { checkStart } from '../../../src/cluster/providers.ts';

const work = mkdtempSync(join(tmpdir(), 'dpc-inputs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(EXIT.usage);
    return (err as Error).message;
  }
  throw new Error('no error raised');
}

describe('probe targets', () => {
  it('reads http URLs (port 80 by default) and IP:PORT', () => {
    expect(parseProbeTarget('http://172.18.0.3:30081/clientip?x=1', false)).toEqual({
      kind: 'http',
      host: '172.18.0.3',
      port: 30081,
      path: '/clientip?x=1',
    });
    expect(parseProbeTarget('http://10.96.0.10', false)).toMatchObject({ port: 80, path: '/' });
    expect(parseProbeTarget('172.18.0.4:30083', true)).toEqual({
      kind: 'udp',
      host: '172.18.0.4',
      port: 30083,
    });
  });

  it('names what is wrong in a bad target', () => {
    expect(usageError(() => parseProbeTarget('http://999.1.1.1:80/', false))).toBe(
      'probe: "http://999.1.1.1:80/": 999.1.1.1 is not an IPv4 address (four numbers from 0 to 255) (a target is http://IP:PORT/PATH or IP:PORT)',
    );
    expect(usageError(() => parseProbeTarget('1.2.3.4:70000', false))).toMatch(
      /port 70000 is not from 1 to 65535/,
    );
    expect(usageError(() => parseProbeTarget('http://1.2.3.4:0/', false))).toMatch(/port 0 is not from 1/);
    expect(usageError(() => parseProbeTarget('1.2.3.4:', false))).toMatch(/"1\.2\.3\.4:": no port/);
    expect(usageError(() => parseProbeTarget('web:80', false))).toMatch(/web is not an IPv4 address/);
    expect(usageError(() => parseProbeTarget('https://1.2.3.4/', false))).toMatch(/only http:\/\/ URLs/);
    expect(usageError(() => parseProbeTarget('http://1.2.3.4/', true))).toMatch(/--udp takes IP:PORT/);
    expect(usageError(() => parseProbeTarget('nonsense', false))).toMatch(/target must be/);
  });
});

describe('what a run runs', () => {
  const areas = ['nodeport', 'dsr', 'performance'];
  const select = (...argv: string[]) => runSelection(parseCommand(runCommand, argv), areas);

  it('takes the default areas in eBPF Tunnel mode when not told', () => {
    expect(select()).toEqual({
      areas: ['nodeport', 'dsr'],
      passes: [{ dataplane: 'bpf', serviceMode: 'Tunnel' }],
    });
  });

  it('takes the suites and modes named', () => {
    expect(select('--suite', 'performance', '--dataplane', 'both', '--service-mode', 'DSR')).toEqual({
      areas: ['performance'],
      passes: [
        { dataplane: 'bpf', serviceMode: 'DSR' },
        { dataplane: 'iptables', serviceMode: 'DSR' },
      ],
    });
    expect(usageError(() => select('--dataplane', 'ebpf'))).toBe(
      '--dataplane must be bpf, iptables or both, got "ebpf"',
    );
  });

  it('--qualify: every suite, on request ones too, in every mode', () => {
    expect(select('--qualify')).toEqual({
      areas,
      passes: [
        { dataplane: 'bpf', serviceMode: 'Tunnel' },
        { dataplane: 'bpf', serviceMode: 'DSR' },
        { dataplane: 'iptables', serviceMode: 'Tunnel' },
      ],
    });
  });

  it('--qualify refuses, in one line, the flags that would choose otherwise', () => {
    expect(usageError(() => select('--qualify', '--suite', 'nodeport'))).toBe(
      '--qualify runs every suite in every mode: drop --suite',
    );
    expect(usageError(() => select('--dataplane', 'bpf', '--qualify', '--service-mode', 'both'))).toBe(
      '--qualify runs every suite in every mode: drop --dataplane, --service-mode',
    );
  });
});

describe('a start checked before anything is built', () => {
  const file = (name: string, text: string) => {
    const path = join(work, name);
    writeFileSync(path, text);
    return path;
  };
  const service = (name: string, nodePort: number) =>
    `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  type: NodePort\n  selector: {app: x}\n  ports:\n  - port: 80\n    nodePort: ${nodePort}\n`;

  it('refuses sizes outside the provider limits', async () => {
    await expect(checkStart('netns', { nodes: 0, manifests: [] })).rejects.toThrow(
      '--nodes must be from 1 to 200 on the netns provider, got 0',
    );
    await expect(checkStart('netns', { nodes: 201, manifests: [] })).rejects.toMatchObject({
      name: 'StartInputError',
    });
    await expect(checkStart('netns', { nodes: 3, clients: 51, manifests: [] })).rejects.toThrow(
      '--clients must be from 1 to 50',
    );
    await expect(checkStart('netns', { nodes: 3, manifests: [] })).resolves.toBe(undefined);
  });

  it('reads and validates every manifest, and finds clashes between files', async () => {
    await expect(checkStart('netns', { nodes: 2, manifests: [join(work, 'none.yaml')] })).rejects.toThrow(
      /none\.yaml: no such file or directory/,
    );
    const a = file('a.yaml', service('a', 30500));
    await expect(checkStart('netns', { nodes: 2, manifests: [a] })).resolves.toBe(undefined);
    const b = file('b.yaml', service('b', 30500));
    await expect(checkStart('netns', { nodes: 2, manifests: [a, b] })).rejects.toMatchObject({
      name: 'ManifestError',
      message: expect.stringMatching(/30500/),
    });
    const wrong = file('c.yaml', service('c', 80));
    await expect(checkStart('netns', { nodes: 2, manifests: [wrong] })).rejects.toThrow(/c\.yaml.*nodePort/);
  });
});

describe('report directories', () => {
  it('takes a missing directory under a writable one, refuses a file', async () => {
    await expect(checkReportRoot(join(work, 'reports', 'deep'))).resolves.toBe(undefined);
    const f = join(work, 'plain');
    writeFileSync(f, '');
    await expect(checkReportRoot(join(f, 'x'))).rejects.toThrow(
      `--report-dir ${join(f, 'x')}: ${f} is not a directory`,
    );
  });
});

describe('exit codes', () => {
  it('are the same in the README as in --help', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const rows = readme
      .split('\n')
      .filter((l) => /^\| (`\d+`|other)/.test(l))
      .map((l) => {
        const [code = '', what = ''] = l.slice(2, -2).split(' | ');
        return [code.replaceAll('`', ''), what];
      });
    expect(rows).toEqual(EXIT_CODES.map(([code, what]) => [code, what]));
  });

  it('documents every code the CLI uses, in the main help and each command help', () => {
    const documented = EXIT_CODES.map(([code]) => code);
    for (const code of Object.values(EXIT)) expect(documented).toContain(String(code));
    for (const help of [mainHelp(), commandHelp(up)]) {
      expect(help).toContain('Exit codes:');
      for (const [code, what] of EXIT_CODES) expect(help).toContain(`${code.padEnd(14)} ${what}`);
    }
  });
});
