import { Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { exportRequestJsonSchema } from '../lambda/shared/export-request.js';

export interface ExportApiProps {
  /** The Standard workflow each accepted request starts. */
  readonly stateMachine: sfn.IStateMachine;
  /** Answers `DELETE /export-cert` (a proxy integration, behind the same model and IAM auth). */
  readonly unmapFunction: lambda.IFunction;
  readonly logRetention: logs.RetentionDays;
  /**
   * Requests per second on average, and at once, that the stage accepts; past them it answers 429.
   * (The deployment's defaults, in `lib/config.ts`, stay below ACM's ExportCertificate quota.)
   */
  readonly throttle: { readonly ratePerSecond: number; readonly burst: number };
  /**
   * Make this stack's role the role API Gateway writes CloudWatch logs with, for the whole account and
   * Region (AWS::ApiGateway::Account): every other API's logging then depends on this stack. Off, the
   * stage logs through the role the account already has (API Gateway refuses to deploy a logging stage
   * in an account without one). @default false
   */
  readonly setAccountLoggingRole?: boolean;
}

/**
 * `POST /export-cert`: SigV4-signed (IAM) calls only; the body is validated against the export-request
 * model before anything runs, then StartExecution is called directly (no Lambda in between). Answers 202
 * with the execution ARN, 400 with the validation errors, 429 past the stage's throttle, 500 when the
 * workflow could not be started.
 */
export class ExportApi extends Construct {
  readonly api: apigateway.RestApi;
  /** The full URL to POST export requests to. */
  readonly exportUrl: string;

  constructor(scope: Construct, id: string, props: ExportApiProps) {
    super(scope, id);
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    const { throttle } = props;
    this.api = new apigateway.RestApi(this, 'Api', {
      description: 'Export ACM certificates and install them on tagged instances',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole: props.setAccountLoggingRole ?? false,
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigateway.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        tracingEnabled: true,
        throttlingRateLimit: throttle.ratePerSecond,
        throttlingBurstLimit: throttle.burst,
      },
      defaultMethodOptions: { authorizationType: apigateway.AuthorizationType.IAM },
    });

    const model = this.api.addModel('ExportRequest', {
      contentType: 'application/json',
      modelName: 'ExportCertificateRequest',
      schema: exportRequestJsonSchema() as apigateway.JsonSchema,
    });
    const validator = this.api.addRequestValidator('BodyValidator', {
      requestValidatorName: 'export-request-body',
      validateRequestBody: true,
      validateRequestParameters: true,
    });

    const startRole = new iam.Role(this, 'StartExecutionRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets the export API start the export-install workflow',
    });
    props.stateMachine.grantStartExecution(startRole);

    const integration = new apigateway.AwsIntegration({
      service: 'states',
      action: 'StartExecution',
      integrationHttpMethod: 'POST',
      options: {
        credentialsRole: startRole,
        // A body of any other content type is refused (415) rather than passed on unvalidated.
        passthroughBehavior: apigateway.PassthroughBehavior.NEVER,
        requestTemplates: {
          // The body passed the model (patterns exclude quotes and backslashes); the request id names
          // the execution, so a caller can find it from the API's own logs.
          'application/json': [
            '{',
            `  "stateMachineArn": "${props.stateMachine.stateMachineArn}",`,
            '  "name": "$context.requestId",',
            `  "input": "$util.escapeJavaScript($input.json('$'))"`,
            '}',
          ].join('\n'),
        },
        integrationResponses: [
          {
            selectionPattern: '2\\d{2}',
            statusCode: '202',
            responseTemplates: {
              'application/json': `{"executionArn": "$input.path('$.executionArn')", "startDate": $input.path('$.startDate')}`,
            },
          },
          {
            // Anything else StartExecution answers (throttling, access denied, …) is our failure, not the caller's.
            statusCode: '500',
            responseTemplates: {
              'application/json': `{"message": "The export workflow could not be started.", "error": "$util.escapeJavaScript($input.path('$.__type'))", "requestId": "$context.requestId"}`,
            },
          },
        ],
      },
    });

    const resource = this.api.root.addResource('export-cert');
    resource.addMethod('POST', integration, {
      requestValidator: validator,
      requestModels: { 'application/json': model, $default: model },
      methodResponses: [{ statusCode: '202' }, { statusCode: '400' }, { statusCode: '500' }],
    });

    const unmapModel = this.api.addModel('UnmapRequest', {
      contentType: 'application/json',
      modelName: 'UnmapCertificateRequest',
      schema: exportRequestJsonSchema('unmap') as apigateway.JsonSchema,
    });
    resource.addMethod('DELETE', new apigateway.LambdaIntegration(props.unmapFunction), {
      requestValidator: validator,
      requestModels: { 'application/json': unmapModel, $default: unmapModel },
      methodResponses: [{ statusCode: '200' }, { statusCode: '400' }, { statusCode: '500' }],
    });

    this.api.addGatewayResponse('InvalidBody', {
      type: apigateway.ResponseType.BAD_REQUEST_BODY,
      statusCode: '400',
      templates: {
        'application/json':
          '{"message": $context.error.messageString, "validationErrors": "$context.error.validationErrorString", "requestId": "$context.requestId"}',
      },
    });
    this.api.addGatewayResponse('Throttled', {
      type: apigateway.ResponseType.THROTTLED,
      statusCode: '429',
      responseHeaders: { 'Retry-After': "'1'" },
      templates: {
        'application/json': `{"message": "Too many export requests: this API accepts ${throttle.ratePerSecond} per second, ${throttle.burst} at once. Nothing was started; send the request again shortly.", "requestId": "$context.requestId"}`,
      },
    });
    this.exportUrl = this.api.urlForPath(resource.path);

    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-APIG3',
      reason:
        'Every call must be SigV4-signed by an IAM principal allowed execute-api:Invoke; a WAF web ACL can be associated where an organisation requires one.',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-COG4',
      reason:
        'The API is for IAM principals (operators, pipelines), authorised with AWS_IAM instead of Cognito.',
    });
    Validations.of(this.api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: "API Gateway's account-level logging role uses the AWS-managed policy made for it.",
    });
  }
}
