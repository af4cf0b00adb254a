import { request } from 'node:https';

/** What CloudFormation sends a custom resource's function (the fields this app reads). */
export interface CustomResourceEvent {
  readonly RequestType: 'Create' | 'Update' | 'Delete';
  readonly ResponseURL: string;
  readonly StackId: string;
  readonly RequestId: string;
  readonly LogicalResourceId: string;
  readonly PhysicalResourceId?: string;
}

export interface CustomResourceResult {
  readonly Status: 'SUCCESS' | 'FAILED';
  readonly Reason?: string;
  readonly Data?: Record<string, string>;
}

/** The response CloudFormation waits for: a PUT of this JSON to the presigned ResponseURL. */
export function responseBody(event: CustomResourceEvent, result: CustomResourceResult): string {
  return JSON.stringify({
    Status: result.Status,
    Reason: (result.Reason ?? result.Status).slice(0, 1000),
    PhysicalResourceId: event.PhysicalResourceId ?? event.LogicalResourceId,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    ...(result.Data ? { Data: result.Data } : {}),
  });
}

export async function respond(event: CustomResourceEvent, result: CustomResourceResult): Promise<void> {
  const body = responseBody(event, result);
  await new Promise<void>((resolve, reject) => {
    const put = request(
      event.ResponseURL,
      { method: 'PUT', headers: { 'content-type': '', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on('end', () =>
          (response.statusCode ?? 500) < 300
            ? resolve()
            : reject(new Error(`CloudFormation answered ${response.statusCode}`)),
        );
      },
    );
    put.on('error', reject);
    put.end(body);
  });
}
