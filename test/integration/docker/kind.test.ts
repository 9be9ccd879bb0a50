/**
 * The kind path as far as it goes: a cluster from the run's configuration, its node containers
 * entered by the docker provider's places, the harness's CNI configuration giving a pod its
 * address behind a veth that then carries Calico's name, and the pod followed on the API server.
 * Skipped, with what is missing, where kind, a Docker engine or a registry is not there.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { docker, engineDir, existingEngine } from '../../../src/cluster/docker/engine.ts';
import { nodePlace } from '../../../src/cluster/docker/places.ts';
import { planDockerTopology } from '../../../src/cluster/docker/plan.ts';
import { BUILD_DIR } from '../../../src/cluster/docker/provision.ts';
import { calicoIfaceOf } from '../../../src/cluster/kind/cni.ts';
import { runKindConfig } from '../../../src/cluster/kind/config.ts';
import { createKindCluster, deleteKindCluster, KIND_CONFIG } from '../../../src/cluster/kind/lifecycle.ts';
import {
  KIND_TYPES,
  kindKubeConfig,
  recordKindNodes,
  renamePodVeths,
  wireKindNodes,
} from '../../../src/cluster/kind/nodes.ts';
import { AGNHOST_IMAGE, kindMissing } from '../../../src/cluster/kind/requirements.ts';
import { ApiServerObjectSource } from '../../../src/cluster/object-source-api.ts';
import { newRunId } from '../../../src/cluster/run-id.ts';

describe('kind provider', () => {
  it(
    'wires a real pod with the harness’s CNI configuration, behind a cali veth, followed on the API server',
    async (ctx) => {
      const missing = await kindMissing();
      if (missing.length > 0) ctx.skip(`kind provider unavailable on this host: ${missing.join('; ')}`);
      const engine = (await existingEngine())!;
      const runId = newRunId();
      const dir = await mkdtemp(join(tmpdir(), 'dpc-kind-'));
      let source: ApiServerObjectSource | undefined;
      try {
        const config = join(dir, 'kind.yaml');
        await writeFile(
          config,
          runKindConfig(await readFile(KIND_CONFIG, 'utf8'), { nodes: 2, buildDir: BUILD_DIR }),
        );
        const names = await createKindCluster(runId, config);
        await mkdir(engineDir(runId), { recursive: true });
        await recordKindNodes(runId, engine, names);
        source = new ApiServerObjectSource(await kindKubeConfig(runId), { types: KIND_TYPES });
        await source.start();
        const nodes = source.objects('Node');
        const t = planDockerTopology(runId, { nodes: names.length, clients: 1 });
        for (const n of t.nodes) {
          const kindName = names[n.index]!;
          const ip = await docker(engine, [
            'inspect',
            '--format',
            '{{.NetworkSettings.Networks.kind.IPAddress}}',
            kindName,
          ]);
          n.ip = ip.stdout.trim();
          const spec = nodes.find((x) => x.metadata.name === kindName)?.spec as
            | { podCIDR?: string }
            | undefined;
          n.podCidr = spec?.podCIDR ?? n.podCidr;
        }
        await wireKindNodes(t);
        const worker = names[1]!;
        await source.apply([
          {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'echo', namespace: 'default', labels: { app: 'echo' } },
            spec: {
              nodeName: worker,
              containers: [{ name: 'netexec', image: AGNHOST_IMAGE, args: ['netexec', '--http-port=8080'] }],
            },
          },
        ]);
        const podIp = await vi.waitFor(
          () => {
            const pod = source!.objects('Pod').find((p) => p.metadata.name === 'echo');
            const ip = (pod?.status as { podIP?: string } | undefined)?.podIP;
            if (!ip) throw new Error('the pod has no address yet');
            return ip;
          },
          { timeout: 300_000, interval: 1000 },
        );
        const workerInfo = t.nodes[1]!;
        expect(podIp.startsWith(workerInfo.podCidr.split('.').slice(0, 3).join('.'))).toBe(true);
        await renamePodVeths(t, workerInfo.name, [{ namespace: 'default', name: 'echo', ip: podIp }]);
        const route = await nodePlace(t, workerInfo).execJson<{ dev: string }[]>([
          'ip',
          '-j',
          'route',
          'get',
          podIp,
        ]);
        expect(route[0]?.dev).toBe(calicoIfaceOf('default', 'echo'));
      } finally {
        await source?.stop();
        await deleteKindCluster(runId);
        await rm(engineDir(runId), { recursive: true, force: true });
        await rm(dir, { recursive: true, force: true });
      }
    },
    20 * 60_000,
  );
});
