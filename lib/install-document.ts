import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ssmDocumentFile } from './paths.js';

export interface InstallDocumentProps {
  /** @default 'Install-ACMCertificate' */
  readonly documentName?: string;
  /** The document's file in ssm-documents/, without `.yaml`. @default 'install-acm-certificate' */
  readonly sourceFile?: string;
}

/** An SSM Command document of the app, from `ssm-documents/` (the install document by default). */
export class InstallDocument extends Construct {
  readonly documentName: string;
  readonly documentArn: string;

  constructor(scope: Construct, id: string, props: InstallDocumentProps = {}) {
    super(scope, id);
    this.documentName = props.documentName ?? 'Install-ACMCertificate';
    const document = new ssm.CfnDocument(this, 'Document', {
      name: this.documentName,
      documentType: 'Command',
      documentFormat: 'JSON',
      content: parse(readFileSync(ssmDocumentFile(props.sourceFile ?? 'install-acm-certificate'), 'utf8')),
      // A named document cannot be replaced in place; updates add a version, and commands use $LATEST.
      updateMethod: 'NewVersion',
    });
    this.documentArn = `arn:${document.stack.partition}:ssm:${document.stack.region}:${document.stack.account}:document/${this.documentName}`;
  }
}
