/**
 * Small Kubernetes objects the suites build on the fly (scaling, type changes).
 */

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
