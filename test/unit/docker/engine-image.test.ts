import { describe, expect, it } from 'vitest';
import { describeImageBuild } from '../../../src/cli/commands/image.ts';
import { testcontainersEnv } from '../../../src/cluster/docker/containers.ts';
import {
  cgroupParent,
  daemonConfig,
  dataRoot,
  dockerdArgv,
  engineDir,
  engineFiles,
  engineNetns,
  runIdOfEngineName,
} from '../../../src/cluster/docker/engine.ts';
import {
  dockerfileText,
  mmdebstrapArgv,
  NODE_PACKAGES,
  nodeImageHash,
  nodeImageTag,
  rootfsPath,
} from '../../../src/cluster/docker/image.ts';
import { enterContainer, enterContainerNetwork, enterPod } from '../../../src/cluster/docker/places.ts';

describe('private engine', () => {
  const argv = dockerdArgv('abc123');
  const flag = (name: string) => argv[argv.indexOf(name) + 1];

  it('touches no rule, masquerade or default bridge, and keeps every file under the run’s directories', () => {
    expect(argv).toEqual(
      expect.arrayContaining(['--iptables=false', '--ip6tables=false', '--ip-masq=false']),
    );
    expect(argv).toContain('--bridge=none');
    expect(argv).toContain('--ip-forward=false');
    expect(flag('--host')).toBe(`unix://${engineFiles('abc123').socket}`);
    expect(flag('--data-root')).toBe(dataRoot('abc123'));
    for (const f of ['--exec-root', '--pidfile', '--config-file'])
      expect(flag(f)?.startsWith(`${engineDir('abc123')}/`)).toBe(true);
    expect(flag('--cgroup-parent')).toBe(`/${cgroupParent('abc123')}`);
    expect(JSON.parse(daemonConfig('abc123'))['deprecated-key-path'].startsWith(engineDir('abc123'))).toBe(
      true,
    );
  });

  it('names its namespace and cgroups so that a reaper finds the run again, and nothing else', () => {
    expect(runIdOfEngineName(engineNetns('abc123'))).toBe('abc123');
    expect(runIdOfEngineName(cgroupParent('abc123'))).toBe('abc123');
    expect(runIdOfEngineName('dpc-abc123-worker')).toBeUndefined();
    expect(runIdOfEngineName('docker')).toBeUndefined();
  });

  it('runs testcontainers without Ryuk, on the run’s engine', () => {
    const env = testcontainersEnv({ host: 'unix:///x.sock', private: true }, {});
    expect(env).toEqual({
      DOCKER_HOST: 'unix:///x.sock',
      TESTCONTAINERS_RYUK_DISABLED: 'true',
      TESTCONTAINERS_HOST_OVERRIDE: 'localhost',
    });
    expect(
      testcontainersEnv({ host: 'tcp://h:2375', private: false }, { TESTCONTAINERS_HOST_OVERRIDE: 'h' })
        .TESTCONTAINERS_HOST_OVERRIDE,
    ).toBe('h');
  });
});

describe('node image', () => {
  it('is named by a hash of its release and packages, whatever their order', () => {
    expect(nodeImageHash()).toMatch(/^[0-9a-f]{12}$/);
    expect(nodeImageHash('bookworm', [...NODE_PACKAGES].reverse())).toBe(nodeImageHash());
    expect(nodeImageHash('bookworm', [...NODE_PACKAGES, 'strace'])).not.toBe(nodeImageHash());
    expect(nodeImageHash('trixie')).not.toBe(nodeImageHash());
    expect(nodeImageTag()).toBe(`dpconform/node:${nodeImageHash()}`);
    expect(rootfsPath()).toContain(nodeImageHash());
  });

  it('has the tools a node runs, whichever way it is built', () => {
    for (const tool of ['iproute2', 'iptables', 'bpftool', 'tcpdump', 'conntrack', 'iperf3'])
      expect(NODE_PACKAGES).toContain(tool);
    const dockerfile = dockerfileText('h');
    expect(dockerfile.startsWith('FROM debian:bookworm\n')).toBe(true);
    for (const p of NODE_PACKAGES) expect(dockerfile).toContain(` ${p}`);
    const argv = mmdebstrapArgv('/tmp/x.tar', ['/etc/apt/sources.list.d/debian.sources']);
    expect(argv.slice(0, 3)).toEqual(['mmdebstrap', '--variant=minbase', '--format=tar']);
    expect(argv).toContain(`--include=${NODE_PACKAGES.join(',')}`);
    expect(argv.slice(-3)).toEqual(['bookworm', '/tmp/x.tar', '/etc/apt/sources.list.d/debian.sources']);
  });

  it('says what `image build` left and where', () => {
    expect(
      describeImageBuild({ tag: 'dpconform/node:h', how: 'mmdebstrap', ms: 58_200, rootfs: '/c/n.tar' }),
    ).toBe(
      'dpconform/node:h: built with mmdebstrap in 58.2 s, as the root file system /c/n.tar, which each docker run’s private engine imports',
    );
    expect(
      describeImageBuild({ tag: 't', how: 'cached', ms: 0, engine: 'unix:///var/run/docker.sock' }),
    ).toBe('t: already built, in the Docker engine at unix:///var/run/docker.sock');
  });
});

describe('entering containers', () => {
  it('runs commands in the container’s own network, files and processes', () => {
    expect(enterContainer(42, ['ip', 'link'])).toEqual([
      'nsenter',
      '-t',
      '42',
      '-n',
      '-m',
      '-p',
      '--',
      'env',
      '-u',
      'TMPDIR',
      'ip',
      'link',
    ]);
  });

  it('runs this machine’s programs in the network only, and in pods through the node’s root', () => {
    expect(enterContainerNetwork(42, ['node', 'agent.ts'])).toEqual([
      'nsenter',
      '-t',
      '42',
      '-n',
      '--',
      'node',
      'agent.ts',
    ]);
    expect(enterPod(42, 'dpc-abc123-p-cali1', ['ip', 'addr'])).toEqual([
      'nsenter',
      '--net=/proc/42/root/run/netns/dpc-abc123-p-cali1',
      '--',
      'ip',
      'addr',
    ]);
  });
});
