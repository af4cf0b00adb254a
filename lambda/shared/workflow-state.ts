import type { TargetLocation } from './export-request.js';
/**
 * The shapes the export-install workflow passes between its steps. Everything here ends up in Step
 * Functions state and history, so it holds metadata only: names, ids, dates, statuses.
 */

/** Result of the ExportCertificate step. */
export interface ExportedCertificate {
  readonly certificateArn: string;
  readonly certName: string;
  readonly serial: string;
  readonly notAfter: string;
  readonly secretId: string;
  readonly secretVersionId: string;
  readonly exportedAt: string;
  /** The install profile the request named (or `default`), checked to exist. */
  readonly profile: string;
  /**
   * The member account and Region of the hosts, when the request named them, checked to be allowed and
   * answering: the install step acts there (the workflow passes this step's output on whole).
   */
  readonly location?: TargetLocation;
}

/** Result of the RecordAndInstall step. */
export interface InstallCommand {
  readonly commandId: string;
  readonly documentName: string;
  readonly requestedAt: string;
  /** The mapping's State Manager association, and what this export did to it. */
  readonly associationId: string;
  readonly associationChange: 'created' | 'updated' | 'unchanged';
}

export type InstallOutcome = 'Success' | 'Failed' | 'InProgress' | 'TimedOut';

export interface InstanceInstallResult {
  readonly instanceId: string;
  /** The invocation's Status, or its more precise StatusDetails (e.g. "Undeliverable"). */
  readonly status: string;
  /**
   * The install document's machine-readable last line, when it printed one: status (installed,
   * unchanged, reloaded), serial, formats, and served (the serial the service served, or unchecked).
   */
  readonly result?: Record<string, string>;
  /** What the install said went wrong on the host (its last ERROR line), when it failed. */
  readonly error?: string;
}

/** How an install command went, as far as it has got. */
export interface InstallStatusReport {
  readonly outcome: InstallOutcome;
  /** Why the install failed or timed out, in a sentence a human can act on. */
  readonly reason?: string;
  readonly commandStatus: string;
  readonly summary: { readonly targets: number; readonly succeeded: number; readonly failed: number };
  /** Per-instance results, the failed ones first, at most MAX_REPORTED_INSTANCES of them. */
  readonly instances: InstanceInstallResult[];
}

/**
 * Result of the RecordAndInstall step: it waits (on a task token) until the install command ends, and
 * this is what the command's end hands back.
 */
export interface InstallReport extends InstallStatusReport {
  readonly commandId: string;
  readonly associationId: string;
  readonly associationChange: InstallCommand['associationChange'];
}
