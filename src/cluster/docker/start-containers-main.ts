/**
 * Starts a run's network and containers with testcontainers, in a process of its own: the spec
 * comes as JSON on standard input, the containers' ids and pids go out as JSON on standard
 * output. testcontainers keeps one engine connection per process for good, and every docker
 * run may have an engine of its own, so each start gets a fresh process.
 *
 *   node src/cluster/docker/start-containers-main.ts < spec.json
 */
import { buffer } from 'node:stream/consumers';
import { GenericContainer, getContainerRuntimeClient } from 'testcontainers';
import type { StartedContainer } from './containers.ts';
import type { ContainerSpec, ProvisionSpec } from './plan.ts';

/**
 * A node or client container: a fixed address on the run's network, the capabilities and the
 * writable /proc/sys a node needs for eBPF, tc and sysctls, its own cgroup namespace, and an
 * init process so that a stop is prompt.
 */
class PlaceContainer extends GenericContainer {
  constructor(spec: ContainerSpec, image: string, network: string) {
    super(image);
    this.withName(spec.name)
      .withHostname(spec.hostname)
      .withLabels(spec.labels)
      .withNetworkMode(network)
      .withCommand(['sleep', 'infinity'])
      .withAddedCapabilities('NET_ADMIN', 'SYS_ADMIN', 'NET_RAW')
      .withSecurityOpt('seccomp=unconfined', 'apparmor=unconfined')
      .withBindMounts(
        spec.binds.map((b) => ({ source: b.path, target: b.path, mode: b.readOnly ? 'ro' : 'rw' })),
      )
      // The image is made locally and never pulled (no registry may be reachable).
      .withPullPolicy({ shouldPull: () => false });
    this.createOpts.NetworkingConfig = {
      EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: spec.ip } } },
    };
    this.hostConfig.Sysctls = spec.sysctls;
    // The engine's API has it since 1.41; dockerode's types do not.
    Object.assign(this.hostConfig, { CgroupnsMode: 'private' });
    this.hostConfig.Init = true;
    // As `--security-opt systempaths=unconfined`: /proc/sys writable, for the node's own sysctls.
    this.hostConfig.MaskedPaths = [];
    this.hostConfig.ReadonlyPaths = [];
  }
}

async function main(): Promise<StartedContainer[]> {
  const spec = JSON.parse((await buffer(process.stdin)).toString('utf8')) as ProvisionSpec;
  const client = await getContainerRuntimeClient();
  await client.network.create({
    Name: spec.network.name,
    Driver: 'bridge',
    CheckDuplicate: true,
    Labels: spec.network.labels,
    IPAM: { Driver: 'default', Config: [{ Subnet: spec.network.subnet, Gateway: spec.network.gateway }] },
    Options: { 'com.docker.network.bridge.enable_ip_masquerade': 'false' },
  });
  return Promise.all(
    spec.containers.map(async (c): Promise<StartedContainer> => {
      const container = await new PlaceContainer(c, spec.image, spec.network.name).start();
      const info = await client.container.inspect(client.container.getById(container.getId()));
      return { name: c.name, id: container.getId(), pid: info.State.Pid };
    }),
  );
}

// One line either way: the starter reads the result, or shows the reason as the step's error.
// The engine connection would keep the process alive, so it exits once the line is out.
main().then(
  (started) => process.stdout.write(`${JSON.stringify(started)}\n`, () => process.exit(0)),
  (err: unknown) => {
    const text = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${text.split('\n')[0]}\n`, () => process.exit(1));
  },
);
