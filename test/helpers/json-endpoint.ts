/**
 * A small AWS JSON 1.1 endpoint behind a real SDK client (its `requestHandler`): requests are routed by
 * `X-Amz-Target` to fake operations, errors go back as the service sends them (`__type`), and an
 * operation's answer can be lost after it took effect (the connection resets, ECONNRESET), so the SDK's
 * own retry runs as it does in Lambda. Faults at `send` (aws-sdk-client-mock) never reach that retry.
 */
export type Operations = Record<string, (input: never) => unknown>;

export function jsonEndpoint(operations: Operations) {
  const calls: Record<string, number> = {};
  const toLose = new Map<string, number>();
  const respond = (statusCode: number, output: unknown) => ({
    response: {
      statusCode,
      reason: statusCode === 200 ? 'OK' : 'Bad Request',
      headers: { 'content-type': 'application/x-amz-json-1.1' },
      // Timestamps travel as epoch seconds in this protocol.
      body: new TextEncoder().encode(
        JSON.stringify(output, function (this: Record<string, unknown>, key, value: unknown) {
          const raw = this[key];
          return raw instanceof Date ? raw.getTime() / 1000 : value;
        }),
      ),
    },
  });
  const requestHandler = {
    async handle(request: { headers: Record<string, string>; body?: string }) {
      const target = request.headers['x-amz-target'] ?? request.headers['X-Amz-Target'] ?? '';
      const name = target.split('.').pop() ?? '';
      const operation = operations[name];
      if (!operation) throw new Error(`unexpected call ${target}`);
      calls[name] = (calls[name] ?? 0) + 1;
      let output: unknown;
      try {
        output = await operation(JSON.parse(request.body ?? '{}') as never);
      } catch (error) {
        return respond(400, { __type: (error as Error).name, message: (error as Error).message });
      }
      const lose = toLose.get(name) ?? 0;
      if (lose > 0) {
        toLose.set(name, lose - 1);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      return respond(200, output);
    },
  };
  return {
    requestHandler,
    /** How many requests reached each operation (the SDK's retries included). */
    calls,
    /** The next `times` calls of `operation` take effect, and their answers never arrive. */
    loseAnswers(operation: string, times = 1) {
      toLose.set(operation, times);
    },
  };
}
