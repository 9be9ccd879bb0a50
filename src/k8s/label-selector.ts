/**
 * Kubernetes label selectors (matchLabels + matchExpressions): checking them as written and
 * matching them against labels. Deployments and NetworkPolicies use the full form; Services
 * use a plain map, which is the matchLabels part alone.
 */
import type { V1LabelSelector, V1LabelSelectorRequirement } from '@kubernetes/client-node';
import { type FieldCheck, fieldOf, indexOf, isLabelValue, isQualifiedName } from './check.ts';
import { describeValue } from './manifest.ts';

const OPERATORS = ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const;

/** Checks a LabelSelector; undefined when absent. */
export function checkLabelSelector(
  c: FieldCheck,
  field: string,
  value: unknown,
): V1LabelSelector | undefined {
  const sel = c.record(field, value);
  if (!sel) return undefined;
  c.onlyKnown(field, sel, ['matchLabels', 'matchExpressions']);
  const matchLabels = c.labels(fieldOf(field, 'matchLabels'), sel.matchLabels);
  const exprField = fieldOf(field, 'matchExpressions');
  const exprs = c.list(exprField, sel.matchExpressions);
  const matchExpressions: V1LabelSelectorRequirement[] = [];
  for (const [i, raw] of (exprs ?? []).entries()) {
    const f = indexOf(exprField, i);
    const expr = c.record(f, raw, true)!;
    c.onlyKnown(f, expr, ['key', 'operator', 'values']);
    const key = c.string(fieldOf(f, 'key'), expr.key, true)!;
    if (!isQualifiedName(key)) c.fail(fieldOf(f, 'key'), `not a valid label key, got ${describeValue(key)}`);
    const operator = c.oneOf(fieldOf(f, 'operator'), expr.operator, OPERATORS);
    if (!operator) c.fail(fieldOf(f, 'operator'), 'required');
    const valuesField = fieldOf(f, 'values');
    const values = (c.list(valuesField, expr.values) ?? []).map((v, j) => {
      const s = c.string(indexOf(valuesField, j), v, false) ?? '';
      if (!isLabelValue(s))
        c.fail(indexOf(valuesField, j), `not a valid label value, got ${describeValue(s)}`);
      return s;
    });
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) {
      c.fail(valuesField, `must be non-empty when operator is ${operator}`);
    }
    if ((operator === 'Exists' || operator === 'DoesNotExist') && values.length > 0) {
      c.fail(valuesField, `must be empty when operator is ${operator}`);
    }
    matchExpressions.push(values.length > 0 ? { key, operator, values } : { key, operator });
  }
  const out: V1LabelSelector = {};
  if (matchLabels) out.matchLabels = matchLabels;
  if (exprs) out.matchExpressions = matchExpressions;
  return out;
}

/** True when the selector selects nothing-in-particular, i.e. everything. */
export function isEmptySelector(sel: V1LabelSelector): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/** True when the labels satisfy the selector (an empty selector matches everything). */
export function selectorMatches(sel: V1LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const expr of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, expr.key);
    const values = expr.values ?? [];
    switch (expr.operator) {
      case 'In':
        if (!has || !values.includes(labels[expr.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[expr.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** True when every pair of the map is in the labels (Service selectors). */
export function mapMatches(
  selector: Readonly<Record<string, string>>,
  labels: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** `app=echo,tier in (a,b),!legacy`, kubectl's way of writing a selector. */
export function formatSelector(sel: V1LabelSelector): string {
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length > 0 ? parts.join(',') : '<everything>';
}

/** `app=echo,tier=web` for a plain label map. */
export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
  return parts.length > 0 ? parts.join(',') : '<none>';
}
