import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger every handler uses: JSON lines with the service name. Nothing that reaches it may carry
 * key material: handlers log ARNs, names, ids and statuses only.
 */
export const logger = new Logger({ serviceName: 'cert-lifecycle' });
