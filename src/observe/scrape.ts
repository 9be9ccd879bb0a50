/**
 * Scraping a node's metrics endpoint from inside the cluster, through the node's probe agent,
 * as Prometheus in the cluster would reach it.
 */
import type { Cluster } from '../cluster/types.ts';
import { METRICS_PATH, METRICS_PORT } from './names.ts';
import { parseExposition, type Sample } from './parse.ts';

/** A scrape of one node. */
export interface Scrape {
  node: string;
  url: string;
  text: string;
  samples: Sample[];
}

/** Scrapes a node's endpoint; throws with the node, URL and what came back when it fails. */
export async function scrapeNode(
  cluster: Pick<Cluster, 'topology' | 'probe'>,
  nodeName: string,
  timeoutMs = 5000,
): Promise<Scrape> {
  const node = cluster.topology().nodes.find((n) => n.name === nodeName);
  if (!node) throw new Error(`no node named ${nodeName}`);
  const url = `http://${node.ip}:${METRICS_PORT}${METRICS_PATH}`;
  const r = await cluster.probe(node.name, {
    kind: 'http',
    host: node.ip,
    port: METRICS_PORT,
    path: METRICS_PATH,
    timeoutMs,
  });
  if (!r.ok)
    throw new Error(
      `no metrics from ${node.name} at ${url}: ${r.error ?? 'failed'}${r.errorMessage ? ` (${r.errorMessage})` : ''}`,
    );
  const text = r.body ?? '';
  if (r.status !== 200)
    throw new Error(`metrics of ${node.name} at ${url}: HTTP ${r.status}: ${text.trim().slice(0, 300)}`);
  return { node: node.name, url, text, samples: parseExposition(text) };
}
