/**
 * Field-checking primitives shared by the per-kind validators: each check either returns the
 * typed value or throws a one-line {@link ManifestError} naming file, object and field.
 */
import { describeValue, ManifestError } from './manifest.ts';

/** Appends a key to a field path: `spec.ports`, or `metadata.labels["app.kubernetes.io/name"]`. */
export function fieldOf(parent: string, key: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

/** Appends a list index to a field path: `spec.ports[0]`. */
export function indexOf(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** True for a plain mapping. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** RFC 1123 label: what namespace, container and most names must be. */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && DNS_LABEL.test(text);
}

/** RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDnsSubdomain(text: string): boolean {
  return text.length <= 253 && text.split('.').every((part) => DNS_LABEL.test(part));
}

/** RFC 1035 label: a DNS label that starts with a letter (Service names). */
export function isDns1035Label(text: string): boolean {
  return text.length <= 63 && DNS_1035_LABEL.test(text);
}

/** IANA service name: what a named port may be called (`http`, `metrics-port`). */
export function isIanaServiceName(text: string): boolean {
  return (
    text.length >= 1 &&
    text.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(text) &&
    /[a-z]/.test(text) &&
    !text.includes('--')
  );
}

/** A label or annotation key: `[prefix/]name`. */
export function isQualifiedName(text: string): boolean {
  const slash = text.indexOf('/');
  const name = slash < 0 ? text : text.slice(slash + 1);
  if (slash >= 0 && !isDnsSubdomain(text.slice(0, slash))) return false;
  return name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

/** A label value: empty, or up to 63 alphanumerics with `-_.` inside. */
export function isLabelValue(text: string): boolean {
  return text === '' || (text.length <= 63 && QUALIFIED_NAME_PART.test(text));
}

/**
 * Checks the fields of one object. Errors throw; warnings accumulate, each already formatted as
 * a one-line message naming file, object and field.
 */
export class FieldCheck {
  readonly file: string;
  readonly object: string;
  readonly warnings: string[] = [];

  constructor(file: string, object: string) {
    this.file = file;
    this.object = object;
  }

  /** Rejects the object because of one field. */
  fail(field: string, message: string): never {
    throw new ManifestError({ file: this.file, object: this.object, field, message });
  }

  /** Records a warning about one field. */
  warn(field: string, message: string): void {
    this.warnings.push([this.file, this.object, field, message].filter((p) => p).join(': '));
  }

  /** A mapping, or undefined when absent (and not required). */
  record(field: string, value: unknown, required = false): Record<string, unknown> | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (!isRecord(value)) this.fail(field, `must be a mapping, got ${describeValue(value)}`);
    return value;
  }

  /** A list, or undefined when absent (and not required). */
  list(field: string, value: unknown, required = false): unknown[] | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (!Array.isArray(value)) this.fail(field, `must be a list, got ${describeValue(value)}`);
    return value;
  }

  /** A string, or undefined when absent (and not required). Empty strings count as absent when required. */
  string(field: string, value: unknown, required = false): string | undefined {
    if (value === undefined || value === null || (required && value === '')) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (typeof value !== 'string') this.fail(field, `must be a string, got ${describeValue(value)}`);
    return value;
  }

  /** A boolean, or undefined when absent. */
  bool(field: string, value: unknown): boolean | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(field, `must be true or false, got ${describeValue(value)}`);
    return value;
  }

  /**
   * An integer within [min, max] (max optional), or undefined when absent (and not required).
   * YAML strings are not numbers here, as in Kubernetes: `"80"` is rejected.
   */
  int(field: string, value: unknown, min: number, max?: number, required = false): number | undefined {
    if (value === undefined || value === null) {
      if (required) this.fail(field, 'required');
      return undefined;
    }
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < min ||
      (max !== undefined && value > max)
    ) {
      this.fail(field, `must be ${describeIntRange(min, max)}, got ${describeValue(value)}`);
    }
    return value;
  }

  /** One of a fixed set of strings, or undefined when absent. */
  oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(field, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
    }
    return value as T;
  }

  /** A mapping of strings to strings (labels, annotations, selectors). */
  stringMap(field: string, value: unknown): Record<string, string> | undefined {
    const map = this.record(field, value);
    if (!map) return undefined;
    for (const [k, v] of Object.entries(map)) {
      if (typeof v !== 'string') this.fail(fieldOf(field, k), `must be a string, got ${describeValue(v)}`);
    }
    return map as Record<string, string>;
  }

  /** Label keys and values as Kubernetes allows them. */
  labels(field: string, value: unknown): Record<string, string> | undefined {
    const map = this.stringMap(field, value);
    if (!map) return undefined;
    for (const [k, v] of Object.entries(map)) {
      if (!isQualifiedName(k)) this.fail(fieldOf(field, k), 'not a valid label key');
      if (!isLabelValue(v)) {
        this.fail(
          fieldOf(field, k),
          `not a valid label value (63 alphanumerics, '-', '_' or '.'), got ${describeValue(v)}`,
        );
      }
    }
    return map;
  }

  /** Rejects any key of the mapping not in `known`. */
  onlyKnown(field: string, map: Record<string, unknown>, known: readonly string[]): void {
    for (const key of Object.keys(map)) {
      if (!known.includes(key)) this.fail(fieldOf(field, key), 'unknown field');
    }
  }
}

/** `an integer 1-65535`, `an integer >= 0`, `a positive integer`. */
export function describeIntRange(min: number, max?: number): string {
  if (max !== undefined) return `an integer ${min}-${max}`;
  return min === 1 ? 'a positive integer' : `an integer >= ${min}`;
}
