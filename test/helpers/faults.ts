/**
 * Faults for the local workflow runs: every AWS call (the mocked services, and DynamoDB in front of the
 * local engine) may fail as AWS's passing failures do (throttling, an internal error, a 503), before it takes effect or, for a call that
 * changes something, after. Seeded, so a failing run can be replayed.
 */

export interface FaultPlan {
  readonly seed: number;
  /** Chance that one call fails before it takes effect, and again after, for a call that changes something. */
  readonly rate: number;
}

export interface FaultCounts {
  before: number;
  after: number;
  lostResponses: number;
}

/** A small seeded generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Calls that change something: a fault after them means the change happened but the answer was lost. */
const CHANGING = new Set([
  'ExportCertificateCommand',
  'PutSecretValueCommand',
  'CreateSecretCommand',
  'RestoreSecretCommand',
  'SendCommandCommand',
  'CreateAssociationCommand',
  'UpdateAssociationCommand',
  'SendTaskSuccessCommand',
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
]);

function passingFailure(pick: number, command: string): Error {
  const shapes = [
    { name: 'ThrottlingException', $retryable: { throttling: true }, $metadata: { httpStatusCode: 400 } },
    { name: 'InternalFailure', $fault: 'server', $metadata: { httpStatusCode: 500 } },
    { name: 'ServiceUnavailable', $fault: 'server', $metadata: { httpStatusCode: 503 } },
  ];
  return Object.assign(new Error(`injected into ${command}`), shapes[Math.floor(pick * shapes.length)]!);
}

type Sendable = { prototype: { send: (...args: unknown[]) => Promise<unknown> } };

/** Wraps the send of each client class (already mocked) with the plan's faults; returns the undo. */
export function injectFaults(
  classes: readonly Sendable[],
  next: () => number,
  plan: FaultPlan,
  counts: FaultCounts,
): () => void {
  const originals = classes.map((client) => client.prototype.send);
  classes.forEach((client, index) => {
    const original = originals[index]!;
    client.prototype.send = async function (this: unknown, ...args: unknown[]) {
      const command = (args[0] as object).constructor.name;
      if (next() < plan.rate) {
        counts.before += 1;
        throw passingFailure(next(), command);
      }
      const result = await original.apply(this, args);
      if (CHANGING.has(command) && next() < plan.rate) {
        counts.after += 1;
        throw passingFailure(next(), command);
      }
      return result;
    };
  });
  return () =>
    classes.forEach((client, index) => {
      client.prototype.send = originals[index]!;
    });
}
