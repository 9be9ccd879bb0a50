/**
 * Turns a loaded manifest into a validated {@link Resource}: checks the kind and apiVersion,
 * the metadata every object shares, then the kind's own fields. The first problem throws a
 * one-line ManifestError naming file, object and field.
 */
import { FieldCheck, fieldOf, isDns1035Label, isDnsLabel, isDnsSubdomain } from './check.ts';
import { checkFelixSpec } from './felix.ts';
import { describeSupportedKinds, isSupportedKind, KINDS } from './kinds.ts';
import { describeValue, type Manifest, ManifestError, manifestLabel } from './manifest.ts';
import type { CalicoObject, FelixConfigurationObject, Resource, WrittenObject } from './resource.ts';
import { checkCalicoPolicySpec } from './validate-calico-policy.ts';
import { checkDeploymentSpec } from './validate-deployment.ts';
import { checkEndpointSlice, checkEndpoints } from './validate-endpoints.ts';
import { checkHostEndpointSpec, checkKubeControllersSpec } from './validate-host-endpoint.ts';
import { checkNetworkPolicySpec } from './validate-network-policy.ts';
import { checkInstallation, checkServiceMonitor } from './validate-operator.ts';
import { checkServiceSpec } from './validate-service.ts';

/** What a kind's names must look like, as kube-apiserver checks them. */
const NAME_RULES = {
  Namespace: ["a DNS label (lower-case alphanumerics and '-', at most 63)", isDnsLabel],
  Service: [
    "a DNS-1035 label (starts with a letter; lower-case alphanumerics and '-', at most 63)",
    isDns1035Label,
  ],
  Deployment: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  NetworkPolicy: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  FelixConfiguration: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  Installation: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  EndpointSlice: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  Endpoints: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  ServiceMonitor: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  KubeControllersConfiguration: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  HostEndpoint: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  GlobalNetworkPolicy: ["a DNS subdomain (lower-case alphanumerics, '-' and '.')", isDnsSubdomain],
  'NetworkPolicy.projectcalico.org': [
    "a DNS subdomain (lower-case alphanumerics, '-' and '.')",
    isDnsSubdomain,
  ],
} as const;

function checkMetadata(c: FieldCheck, m: Manifest & { kind: keyof typeof NAME_RULES }): void {
  const meta = c.record('metadata', m.object.metadata, true)!;
  const [rule, test] = NAME_RULES[m.kind];
  if (!test(m.name)) c.fail('metadata.name', `must be ${rule}, got ${describeValue(m.name)}`);
  if (m.namespace !== undefined && !isDnsLabel(m.namespace)) {
    c.fail('metadata.namespace', `must be a DNS label, got ${describeValue(m.namespace)}`);
  }
  c.labels('metadata.labels', meta.labels);
  c.stringMap('metadata.annotations', meta.annotations);
}

/** The object as the store keeps it: a copy, with the namespace written in for namespaced kinds. */
function normalised(m: Manifest): Record<string, unknown> {
  const object = structuredClone(m.object);
  const meta = { ...(object.metadata as Record<string, unknown>) };
  if (m.namespace !== undefined) meta.namespace = m.namespace;
  else delete meta.namespace;
  object.metadata = meta;
  delete object.status;
  return object;
}

/** A checked object, typed as written (its kind-specific content is checked separately). */
function written(object: Record<string, unknown>): WrittenObject {
  return object as unknown as WrittenObject;
}

/** Validates one manifest. */
export function validateManifest(m: Manifest): Resource {
  const label = manifestLabel(m);
  const c = new FieldCheck(m.source.file, label);
  const { kind } = m;
  if (!isSupportedKind(kind)) {
    throw new ManifestError({
      file: m.source.file,
      object: label,
      field: 'kind',
      message: `${kind} is not a kind dpconform applies; it applies ${describeSupportedKinds()}`,
    });
  }
  const served: readonly string[] = KINDS[kind].apiVersions;
  if (!served.includes(m.apiVersion)) {
    c.fail(
      'apiVersion',
      `${kind} is not served by ${JSON.stringify(m.apiVersion)}; use ${served.join(' or ')}`,
    );
  }
  checkMetadata(c, { ...m, kind });
  const object = normalised(m);
  const base = { apiVersion: m.apiVersion, name: m.name, source: m.source, warnings: c.warnings };
  switch (kind) {
    case 'Namespace':
      c.record('spec', object.spec);
      return { ...base, kind, namespace: undefined, object };
    case 'Deployment':
      return { ...base, kind, namespace: m.namespace!, object: checkDeploymentSpec(c, object) };
    case 'Service':
      return { ...base, kind, namespace: m.namespace!, object: checkServiceSpec(c, object) };
    case 'NetworkPolicy':
      return { ...base, kind, namespace: m.namespace!, object: checkNetworkPolicySpec(c, object) };
    case 'EndpointSlice': {
      const slice = checkEndpointSlice(c, object, m.namespace!);
      return {
        ...base,
        kind,
        namespace: m.namespace!,
        object: written(object),
        sources: slice ? [slice] : [],
      };
    }
    case 'Endpoints':
      return {
        ...base,
        kind,
        namespace: m.namespace!,
        object: written(object),
        sources: checkEndpoints(c, object, m.namespace!, m.name),
      };
    case 'Installation':
      return {
        ...base,
        kind,
        namespace: undefined,
        object: written(object),
        installation: checkInstallation(c, object, m.name),
      };
    case 'ServiceMonitor':
      if (m.apiVersion === 'v1')
        c.warn(
          'apiVersion',
          'ServiceMonitor is served by monitoring.coreos.com/v1; v1 accepted as the guide writes it',
        );
      return {
        ...base,
        kind,
        namespace: m.namespace!,
        object: written(object),
        monitor: checkServiceMonitor(c, object, m.namespace!, m.name),
      };
    case 'HostEndpoint':
      return {
        ...base,
        kind,
        namespace: undefined,
        object: object as unknown as CalicoObject,
        hostEndpoint: checkHostEndpointSpec(c, object, m.name),
      };
    case 'GlobalNetworkPolicy':
      return {
        ...base,
        kind,
        namespace: undefined,
        object: object as unknown as CalicoObject,
        policy: checkCalicoPolicySpec(c, object, m.name, undefined),
      };
    case 'NetworkPolicy.projectcalico.org':
      return {
        ...base,
        kind,
        namespace: m.namespace!,
        object: object as unknown as CalicoObject,
        policy: checkCalicoPolicySpec(c, object, m.name, m.namespace),
      };
    case 'KubeControllersConfiguration':
      return {
        ...base,
        kind,
        namespace: undefined,
        object: object as unknown as CalicoObject,
        controllers: checkKubeControllersSpec(c, object, m.name),
      };
    case 'FelixConfiguration': {
      if (m.name !== 'default' && !m.name.startsWith('node.')) {
        c.warn('metadata.name', "only 'default' and 'node.<nodename>' take effect");
      }
      const felix = checkFelixSpec(c, object.spec, fieldOf('', 'spec'));
      return {
        ...base,
        kind,
        namespace: undefined,
        object: object as unknown as FelixConfigurationObject,
        felix,
      };
    }
  }
}

/** Validates every manifest, stopping at the first problem. */
export function validateManifests(manifests: readonly Manifest[]): Resource[] {
  return manifests.map(validateManifest);
}
