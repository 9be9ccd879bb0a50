/**
 * Scraping a node's metrics endpoint from inside the cluster, through a probe made from the
 * node, as Prometheus in the cluster would reach it.
 */

import { METRICS_PATH, METRICS_PORT } from '../dataplane/bpf/metrics/names.ts';
import { metricsUrl } from '../dataplane/bpf/metrics/process.ts';
import type { ProbeRequest, ProbeResult } from '../workload/types.ts';
import { parseExposition, type Sample } from './prometheus.ts';

/** Where a node's endpoint is scraped (a ServiceMonitor may say; Felix's defaults otherwise). */
export interface MetricsTarget {
  port: number;
  path: string;
  /** How often a watching scraper scrapes. */
  intervalSeconds: number;
  /** The ServiceMonitor that said so, as `namespace/name`. */
  monitor?: string;
}

/** Felix's own endpoint, scraped every 30 s: what applies without a ServiceMonitor. */
export const DEFAULT_METRICS_TARGET: MetricsTarget = {
  port: METRICS_PORT,
  path: METRICS_PATH,
  intervalSeconds: 30,
};

/** A scrape of one node. */
export interface Scrape {
  node: string;
  url: string;
  text: string;
  samples: Sample[];
}

/**
 * Scrapes a node's endpoint with a probe made from the node itself (`probe(from, request)`, as a
 * cluster makes probes); throws with the node, URL and what came back when it fails.
 */
export async function scrapeNode(
  probe: (from: string, req: ProbeRequest) => Promise<ProbeResult>,
  node: { name: string; ip: string },
  timeoutMs = 5000,
  target: MetricsTarget = DEFAULT_METRICS_TARGET,
): Promise<Scrape> {
  const url =
    target.port === METRICS_PORT && target.path === METRICS_PATH
      ? metricsUrl(node)
      : `http://${node.ip}:${target.port}${target.path}`;
  const r = await probe(node.name, {
    kind: 'http',
    host: node.ip,
    port: target.port,
    path: target.path,
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
