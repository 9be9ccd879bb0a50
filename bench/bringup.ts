/**
 * Bring-up and teardown of netns clusters: how long until N nodes and M pods answer, and how
 * long until every trace of them is gone.
 */
import { startCluster } from '../src/cluster/providers.ts';
import { median, ms } from './stats.ts';

function deployment(replicas: number): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'bench', namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'bench' } },
      template: {
        metadata: { labels: { app: 'bench' } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

/** One size's medians. */
export interface BringupFigures {
  nodes: number;
  pods: number;
  upMs: number;
  downMs: number;
  runs: number;
}

/** Measures bring-up (cluster plus pods answering) and teardown, `runs` times. */
export async function benchBringup(nodes: number, pods: number, runs: number): Promise<BringupFigures> {
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const c = await startCluster('netns', { nodes, dataplane: 'iptables' });
    try {
      await c.apply([deployment(pods)]);
      up.push(performance.now() - t0);
    } finally {
      const t1 = performance.now();
      await c.down();
      down.push(performance.now() - t1);
    }
  }
  return { nodes, pods, upMs: median(up), downMs: median(down), runs };
}

/** The bring-up section of `npm run bench`. */
export async function bringupSection(): Promise<string[]> {
  const small = await benchBringup(3, 6, 5);
  const large = await benchBringup(10, 100, 3);
  return [
    'bring-up and teardown (netns provider, median)',
    ...[small, large].map(
      (f) =>
        `  ${String(f.nodes).padStart(2)} nodes / ${String(f.pods).padStart(3)} pods: up ${ms(f.upMs)}, down ${ms(f.downMs)} (${f.runs} runs)`,
    ),
    `  ratio 10/100 to 3/6: up ${(large.upMs / small.upMs).toFixed(1)}x, down ${(large.downMs / small.downMs).toFixed(1)}x`,
  ];
}
