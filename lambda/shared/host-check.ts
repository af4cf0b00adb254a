/**
 * What the dry run's document (the install script with Action Preflight or Rehearse) reports of a host:
 * one `CHECK <item> ok|problem|note <words>` line for each thing an install needs, then a RESULT line.
 */
export type HostCheckVerdict = 'ok' | 'problem' | 'note';

export interface HostCheck {
  /** tools, owner, secret, CertDirectory, KeyDirectory, directories, reload, endpoint, journal */
  readonly item: string;
  readonly verdict: HostCheckVerdict;
  readonly words: string;
}

const CHECK_LINE = /^CHECK (\S+) (ok|problem|note) ?(.*)$/;

/** Every CHECK line a run printed, in order. */
export function hostCheckLines(output: string): HostCheck[] {
  return output.split('\n').flatMap((line) => {
    const match = CHECK_LINE.exec(line.trim());
    return match ? [{ item: match[1]!, verdict: match[2] as HostCheckVerdict, words: match[3]! }] : [];
  });
}
