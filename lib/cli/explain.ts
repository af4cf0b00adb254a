/**
 * AWS SDK errors as sentences an operator can act on: what was asked, of which Region and stack, and
 * what to do. Anything not recognised keeps the SDK's own name and message.
 */
export interface AskedFor {
  /** What the CLI was doing, as a phrase: "reading the outputs of stack CertLifecycle". */
  readonly doing: string;
  readonly region?: string | undefined;
  readonly stack?: string | undefined;
  readonly table?: string | undefined;
}

export class ExplainedError extends Error {
  override name = 'ExplainedError';
}

export function explain(error: unknown, asked: AskedFor): ExplainedError {
  if (error instanceof ExplainedError) return error;
  const { name = 'Error', message = String(error) } = (error ?? {}) as { name?: string; message?: string };
  const region = asked.region ?? 'your configured Region';
  const say = (sentence: string) => new ExplainedError(sentence);
  if (name === 'CredentialsProviderError' || /Could not load credentials/.test(message))
    return say(
      `no AWS credentials while ${asked.doing}: set AWS_PROFILE (and run aws sso login for an SSO profile), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
    );
  if (/Region is missing/.test(message))
    return say(`no Region while ${asked.doing}: pass --region REGION, or set AWS_REGION`);
  if (name === 'ValidationError' && /does not exist/.test(message) && asked.stack)
    return say(
      `stack ${asked.stack} does not exist in ${region}: pass --stack with the name you deployed (cdk deploy -c stackName=…) and --region with its Region`,
    );
  if (name === 'ResourceNotFoundException' && asked.table)
    return say(
      `table ${asked.table} (stack ${asked.stack ?? '?'}'s output) does not exist in ${region}; was the stack deleted or deployed elsewhere?`,
    );
  if (name === 'ExecutionDoesNotExist') return say(`there is no such execution in ${region}: ${message}`);
  if (name === 'InvalidArn') return say(`that is not an execution ARN: ${message}`);
  if (name === 'AccessDeniedException' || name === 'AccessDenied' || name === 'UnrecognizedClientException')
    return say(
      `AWS refused ${asked.doing} (${name}): ${message}; the operator policy in the README lists what the CLI needs`,
    );
  if (name === 'ExpiredTokenException' || name === 'ExpiredToken')
    return say(
      `your AWS credentials have expired (${asked.doing}): renew them (aws sso login) and run again`,
    );
  if (/getaddrinfo|ENOTFOUND|ECONNREFUSED|ETIMEDOUT|fetch failed/.test(message))
    return say(`cannot reach AWS while ${asked.doing} (${message}); check the network and --region`);
  return say(`${asked.doing} failed: ${name}: ${message}`);
}
