/**
 * apps/v1 Deployment checks: what the embedded control plane needs to schedule replicas and
 * compute endpoints (replicas, selector, template labels, containers and their ports). The
 * rest of the pod template is kept as written and not interpreted.
 */
import type { V1Deployment } from '@kubernetes/client-node';
import { type FieldCheck, fieldOf, indexOf, isDnsLabel, isIanaServiceName } from './check.ts';
import {
  checkLabelSelector,
  formatLabels,
  formatSelector,
  isEmptySelector,
  selectorMatches,
} from './label-selector.ts';
import { describeValue } from './manifest.ts';
import { checkProtocol } from './validate-service.ts';

const PORT_FIELDS = ['name', 'containerPort', 'protocol', 'hostPort', 'hostIP'];

function checkContainers(c: FieldCheck, podSpec: Record<string, unknown>, at: string): void {
  const field = fieldOf(at, 'containers');
  const containers = c.list(field, podSpec.containers, true)!;
  if (containers.length === 0) c.fail(field, 'required (at least one container)');
  const names = new Set<string>();
  const portNames = new Map<string, string>();
  for (const [i, raw] of containers.entries()) {
    const f = indexOf(field, i);
    const container = c.record(f, raw, true)!;
    const name = c.string(fieldOf(f, 'name'), container.name, true)!;
    if (!isDnsLabel(name))
      c.fail(
        fieldOf(f, 'name'),
        `must be a DNS label (lower-case alphanumerics and '-'), got ${describeValue(name)}`,
      );
    if (names.has(name)) c.fail(fieldOf(f, 'name'), `duplicate container name ${JSON.stringify(name)}`);
    names.add(name);
    c.string(fieldOf(f, 'image'), container.image, true);
    const portsField = fieldOf(f, 'ports');
    for (const [j, rawPort] of (c.list(portsField, container.ports) ?? []).entries()) {
      const pf = indexOf(portsField, j);
      const port = c.record(pf, rawPort, true)!;
      c.onlyKnown(pf, port, PORT_FIELDS);
      c.int(fieldOf(pf, 'containerPort'), port.containerPort, 1, 65535, true);
      checkProtocol(c, fieldOf(pf, 'protocol'), port.protocol);
      const portName = c.string(fieldOf(pf, 'name'), port.name);
      if (portName !== undefined) {
        if (!isIanaServiceName(portName)) {
          c.fail(
            fieldOf(pf, 'name'),
            `must be an IANA service name (at most 15 lower-case alphanumerics and '-', with a letter), got ${describeValue(portName)}`,
          );
        }
        const first = portNames.get(portName);
        if (first !== undefined)
          c.fail(fieldOf(pf, 'name'), `duplicate port name ${JSON.stringify(portName)} (also ${first})`);
        portNames.set(portName, pf);
      }
      if (c.int(fieldOf(pf, 'hostPort'), port.hostPort, 1, 65535) !== undefined) {
        c.warn(fieldOf(pf, 'hostPort'), 'accepted, not implemented by the embedded control plane');
      }
    }
  }
}

/** Checks a Deployment's `spec`, collecting warnings on `c`. */
export function checkDeploymentSpec(c: FieldCheck, object: Record<string, unknown>): V1Deployment {
  const spec = c.record('spec', object.spec, true)!;
  c.int('spec.replicas', spec.replicas, 0, 2147483647);
  const selector = checkLabelSelector(c, 'spec.selector', spec.selector);
  if (!selector) c.fail('spec.selector', 'required');
  if (isEmptySelector(selector)) c.fail('spec.selector', 'empty selector is invalid for a Deployment');
  const template = c.record('spec.template', spec.template, true)!;
  const meta = c.record('spec.template.metadata', template.metadata) ?? {};
  const labels = c.labels('spec.template.metadata.labels', meta.labels) ?? {};
  if (!selectorMatches(selector, labels)) {
    c.fail(
      'spec.template.metadata.labels',
      `selector does not match template labels (selector ${formatSelector(selector)}, labels ${formatLabels(labels)})`,
    );
  }
  const podSpec = c.record('spec.template.spec', template.spec, true)!;
  if (podSpec.hostNetwork === true) {
    c.fail(
      'spec.template.spec.hostNetwork',
      'host-networked pods are not supported by the embedded control plane',
    );
  }
  checkContainers(c, podSpec, 'spec.template.spec');
  return object as V1Deployment;
}
