/**
 * The control plane carries NetworkPolicies and namespace labels in the realised model, so a
 * manifest applied to the store ends up enforced on the pods it selects.
 */
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../src/k8s/controller.ts';
import { parseManifests } from '../../../src/k8s/manifest.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { compilePolicy, policyInputsFromModel } from '../../../src/policy/compile.ts';
import { makeNodes, yaml } from '../k8s/helpers.ts';

const MANIFESTS = yaml`
  apiVersion: v1
  kind: Namespace
  metadata: {name: team, labels: {tier: front}}
  ---
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: team}
  spec:
    replicas: 2
    selector: {matchLabels: {app: web}}
    template:
      metadata: {labels: {app: web}}
      spec:
        containers:
          - name: main
            image: nginx
            ports: [{name: http, containerPort: 8080}]
  ---
  apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: web-http, namespace: team}
  spec:
    podSelector: {matchLabels: {app: web}}
    ingress:
      - from: [{namespaceSelector: {matchLabels: {tier: front}}}]
        ports: [{port: http}]
`;

describe('policy inputs from the control plane', () => {
  it('reconcile puts policies and namespace labels in the model, and they compile', () => {
    const store = new ObjectStore();
    store.apply(parseManifests(MANIFESTS, 'p.yaml'));
    const { model, errors } = reconcile(store, makeNodes(2), undefined);
    expect(errors).toEqual([]);
    expect(model.namespaces).toContainEqual({ name: 'team', labels: { tier: 'front' } });
    expect(model.policies?.map((p) => `${p.namespace}/${p.name}`)).toEqual(['team/web-http']);
    const compiled = compilePolicy(policyInputsFromModel(model)).filter((p) => p.namespace === 'team');
    expect(compiled).toHaveLength(2);
    for (const pod of compiled) {
      expect(pod.ingress.isolated).toBe(true);
      expect(pod.ingress.rules).toHaveLength(1);
      expect(pod.ingress.rules[0]?.ports).toEqual([{ protocol: 'TCP', port: 8080 }]);
      expect(pod.ingress.rules[0]?.peers?.podIps).toEqual(compiled.map((p) => p.ip).sort());
    }
  });
});
