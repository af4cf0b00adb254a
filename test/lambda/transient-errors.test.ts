import { describe, expect, it } from 'vitest';
import {
  CertificateChangedDuringExportError,
  InvalidExportRequestError,
  namedForRetry,
  retryingTransient,
} from '../../lambda/shared/errors.js';

/** An error shaped as the SDK throws it: a name, a fault, the HTTP status, and `$retryable` when set. */
const awsError = (name: string, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`${name} happened`), {
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    ...extra,
  });

describe('transient AWS errors', () => {
  it.each([
    ['ACM', 'ThrottlingException'],
    ['ACM, unmodelled', 'InternalFailure'],
    ['Secrets Manager', 'InternalServiceError'],
    ['DynamoDB', 'RequestLimitExceeded'],
    ['DynamoDB', 'ProvisionedThroughputExceededException'],
    ['DynamoDB', 'InternalServerError'],
    ['SSM', 'TooManyRequestsException'],
    ['SSM', 'InternalServerError'],
    ['Step Functions', 'ThrottlingException'],
    ['any, behind a load balancer', 'ServiceUnavailable'],
  ])('%s %s becomes TransientAwsError, keeping the original name in its message', (_, name) => {
    const named = namedForRetry(awsError(name)) as Error;
    expect(named.name).toBe('TransientAwsError');
    expect(named.message).toBe(`${name}: ${name} happened`);
  });

  it('so does anything the SDK marks retryable, any server fault and any 5xx', () => {
    expect((namedForRetry(awsError('Whatever', { $retryable: { throttling: true } })) as Error).name).toBe(
      'TransientAwsError',
    );
    expect((namedForRetry(awsError('Whatever', { $fault: 'server' })) as Error).name).toBe(
      'TransientAwsError',
    );
    expect((namedForRetry(awsError('Whatever', { $metadata: { httpStatusCode: 503 } })) as Error).name).toBe(
      'TransientAwsError',
    );
  });

  it('so does a network failure on the way to the service', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' });
    expect((namedForRetry(refused) as Error).name).toBe('TransientAwsError');
  });

  it("leaves alone what will not pass: client errors and the workflow's own named errors", () => {
    for (const error of [
      awsError('AccessDeniedException'),
      awsError('ValidationException'),
      awsError('ResourceNotFoundException'),
      new InvalidExportRequestError('CertName is required'),
      new CertificateChangedDuringExportError('renewed meanwhile'),
    ]) {
      expect(namedForRetry(error)).toBe(error);
    }
  });

  it('a step throws the renamed error', async () => {
    await expect(retryingTransient(async () => Promise.reject(awsError('InternalFailure')))).rejects.toThrow(
      expect.objectContaining({ name: 'TransientAwsError' }),
    );
    expect(await retryingTransient(async () => 'done')).toBe('done');
  });
});
