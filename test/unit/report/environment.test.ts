import { describe, expect, test } from 'vitest';
import {
  type BpftoolFeatures,
  bpffsMounted,
  kernelFeatures,
  type ProbeIO,
  parseToolVersion,
  probeEnvironment,
} from '../../../src/report/environment.ts';
import type { RunResult } from '../../../src/sys/exec.ts';

function ok(stdout: string, exitCode = 0): RunResult {
  return { argv: [], stdout, stderr: '', exitCode, durationMs: 1 };
}

const PROBE: BpftoolFeatures = {
  system_config: { CONFIG_NET_SCH_INGRESS: 'm', CONFIG_BPF_JIT_ALWAYS_ON: 'y' },
  program_types: { have_sched_cls_prog_type: true, have_cgroup_sock_addr_prog_type: false },
  map_types: { have_lru_hash_map_type: true, have_lpm_trie_map_type: true },
  helpers: {
    sched_cls_available_helpers: ['bpf_redirect', 'bpf_skb_set_tunnel_key', 'bpf_skb_get_tunnel_key'],
  },
};

/** A machine where only the listed commands exist and only the listed files can be read. */
function fakeIO(commands: Record<string, RunResult>, files: Record<string, string>): ProbeIO {
  return {
    async run(argv) {
      return commands[argv.join(' ')];
    },
    async read(path) {
      return files[path];
    },
    async exists(path) {
      return path in files;
    },
  };
}

describe('parseToolVersion', () => {
  test('reads the versions this project depends on', () => {
    expect(parseToolVersion('clang', 'Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu\n')).toEqual({
      version: '14.0.6',
      detail: 'Debian clang version 14.0.6',
    });
    expect(
      parseToolVersion('bpftool', 'bpftool v7.1.0\nusing libbpf v1.1\nfeatures: libbpf_strict\n'),
    ).toEqual({
      version: '7.1.0',
      detail: 'libbpf v1.1',
    });
    expect(parseToolVersion('iproute2', 'ip utility, iproute2-6.1.0, libbpf 1.1.2\n')).toEqual({
      version: '6.1.0',
      detail: 'libbpf 1.1.2',
    });
    expect(parseToolVersion('iproute2', 'ip utility, iproute2-ss200127\n')).toEqual({ version: '200127' });
    expect(parseToolVersion('iptables', 'iptables v1.8.9 (nf_tables)\n')).toEqual({
      version: '1.8.9',
      detail: 'nf_tables',
    });
    expect(parseToolVersion('iptables', 'iptables v1.8.7 (legacy)\n')).toEqual({
      version: '1.8.7',
      detail: 'legacy',
    });
    expect(
      parseToolVersion('tcpdump', 'tcpdump version 4.99.3\nlibpcap version 1.10.3 (with TPACKET_V3)\n'),
    ).toEqual({
      version: '4.99.3',
      detail: 'libpcap version 1.10.3',
    });
  });
});

describe('kernelFeatures', () => {
  test('reads program types, map types and sched_cls helpers from bpftool', () => {
    const f = kernelFeatures(PROBE, {
      jitEnable: '1\n',
      vxlan: 'yes',
      vxlanDetail: 'built in',
      cgroup2: true,
      cgroup2Mount: '/sys/fs/cgroup',
      release: '5.10.0-46-amd64',
      tunnelKey: { state: 'no', detail: 'bpf_skb_set_tunnel_key refused the key size 44' },
    });
    const byName = Object.fromEntries(f.map((x) => [x.name, x]));
    expect(byName['tc clsact + sched_cls programs']).toEqual({
      name: 'tc clsact + sched_cls programs',
      state: 'yes',
      detail: 'CONFIG_NET_SCH_INGRESS=m',
    });
    expect(byName['BPF JIT']).toMatchObject({
      state: 'yes',
      detail: 'bpf_jit_enable=1, CONFIG_BPF_JIT_ALWAYS_ON=y',
    });
    // The helpers exist (bpftool lists them), but the probe that ran the dataplane's code decides.
    expect(
      byName['tunnel key set and read back at the dataplane’s size (bpf_skb_set/get_tunnel_key)'],
    ).toEqual({
      name: 'tunnel key set and read back at the dataplane’s size (bpf_skb_set/get_tunnel_key)',
      state: 'no',
      detail: 'bpf_skb_set_tunnel_key refused the key size 44',
    });
    expect(byName['Linux 5.10 or later (the floor of bpf/)']).toMatchObject({
      state: 'yes',
      detail: '5.10.0-46-amd64',
    });
    expect(byName['cgroup v2']).toMatchObject({ state: 'yes', detail: '/sys/fs/cgroup' });
    expect(byName['helper bpf_redirect_neigh (sched_cls)']?.state).toBe('no');
    expect(byName['cgroup sock_addr programs']?.state).toBe('no');
    expect(byName['LPM trie maps']?.state).toBe('yes');
    expect(byName.VXLAN).toEqual({ name: 'VXLAN', state: 'yes', detail: 'built in' });
  });

  test('without bpftool the features are unknown, not absent', () => {
    const f = kernelFeatures(undefined, { jitEnable: '0', vxlan: 'unknown', cgroup2: false });
    expect(f.find((x) => x.name === 'LRU hash maps')).toEqual({
      name: 'LRU hash maps',
      state: 'unknown',
      detail: 'bpftool feature probe did not run',
    });
    expect(f.find((x) => x.name === 'BPF JIT')?.state).toBe('no');
  });
});

describe('probeEnvironment', () => {
  test('a bare machine: every tool missing, nothing readable, and no exception', async () => {
    const env = await probeEnvironment({ io: fakeIO({}, {}), repoRoot: '/nowhere' });
    expect(env.kernel.btf).toBe(false);
    expect(env.kernel.bpffsMounted).toBe(false);
    expect(env.tools.filter((t) => t.name !== 'node').every((t) => !t.found)).toBe(true);
    expect(env.tools.map((t) => t.name)).toEqual([
      'clang',
      'bpftool',
      'iproute2',
      'iptables',
      'tcpdump',
      'node',
    ]);
    // Only the kernel floor is known without reading anything: it is judged from the release.
    expect(
      env.features.filter((f) => !f.name.includes('the floor of bpf/')).every((f) => f.state !== 'yes'),
    ).toBe(true);
    expect(env.bpfSource).toEqual({ detail: 'git not found' });
  });

  test('a full machine: versions, features, bpffs, BTF and the bpf/ revision', async () => {
    const commit = 'a'.repeat(40);
    const io = fakeIO(
      {
        'clang --version': ok('Ubuntu clang version 18.1.3 (1ubuntu1)\n'),
        'bpftool version': ok('bpftool v7.4.0\nusing libbpf v1.4\n'),
        'ip -V': ok('ip utility, iproute2-6.1.0, libbpf 1.1.2\n'),
        'iptables --version': ok('iptables v1.8.10 (nf_tables)\n'),
        'tcpdump --version': ok('tcpdump version 4.99.4\n'),
        'bpftool -j feature probe kernel': ok(JSON.stringify(PROBE)),
        'git log -1 --format=%H -- bpf': ok(`${commit}\n`),
        'git status --porcelain -- bpf': ok(' M bpf/nat.c\n'),
      },
      {
        '/proc/mounts':
          'sysfs /sys sysfs rw 0 0\nbpf /sys/fs/bpf bpf rw,relatime 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n',
        '/proc/self/mountinfo': '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n',
        '/sys/kernel/btf/vmlinux': '',
        '/proc/sys/net/core/bpf_jit_enable': '1\n',
        '/sys/module/vxlan': '',
        '/sys/module/vxlan/initstate': 'live\n',
      },
    );
    const env = await probeEnvironment({ io, repoRoot: '/repo' });
    expect(env.kernel).toMatchObject({ btf: true, bpffsMounted: true });
    expect(env.tools.find((t) => t.name === 'iptables')).toEqual({
      name: 'iptables',
      found: true,
      version: '1.8.10',
      detail: 'nf_tables',
    });
    expect(env.features.find((f) => f.name === 'VXLAN')).toEqual({
      name: 'VXLAN',
      state: 'yes',
      detail: 'module loaded',
    });
    expect(env.features.find((f) => f.name.startsWith('cgroup v2'))?.state).toBe('yes');
    expect(env.bpfSource).toEqual({ commit, dirty: true });
  });

  test('a checkout where bpf/ has no commit yet', async () => {
    const io = fakeIO(
      { 'git log -1 --format=%H -- bpf': ok(''), 'git status --porcelain -- bpf': ok('?? bpf/\n') },
      {},
    );
    expect((await probeEnvironment({ io })).bpfSource).toEqual({
      detail: 'bpf/ has no commit yet',
      dirty: true,
    });
  });

  test('bpffs must be mounted at /sys/fs/bpf with type bpf', () => {
    expect(bpffsMounted('none /sys/fs/bpf tmpfs rw 0 0\n')).toBe(false);
    expect(bpffsMounted('bpf /sys/fs/bpf bpf rw 0 0\n')).toBe(true);
    expect(bpffsMounted(undefined)).toBe(false);
  });
});
