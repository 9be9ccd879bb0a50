/**
 * Probes this machine for real: the report must name the kernel, its BPF features and the
 * tools as they are here, and the preflight must find this machine ready (root, bpffs, tools).
 */
import { release } from 'node:os';
import { describe, expect, test } from 'vitest';
import { probeEnvironment, systemIO } from '../../../src/report/environment.ts';
import { haveCommand } from '../../../src/sys/exec.ts';
import { preflight } from '../../../src/sys/preflight.ts';

const REPO = new URL('../../../', import.meta.url).pathname;

describe('probeEnvironment on this machine', () => {
  test('names the running kernel, BTF and bpffs as the system shows them', async () => {
    const env = await probeEnvironment({ repoRoot: REPO });
    expect(env.kernel.release).toBe(release());
    expect(env.kernel.btf).toBe(await systemIO.exists('/sys/kernel/btf/vmlinux'));
    const mounts = (await systemIO.read('/proc/mounts')) ?? '';
    expect(env.kernel.bpffsMounted).toBe(/ \/sys\/fs\/bpf bpf /.test(mounts));
  });

  test('finds the features the dataplane needs where bpftool says they are', async () => {
    const env = await probeEnvironment({ repoRoot: REPO });
    const state = (name: string) => env.features.find((f) => f.name === name)?.state;
    const bpftool = await haveCommand('bpftool');
    for (const name of [
      'tc clsact + sched_cls programs',
      'tunnel key set and read back at the dataplane’s size (bpf_skb_set/get_tunnel_key)',
      'LRU hash maps',
      'LPM trie maps',
      'cgroup sock_addr programs',
    ]) {
      // This VM runs the dataplane, so with bpftool present every one of these is here.
      expect(state(name), name).toBe(bpftool ? 'yes' : 'unknown');
    }
    const jit = (await systemIO.read('/proc/sys/net/core/bpf_jit_enable'))?.trim();
    expect(state('BPF JIT')).toBe(jit === undefined ? 'unknown' : jit === '0' ? 'no' : 'yes');
  });

  test('records each tool with a version, or as missing', async () => {
    const env = await probeEnvironment({ repoRoot: REPO });
    for (const [tool, command] of [
      ['clang', 'clang'],
      ['bpftool', 'bpftool'],
      ['iproute2', 'ip'],
      ['iptables', 'iptables'],
      ['tcpdump', 'tcpdump'],
    ] as const) {
      const t = env.tools.find((x) => x.name === tool);
      const present = await haveCommand(command);
      expect(t?.found, tool).toBe(present);
      if (present) expect(t?.version, tool).toMatch(/^\d+(\.\d+)+/);
    }
    expect(env.tools.find((t) => t.name === 'iptables')?.detail).toMatch(/^(nf_tables|legacy)$/);
    expect(env.tools.find((t) => t.name === 'node')?.version).toBe(process.versions.node);
  });

  test('reports the bpf/ revision or says why it cannot', async () => {
    const { bpfSource } = await probeEnvironment({ repoRoot: REPO });
    expect(bpfSource.commit !== undefined || bpfSource.detail !== undefined).toBe(true);
    if (bpfSource.commit) expect(bpfSource.commit).toMatch(/^[0-9a-f]{40}$/);
  });

  test('a missing tool is recorded, never thrown', async () => {
    const io = {
      ...systemIO,
      run: (argv: readonly string[]) => systemIO.run(['dpc-no-such-tool', ...argv.slice(1)]),
    };
    const env = await probeEnvironment({ io, repoRoot: REPO });
    expect(env.tools.filter((t) => t.name !== 'node').every((t) => !t.found)).toBe(true);
    expect(env.bpfSource).toEqual({ detail: 'git not found' });
  });
});

describe('preflight on this machine', () => {
  test('this VM is ready for a netns run', async () => {
    expect(await preflight()).toEqual([]);
  });

  test('a tool that is not installed is named with what to do', async () => {
    expect(await preflight({ tools: ['dpc-no-such-tool'] })).toEqual([
      'dpc-no-such-tool not found: install dpc-no-such-tool and make sure it is on PATH',
    ]);
  });
});
