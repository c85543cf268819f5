// SemantestWebSocketStack: the whole public service of one environment as a single Pulumi component.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { alarms } from "./alarms";
import { apiGatewayAccount } from "./apigatewayAccount";
import { budget } from "./budget";
import { imageBucket } from "./bucket";
import { dashboard } from "./dashboard";
import { customDomain } from "./domain";
import { handlerFunctions } from "./functions";
import { httpApi } from "./http";
import { Environment, Settings } from "./settings";
import { connectionsTable } from "./table";
import { websocketApi, websocketStage } from "./websocket";

export interface SemantestWebSocketStackArgs {
    settings: Settings;
    /** Comma-separated SHA-256 digests of the accepted API keys (a secret). */
    apiKeySha256: pulumi.Input<string>;
    /** Path of the Lambda zip (one `bootstrap` inside), absolute or relative to the working directory. */
    artifactPath: string;
}

const SHORT: Record<Environment, string> = { development: "dev", staging: "staging", production: "prod" };

export class SemantestWebSocketStack extends pulumi.ComponentResource {
    /** wss:// URL of the WebSocket API on its custom domain: what the extension connects to. */
    public readonly websocketUrl: pulumi.Output<string>;
    /** https:// URL of the HTTP API (health, signature) on its own custom domain. */
    public readonly apiEndpoint: pulumi.Output<string>;
    /** The same two APIs on their execute-api addresses, usable before DNS is in place. */
    public readonly websocketInvokeUrl: pulumi.Output<string>;
    public readonly httpInvokeUrl: pulumi.Output<string>;
    /** Where handlers POST to connected sockets (the @connections API). */
    public readonly managementEndpoint: pulumi.Output<string>;
    public readonly tableName: pulumi.Output<string>;
    public readonly bucketName: pulumi.Output<string>;
    public readonly dashboardName: pulumi.Output<string>;
    public readonly alarmTopicArn: pulumi.Output<string>;

    constructor(name: string, args: SemantestWebSocketStackArgs, opts?: pulumi.ComponentResourceOptions) {
        super("semantest:index:SemantestWebSocketStack", name, {}, opts);
        const s = args.settings;
        const prefix = `semantest-${SHORT[s.environment]}`;
        const parent = this;
        const region = aws.getRegionOutput({}, { parent }).region;
        const zoneId: pulumi.Input<string> = s.hostedZoneId
            ?? aws.route53.getZoneOutput({ name: s.hostedZoneName, privateZone: false }, { parent }).zoneId;

        const table = connectionsTable(prefix, s, parent);
        const images = imageBucket(prefix, s, parent);
        const api = websocketApi(prefix, parent);
        const managementEndpoint = pulumi.interpolate`https://${api.id}.execute-api.${region}.amazonaws.com/${s.stageName}`;

        const functions = handlerFunctions(prefix, {
            settings: s,
            tableArn: table.arn,
            tableName: table.name,
            bucketArn: images.bucket.arn,
            bucketName: images.bucket.bucket,
            websocketExecutionArn: api.executionArn,
            stageName: s.stageName,
            managementEndpoint,
            apiKeySha256: args.apiKeySha256,
            artifactPath: args.artifactPath,
        }, parent);

        // WebSocket stages need the account's CloudWatch role before they may log.
        const account = s.manageApiGatewayAccount ? [apiGatewayAccount(prefix, parent)] : [];
        const ws = websocketStage(prefix, api, functions, s, parent, account);
        const http = httpApi(prefix, functions.http, s, parent);

        customDomain(`${prefix}-ws`, { domainName: s.domainName, zoneId, apiId: api.id, stage: ws.stage.name }, parent);
        customDomain(`${prefix}-http`, { domainName: s.httpDomainName, zoneId, apiId: http.api.id, stage: http.stage.name }, parent);

        const targets = {
            functions,
            websocketApiId: api.id,
            websocketStage: ws.stage.name,
            httpApiId: http.api.id,
            httpStage: http.stage.name,
        };
        const alarmSet = alarms(prefix, s, targets, parent);
        const board = dashboard(prefix, region, targets, parent);
        budget(prefix, s, parent);

        this.websocketUrl = pulumi.output(`wss://${s.domainName}`);
        this.apiEndpoint = pulumi.output(`https://${s.httpDomainName}`);
        this.websocketInvokeUrl = ws.stage.invokeUrl;
        this.httpInvokeUrl = http.stage.invokeUrl;
        this.managementEndpoint = managementEndpoint;
        this.tableName = table.name;
        this.bucketName = images.bucket.bucket;
        this.dashboardName = board.dashboardName;
        this.alarmTopicArn = alarmSet.topic.arn;
        this.registerOutputs({
            websocketUrl: this.websocketUrl,
            apiEndpoint: this.apiEndpoint,
            websocketInvokeUrl: this.websocketInvokeUrl,
            httpInvokeUrl: this.httpInvokeUrl,
            managementEndpoint: this.managementEndpoint,
            tableName: this.tableName,
            bucketName: this.bucketName,
            dashboardName: this.dashboardName,
            alarmTopicArn: this.alarmTopicArn,
        });
    }
}
