/**
 * The promotion gate: the new version's metric against the champion's. With no champion the gate
 * passes (the first model has nothing to beat); with a champion whose value cannot be read it fails
 * closed, since promoting blind is what the gate exists to prevent.
 */
import type { GateDirection } from './inputs.js';

export interface GateInput {
  metric: string;
  direction: GateDirection;
  minDelta: number;
  candidate: number;
  champion?: { version: string; value?: number; problem?: string };
}

export interface GateDecision {
  passed: boolean;
  /** Improvement over the champion (positive is better in either direction). */
  improvement?: number;
  reason: string;
}

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toPrecision(6).replace(/\.?0+$/, ''));

export function decideGate(g: GateInput): GateDecision {
  if (Number.isNaN(g.candidate)) {
    return { passed: false, reason: `${g.metric} is NaN: nothing to promote` };
  }
  if (!g.champion) {
    return {
      passed: true,
      reason: `no champion yet: ${g.metric} = ${fmt(g.candidate)} is the first to compare`,
    };
  }
  const { version, value, problem } = g.champion;
  if (value === undefined || Number.isNaN(value)) {
    return {
      passed: false,
      reason: `champion v${version} has no ${g.metric} to compare against${
        problem ? ` (${problem})` : value === undefined ? '' : ' (it is NaN)'
      }`,
    };
  }
  const improvement = g.direction === 'maximize' ? g.candidate - value : value - g.candidate;
  // Float noise must not decide a tie: 0.1 + 0.2 vs 0.3 with min-delta 0 is a tie, and a tie passes.
  const passed = improvement >= g.minDelta - 1e-12;
  const better = g.direction === 'maximize' ? 'higher' : 'lower';
  const cmp = `${g.metric} ${fmt(g.candidate)} vs champion v${version} ${fmt(value)}`;
  const need = `needs an improvement of at least ${fmt(g.minDelta)} (${better} is better)`;
  return {
    passed,
    improvement,
    reason: `${cmp}: improvement ${improvement >= 0 ? '+' : ''}${fmt(improvement)}, ${need}`,
  };
}
