import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Provider } from '@smithy/types';

export interface SignedResponse {
  readonly status: number;
  readonly body: unknown;
}

/** Sends JSON to an IAM-authorized API Gateway URL, signed with SigV4 by the SDK's own signer. */
export async function signedRequest(
  method: 'POST' | 'DELETE',
  url: string,
  payload: unknown,
  options: {
    readonly region: string;
    readonly credentials: AwsCredentialIdentity | Provider<AwsCredentialIdentity>;
  },
): Promise<SignedResponse> {
  const target = new URL(url);
  const body = JSON.stringify(payload);
  const signer = new SignatureV4({
    service: 'execute-api',
    region: options.region,
    credentials: options.credentials,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method,
      protocol: target.protocol,
      hostname: target.hostname,
      ...(target.port ? { port: Number(target.port) } : {}),
      path: target.pathname,
      headers: { host: target.host, 'content-type': 'application/json' },
      body,
    }),
  );
  const response = await fetch(target, {
    method,
    headers: signed.headers as Record<string, string>,
    body,
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed };
}

/** The Region in an execute-api URL (https://<id>.execute-api.<region>.amazonaws.com/…), if it is one. */
export function regionOfApiUrl(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com/.exec(new URL(url).hostname)?.[1];
}
