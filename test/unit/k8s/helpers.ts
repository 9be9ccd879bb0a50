/** Helpers shared by the k8s unit tests. */
import type { NodeState } from '../../../src/k8s/model.ts';

/** The message of what `fn` throws; fails the test when it does not throw. */
export function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error, none was thrown');
}

/** `count` nodes laid out as the netns provider lays them out. */
export function makeNodes(count: number): NodeState[] {
  return Array.from({ length: count }, (_, i) => ({
    name: i === 0 ? 'dpc-control-plane' : `dpc-worker${i === 1 ? '' : i}`,
    index: i,
    ip: `172.18.0.${2 + i}`,
    podCidr: `10.244.${i}.0/24`,
  }));
}

/** Strips the common leading indentation of a template literal, so YAML can be written inline. */
export function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const text = String.raw({ raw: strings }, ...values).replace(/^\n/, '');
  const indent = Math.min(
    ...text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => l.match(/^ */)![0].length),
  );
  return text
    .split('\n')
    .map((l) => l.slice(indent))
    .join('\n');
}
