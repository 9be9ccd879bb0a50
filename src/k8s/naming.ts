/**
 * Names the control plane makes up: pod-template hashes, pod names, host-side veth names, and
 * the random source behind pod-name suffixes.
 */
import { createHash } from 'node:crypto';

/** A source of numbers in [0, 1), like Math.random. */
export type Random = () => number;

/** The characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes). */
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Label the ReplicaSet controller puts on every pod, carrying the template hash. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash';

function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** 10 hex digits identifying a pod template; key order does not matter. */
export function templateHash(template: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(template ?? {}))
    .digest('hex')
    .slice(0, 10);
}

/** A 5-character suffix from Kubernetes' alphabet. */
export function nameSuffix(rng: Random): string {
  let out = '';
  for (let i = 0; i < 5; i++)
    out += SUFFIX_ALPHABET[Math.floor(rng() * SUFFIX_ALPHABET.length) % SUFFIX_ALPHABET.length];
  return out;
}

/** `<deployment>-<template hash>-<suffix>`. */
export function podName(deployment: string, hash: string, suffix: string): string {
  return `${deployment}-${hash}-${suffix}`;
}

/** Calico's host-side veth name for a pod: `cali` + 11 hex digits of sha1("namespace.pod"). */
export function hostIfaceName(namespace: string, pod: string): string {
  return `cali${createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11)}`;
}

/** A deterministic Random (mulberry32) seeded from a string, so reconciles are reproducible. */
export function seededRandom(seed: string): Random {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
