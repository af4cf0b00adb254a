import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { settleWithConcurrency } from './concurrency.js';
import { isSerial } from './serial.js';
import {
  EXPORTED_SERIAL_FIELD,
  type ExportRequest,
  PROFILE_FIELD,
  profileOf,
  requestFieldsOf,
  validatedRequest,
} from './export-request.js';

/**
 * One renewal waiting to start: the execution's deterministic name and its input (a mapping's four
 * fields, its profile, and the serial the certificate was exported at once for all its mappings). A
 * renewal event puts one on the renewal queue per mapping; the queue's consumer starts them.
 */
export interface QueuedRenewal {
  readonly name: string;
  readonly input: ExportRequest & { readonly Profile?: string; readonly ExportedSerial?: string };
}

/** `renew-<8 hex of the certificate id>-<40 hex>`: what renewalExecutionName makes. */
const EXECUTION_NAME = /^renew-[0-9a-f]{8}-[0-9a-f]{40}$/;
/** SendMessageBatch takes at most 10 entries. */
const BATCH = 10;
/** Entries SQS refused are sent again this many times before the event is failed (and redelivered). */
const RESENDS = 3;

/** The queued renewal a message holds, checked as the API checks a request; throws when it is not one. */
export function parseQueuedRenewal(body: string): QueuedRenewal {
  const parsed = JSON.parse(body) as Partial<QueuedRenewal>;
  if (typeof parsed.name !== 'string' || !EXECUTION_NAME.test(parsed.name)) {
    throw new Error('the message names no renewal execution');
  }
  const input = (parsed.input ?? {}) as Record<string, unknown>;
  // The four fields and the profile, held to the API's own rules; anything else is left behind.
  const named = input[PROFILE_FIELD] !== undefined;
  const candidate = {
    ...requestFieldsOf(input as unknown as ExportRequest),
    ...(named ? { [PROFILE_FIELD]: input[PROFILE_FIELD] } : {}),
  };
  const request = validatedRequest(candidate);
  const exportedSerial = input[EXPORTED_SERIAL_FIELD];
  if (exportedSerial !== undefined && !isSerial(exportedSerial)) {
    throw new Error(`the message's ${EXPORTED_SERIAL_FIELD} is not a serial`);
  }
  return {
    name: parsed.name,
    input: {
      ...request,
      ...(named ? { Profile: profileOf(candidate) } : {}),
      ...(exportedSerial !== undefined ? { ExportedSerial: exportedSerial } : {}),
    },
  };
}

/**
 * Puts every renewal on the queue, 10 to a SendMessageBatch call, `concurrency` calls at a time; entries
 * SQS refuses are sent again. Returns the names it could not queue (none on success). Sending one twice
 * is harmless: the execution name makes the second start a no-op.
 */
export async function queueRenewals(
  sqs: SQSClient,
  queueUrl: string,
  renewals: readonly QueuedRenewal[],
  concurrency = 10,
): Promise<string[]> {
  let pending = [...renewals];
  for (let attempt = 0; attempt <= RESENDS && pending.length > 0; attempt += 1) {
    const batches = Array.from({ length: Math.ceil(pending.length / BATCH) }, (_, index) =>
      pending.slice(index * BATCH, (index + 1) * BATCH),
    );
    const results = await settleWithConcurrency(batches, concurrency, async (batch) => {
      const response = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((renewal, index) => ({
            Id: String(index),
            MessageBody: JSON.stringify(renewal),
          })),
        }),
      );
      return (response.Failed ?? []).map((failure) => batch[Number(failure.Id)]!);
    });
    pending = results.flatMap((result, index) =>
      result.status === 'fulfilled' ? result.value : batches[index]!,
    );
  }
  return pending.map((renewal) => renewal.name);
}
