import aslValidator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { deployedDefinition } from '../helpers/workflow-harness.js';

describe('export-install.asl.json', () => {
  it('is valid Amazon States Language once its placeholders are filled', () => {
    const { isValid, errorsText } = aslValidator(deployedDefinition());
    expect(errorsText()).toBe('');
    expect(isValid).toBe(true);
  });
});
