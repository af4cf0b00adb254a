import { describe, expect, it } from 'vitest';
import { compareVersions } from '../../lambda/dry-run/dry-run.js';

describe('agent version comparison', () => {
  it('compares dotted versions as numbers', () => {
    expect(compareVersions('3.3.2746.0', '3.3.2746.0')).toBe(0);
    expect(compareVersions('3.3.10000.0', '3.3.2746.0')).toBe(1);
    expect(compareVersions('3.2.9999.9', '3.3.2746.0')).toBe(-1);
    expect(compareVersions('4', '3.3.2746.0')).toBe(1);
  });
});
