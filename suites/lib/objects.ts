/**
 * Small Kubernetes objects the suites build on the fly (scaling, type changes), and taking them
 * away cleanly.
 */
import type { Cluster, PodInfo } from '../../src/cluster/types.ts';

/** A one-label Deployment of the echo workload. */
export function soloDeployment(name: string, replicas: number): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: 'echo',
              image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
              ports: [{ containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

/** A NodePort Service in front of {@link soloDeployment}. */
export function soloService(name: string, nodePort: number, etp: 'Local' | 'Cluster'): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: 'NodePort',
      externalTrafficPolicy: etp,
      selector: { app: name },
      ports: [{ port: 80, targetPort: 8080, nodePort }],
    },
  };
}

/** A Service named `name` of the given type over the `app: echo` pods (for type transitions). */
export function morphService(
  name: string,
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer',
  nodePort: number,
): object {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type,
      selector: { app: 'echo' },
      ports: [{ name: 'http', port: 80, targetPort: 8080, ...(type === 'ClusterIP' ? {} : { nodePort }) }],
    },
  };
}

/** A one-replica echo Deployment `<app>-<member>`, its pod labelled `app: <app>, member: <member>`. */
export function memberDeployment(app: string, member: string): object {
  const labels = { app, member };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `${app}-${member}`, namespace: 'default' },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [
            {
              name: 'echo',
              image: 'registry.k8s.io/e2e-test-images/agnhost:2.39',
              ports: [{ containerPort: 8080 }],
            },
          ],
        },
      },
    },
  };
}

/** Options of {@link appService}. */
export interface AppServiceOptions {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  nodePort?: number;
  /** sessionAffinity ClientIP, with this timeoutSeconds (kube's default when 0). */
  affinitySeconds?: number;
}

/** A Service named `name` over every pod labelled `app: <app>`, port 80 to the echo port 8080. */
export function appService(name: string, app: string, opts: AppServiceOptions = {}): object {
  const type = opts.type ?? 'NodePort';
  const affinity =
    opts.affinitySeconds === undefined
      ? {}
      : {
          sessionAffinity: 'ClientIP',
          ...(opts.affinitySeconds > 0
            ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: opts.affinitySeconds } } }
            : {}),
        };
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type,
      selector: { app },
      ...affinity,
      ports: [
        {
          name: 'http',
          port: 80,
          targetPort: 8080,
          ...(type !== 'ClusterIP' && opts.nodePort !== undefined ? { nodePort: opts.nodePort } : {}),
        },
      ],
    },
  };
}

/** How long a removed pod's interface may take to go from its node. */
const POD_GONE_MS = 20_000;

/**
 * Waits until the pods of `before` that the cluster no longer has have left their nodes (their
 * host-side interfaces gone): a namespace is taken down by the kernel after it is released, and
 * a pod made meanwhile with a freed address or name would find the old one's route or link.
 */
export async function settlePods(c: Cluster, before: readonly PodInfo[]): Promise<void> {
  const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;
  const remaining = new Set(c.topology().pods.map(key));
  const until = Date.now() + POD_GONE_MS;
  for (const p of before.filter((x) => !remaining.has(key(x)))) {
    while (Date.now() < until) {
      const r = await c.exec(p.nodeName, ['ip', '-o', 'link', 'show', 'dev', p.hostIface], { reject: false });
      if (r.exitCode !== 0) break;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

/** Deletes objects, then waits for the pods that went with them to leave their nodes. */
export async function deleteAndSettle(c: Cluster, objects: object[]): Promise<void> {
  const before = [...c.topology().pods];
  await c.delete(objects);
  await settlePods(c, before);
}
