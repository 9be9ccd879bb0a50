import { describe, expect, test } from 'vitest';
import {
  type MachineFacts,
  preflightProblems,
  REQUIRED_TOOLS,
  toolsFor,
} from '../../../src/sys/preflight.ts';

const ready: MachineFacts = { platform: 'linux', uid: 0, bpffsMounted: true, missing: [] };

describe('preflightProblems', () => {
  test('a ready machine has no problem', () => {
    expect(preflightProblems(ready)).toEqual([]);
  });

  test('each problem is one line that says what to do', () => {
    const problems = preflightProblems({
      ...ready,
      uid: 1000,
      bpffsMounted: false,
      missing: ['clang', 'nsenter', 'frob'],
    });
    expect(problems).toEqual([
      'not running as root (uid 1000): run dpconform with sudo, it creates network namespaces, loads BPF programs and pins maps',
      'bpffs is not mounted at /sys/fs/bpf: run `mount -t bpf bpf /sys/fs/bpf` as root',
      'clang not found: run scripts/setup.sh (installs clang from Debian)',
      'nsenter not found: run scripts/setup.sh (installs util-linux from Debian)',
      'frob not found: install frob and make sure it is on PATH',
    ]);
    expect(problems.every((p) => !p.includes('\n'))).toBe(true);
  });

  test('not Linux is the only problem worth telling', () => {
    expect(
      preflightProblems({ platform: 'darwin', uid: 501, bpffsMounted: false, missing: ['clang'] }),
    ).toEqual(['dpconform needs Linux with eBPF (this is darwin): run it on a Linux machine or VM']);
  });
});

describe('toolsFor', () => {
  test('every run needs the usual tools; kind also needs docker and kind', () => {
    expect(toolsFor()).toEqual([...REQUIRED_TOOLS]);
    expect(REQUIRED_TOOLS).toEqual([
      'clang',
      'bpftool',
      'tc',
      'ip',
      'tcpdump',
      'iptables',
      'iptables-restore',
      'nsenter',
      'sysctl',
    ]);
    expect(toolsFor({ provider: 'kind', tools: ['clang', 'xmllint'] })).toEqual([
      ...REQUIRED_TOOLS,
      'docker',
      'kind',
      'xmllint',
    ]);
  });
});
