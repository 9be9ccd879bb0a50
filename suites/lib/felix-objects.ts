/**
 * The objects the felix and datapath suites run traffic through: echo Deployments pinned by
 * label, Services over them or without a selector, and EndpointSlices written by hand.
 */
import { soloDeployment } from './objects.ts';

/** An echo Deployment of `replicas` pods labelled `app: <name>`, serving 8080 (and 80, 81). */
export function echoDeployment(name: string, replicas = 1): object {
  return soloDeployment(name, replicas);
}

/** A Service over the pods labelled `app: <app>` (none: no selector), port 80 -> 8080 unless told. */
export function echoService(
  name: string,
  app: string | undefined,
  opts: {
    type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
    nodePort?: number;
    protocol?: 'TCP' | 'UDP';
    port?: number;
  } = {},
): object {
  const port = opts.port ?? 80;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: {
      type: opts.type ?? 'NodePort',
      ...(app ? { selector: { app } } : {}),
      ports: [
        {
          name: 'echo',
          port,
          protocol: opts.protocol ?? 'TCP',
          ...(app ? { targetPort: 8080 } : {}),
          ...(opts.nodePort ? { nodePort: opts.nodePort } : {}),
        },
      ],
    },
  };
}

/** An EndpointSlice giving Service `service` one endpoint, as a user writes one. */
export function endpointSlice(
  service: string,
  ip: string,
  port: number,
  opts: { protocol?: 'TCP' | 'UDP'; nodeName?: string } = {},
): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${service}-manual`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': service },
    },
    addressType: 'IPv4',
    ports: [{ name: 'echo', port, protocol: opts.protocol ?? 'TCP' }],
    endpoints: [
      { addresses: [ip], conditions: { ready: true }, ...(opts.nodeName ? { nodeName: opts.nodeName } : {}) },
    ],
  };
}
