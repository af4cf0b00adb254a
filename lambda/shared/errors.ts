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

export class InstallCommandRejectedError extends ExportInstallError {
  override name = 'InstallCommandRejectedError';
}

/** ACM renewed the certificate between describing and exporting it; the workflow retries the step. */
export class CertificateChangedDuringExportError extends ExportInstallError {
  override name = 'CertificateChangedDuringExportError';
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
  'InstallCommandRejectedError',
] as const;
