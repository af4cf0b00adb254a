import { Stack } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { type CommandDocumentContent, commandDocumentContent } from './command-document.js';

/**
 * The name of each of the app's documents: `<stack name>-<kind>-ACMCertificate`. The central stack and
 * every member stack name them alike, so the central functions find them in any account.
 */
export function appDocumentName(
  stackName: string,
  kind: 'Install' | 'Check' | 'Remove' | 'Windows' | 'DryRun',
): string {
  return `${stackName}-${kind}-ACMCertificate`;
}

export interface InstallDocumentProps {
  /** @default '<stack name>-Install-ACMCertificate' */
  readonly documentName?: string;
  /** The document's files in ssm-documents/ (`.yaml` and `.sh`), without the ending. @default 'install-acm-certificate' */
  readonly sourceFile?: string;
  /** The `.sh` the document runs, when it is another document's. @default the sourceFile's own */
  readonly scriptFile?: string;
  /** The document's content, when it is made in code rather than read from sourceFile. */
  readonly content?: CommandDocumentContent;
  /** The Windows document the document's Windows step runs (`aws:runDocument`). @default the name in its YAML */
  readonly windowsDocumentName?: string;
  /** In a member account: the central secrets' ARN prefix the host reads its secrets under. */
  readonly secretsArn?: string;
}

/** An SSM Command document of the app, from `ssm-documents/` (the install document by default). */
export class InstallDocument extends Construct {
  readonly documentName: string;
  readonly documentArn: string;

  constructor(scope: Construct, id: string, props: InstallDocumentProps = {}) {
    super(scope, id);
    this.documentName = props.documentName || appDocumentName(Stack.of(this).stackName, 'Install');
    const document = new ssm.CfnDocument(this, 'Document', {
      name: this.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      content:
        props.content ??
        commandDocumentContent(
          props.sourceFile ?? 'install-acm-certificate',
          props.scriptFile ?? props.sourceFile ?? 'install-acm-certificate',
          {
            ...(props.windowsDocumentName ? { windowsDocumentName: props.windowsDocumentName } : {}),
            ...(props.secretsArn ? { secretsArn: props.secretsArn } : {}),
          },
        ),
      // A named document cannot be replaced in place; updates add a version, and commands use $LATEST.
      updateMethod: 'NewVersion',
    });
    this.documentArn = `arn:${document.stack.partition}:ssm:${document.stack.region}:${document.stack.account}:document/${this.documentName}`;
  }
}
