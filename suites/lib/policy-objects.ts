/**
 * The Kubernetes objects of the policy suite: the x/y/z namespaces with a/b/c pods that
 * Kubernetes' own network policy tests use, and the NetworkPolicies the cases apply.
 */

/** Namespaces of the reachability matrix, each labelled `ns: <name>`. */
export const MATRIX_NAMESPACES = ['x', 'y', 'z'] as const;

/** Pods of each matrix namespace, one Deployment each, labelled `pod: <name>`. */
export const MATRIX_PODS = ['a', 'b', 'c'] as const;

const ECHO_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.39';

/** A Namespace labelled `ns: <name>` (what namespaceSelectors match). */
export function matrixNamespace(name: string): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { ns: name } } };
}

/** A one-replica echo Deployment whose pod is labelled `pod: <name>`. */
export function matrixDeployment(namespace: string, name: string): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { pod: name } },
      template: {
        metadata: { labels: { pod: name } },
        spec: {
          containers: [
            {
              name: 'echo',
              image: ECHO_IMAGE,
              ports: [
                { containerPort: 80, protocol: 'TCP' },
                { containerPort: 81, protocol: 'TCP' },
              ],
            },
          ],
        },
      },
    },
  };
}

/** Every namespace and Deployment of the matrix, namespaces first. */
export function matrixObjects(): object[] {
  return [
    ...MATRIX_NAMESPACES.map(matrixNamespace),
    ...MATRIX_NAMESPACES.flatMap((ns) => MATRIX_PODS.map((p) => matrixDeployment(ns, p))),
  ];
}

/** A NetworkPolicy from its name, namespace and spec. */
export function networkPolicy(namespace: string, name: string, spec: object): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace },
    spec,
  };
}

/** Isolates every pod of the namespace for ingress (nothing allowed in). */
export function denyAllIngress(namespace: string): object {
  return networkPolicy(namespace, 'deny-all-ingress', { podSelector: {}, policyTypes: ['Ingress'] });
}

/** Isolates every pod of the namespace for egress (nothing allowed out). */
export function denyAllEgress(namespace: string): object {
  return networkPolicy(namespace, 'deny-all-egress', { podSelector: {}, policyTypes: ['Egress'] });
}

/** Allows ingress to `pod: <pod>` of `namespace` only from the pods of namespace `ns: <from>`. */
export function allowFromNamespace(namespace: string, pod: string, from: string): object {
  return networkPolicy(namespace, `allow-${pod}-from-ns-${from}`, {
    podSelector: { matchLabels: { pod } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: from } } }] }],
  });
}

/** Allows ingress to `pod: <pod>` only from pods `pod: <from>` of the same namespace. */
export function allowFromPod(namespace: string, pod: string, from: string): object {
  return networkPolicy(namespace, `allow-${pod}-from-pod-${from}`, {
    podSelector: { matchLabels: { pod } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ podSelector: { matchLabels: { pod: from } } }] }],
  });
}

/** Allows ingress to `pod: <pod>` from anywhere, on one TCP port only. */
export function allowTcpPort(namespace: string, pod: string, port: number): object {
  return networkPolicy(namespace, `allow-${pod}-tcp-${port}`, {
    podSelector: { matchLabels: { pod } },
    policyTypes: ['Ingress'],
    ingress: [{ ports: [{ protocol: 'TCP', port }] }],
  });
}

/** Allows ingress to the pods with `app: <app>` from one ipBlock (`cidr` minus `except`). */
export function allowIpBlock(
  namespace: string,
  name: string,
  app: string,
  cidr: string,
  except: string[] = [],
): object {
  return networkPolicy(namespace, name, {
    podSelector: { matchLabels: { app } },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ ipBlock: { cidr, ...(except.length > 0 ? { except } : {}) } }] }],
  });
}
