/**
 * Errors the workflow's handlers throw on purpose. Each sets `name` explicitly (bundles are minified, so
 * class names are not stable): Lambda reports `name` as the error type, and the state machine's Catch
 * rules and its failure message match on it.
 */
export class ExportInstallError extends Error {
  override name = 'ExportInstallError';
}

export class InvalidExportRequestError extends ExportInstallError {
  override name = 'InvalidExportRequestError';
}

export class CertificateNotFoundError extends ExportInstallError {
  override name = 'CertificateNotFoundError';
}

export class CertificateOutOfScopeError extends ExportInstallError {
  override name = 'CertificateOutOfScopeError';
}

export class CertificateNotIssuedError extends ExportInstallError {
  override name = 'CertificateNotIssuedError';
}

export class CertificateNotExportableError extends ExportInstallError {
  override name = 'CertificateNotExportableError';
}

export class TargetTagNotGrantedError extends ExportInstallError {
  override name = 'TargetTagNotGrantedError';
}

export class UnknownProfileError extends ExportInstallError {
  override name = 'UnknownProfileError';
}

/** The mapping's account and Region cannot be acted in: no member stack there, or it does not trust this one. */
export class TargetNotReachableError extends ExportInstallError {
  override name = 'TargetNotReachableError';
}

/** A renewal queued for a mapping that was unmapped since: nothing is exported, restored or installed. */
export class MappingRemovedError extends ExportInstallError {
  override name = 'MappingRemovedError';
}

export class InstallCommandRejectedError extends ExportInstallError {
  override name = 'InstallCommandRejectedError';
}

/** ACM renewed the certificate between describing and exporting it; the workflow retries the step. */
export class CertificateChangedDuringExportError extends ExportInstallError {
  override name = 'CertificateChangedDuringExportError';
}

/**
 * Another run holds the claim on exporting this certificate at this serial; the workflow retries the
 * step until that export is stored (or the claim's lease runs out).
 */
export class ExportInProgressError extends ExportInstallError {
  override name = 'ExportInProgressError';
}

/** The names the state machine catches as "explained" failures whose message is meant for a human. */
export const EXPLAINED_ERROR_NAMES = [
  'InvalidExportRequestError',
  'CertificateNotFoundError',
  'CertificateOutOfScopeError',
  'CertificateNotIssuedError',
  'CertificateNotExportableError',
  'TargetTagNotGrantedError',
  'UnknownProfileError',
  'TargetNotReachableError',
  'MappingRemovedError',
  'InstallCommandRejectedError',
] as const;

/**
 * An AWS call failed for a reason that passes: throttling, a 5xx, or anything the SDK marks retryable.
 * Every Task of the workflow retries this one name (bounded backoff, jitter); whatever the service
 * called it is kept in the message.
 */
export class TransientAwsError extends Error {
  override name = 'TransientAwsError';
}

/**
 * The spellings services give passing failures without the SDK marking them (models differ, and some
 * are unmodelled): throttling, limits on the request rate, and internal errors.
 */
const TRANSIENT_ERROR_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'RequestThrottledException',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalError',
  'InternalErrorException',
  'InternalServerError',
  'InternalServerException',
  'InternalServiceError',
  'InternalServiceErrorException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
]);

/** Network failures on the way to the service: the call may well go through the next time. */
const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']);

/** The error as the workflow should see it: a passing AWS failure becomes TransientAwsError. */
export function namedForRetry(error: unknown): unknown {
  if (error instanceof ExportInstallError || error instanceof TransientAwsError) return error;
  const failure = error as {
    name?: string;
    message?: string;
    $retryable?: unknown;
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
    code?: string;
  };
  const transient =
    failure?.$retryable !== undefined && failure.$retryable !== null
      ? true
      : failure?.$fault === 'server' ||
        (failure?.$metadata?.httpStatusCode ?? 0) >= 500 ||
        TRANSIENT_ERROR_NAMES.has(failure?.name ?? '') ||
        TRANSIENT_NETWORK_CODES.has(failure?.code ?? '');
  return transient ? new TransientAwsError(`${failure.name}: ${failure.message ?? ''}`) : error;
}

/** Runs a workflow step, naming its passing AWS failures TransientAwsError for the Task's Retry. */
export async function retryingTransient<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw namedForRetry(error);
  }
}
