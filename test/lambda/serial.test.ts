import { describe, expect, it } from 'vitest';
import { serialFromAcm, serialFromHex } from '../../lambda/shared/serial.js';

describe('certificate serials', () => {
  it('writes bare hex as ACM does: lower-case byte pairs joined by colons', () => {
    expect(serialFromHex('0A1BFF')).toBe('0a:1b:ff');
    expect(serialFromHex('A1BFF')).toBe('0a:1b:ff');
  });

  it("reads ACM's colon-separated serial as the same number", () => {
    expect(serialFromAcm('0a:1b:ff')).toBe(serialFromHex('0A1BFF'));
    expect(serialFromAcm('00:0a:1b:ff')).toBe('0a:1b:ff');
    expect(serialFromAcm('0A:1B:FF')).toBe('0a:1b:ff');
  });

  it('reads a bare decimal serial (as emulators write it) as a number', () => {
    expect(serialFromAcm('662527')).toBe('0a:1b:ff');
  });

  it('tells different serials apart', () => {
    expect(serialFromAcm('0a:1b:fe')).not.toBe(serialFromHex('0A1BFF'));
  });
});
