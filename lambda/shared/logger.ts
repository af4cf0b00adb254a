import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger every handler uses: JSON lines with the service name. Nothing that reaches it may carry
 * key material: handlers log ARNs, names, ids and statuses only.
 */
export const logger = new Logger({ serviceName: 'cert-lifecycle' });

/**
 * Runs one invocation's work with `keys` on every log line it writes (certificate, mapping, execution),
 * and takes them off again, since the logger outlives the invocation.
 */
export async function withLogContext<T>(keys: Record<string, unknown>, work: () => Promise<T>): Promise<T> {
  logger.appendKeys(Object.fromEntries(Object.entries(keys).filter(([, value]) => value !== undefined)));
  try {
    return await work();
  } finally {
    logger.resetKeys();
  }
}

/** The log keys of an export request, whatever shape the event has. */
export function logKeysOf(event: unknown): Record<string, unknown> {
  const request = (typeof event === 'object' && event !== null ? event : {}) as Record<string, unknown>;
  return {
    certificateArn: request.CertificateArn,
    certName: request.CertName,
    mapping:
      typeof request.TargetTagKey === 'string' && typeof request.TargetTagValue === 'string'
        ? `${request.TargetTagKey}=${request.TargetTagValue}`
        : undefined,
  };
}
