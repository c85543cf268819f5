// The least-privilege IAM statements of each handler, scoped to this stack's table, bucket, stage and log group.
import * as pulumi from "@pulumi/pulumi";
import { IMAGE_PREFIX } from "./bucket";
import { HandlerName } from "./settings";

export interface Statement {
    Sid: string;
    Effect: "Allow";
    Action: string[];
    Resource: pulumi.Input<string>[];
    Condition?: Record<string, Record<string, string[]>>;
}

/** Only items whose partition key (`pk`) starts with one of `prefixes` (deploy/lambda/src/store.rs, identity.rs). */
function itemsOf(...prefixes: string[]): Statement["Condition"] {
    return { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": prefixes.map((p) => `${p}#*`) } };
}

export interface PolicyTargets {
    tableArn: pulumi.Input<string>;
    bucketArn: pulumi.Input<string>;
    /** The WebSocket API's execution ARN: arn:aws:execute-api:{region}:{account}:{apiId}. */
    websocketExecutionArn: pulumi.Input<string>;
    stageName: string;
}

/** What each handler does beyond writing its own logs. */
export function handlerStatements(handler: HandlerName, t: PolicyTargets): Statement[] {
    switch (handler) {
        case "connect":
            return [
                // A token shown in the handshake: an install's or a device's, looked up by its digest.
                { Sid: "ReadTokens", Effect: "Allow", Action: ["dynamodb:GetItem"], Resource: [t.tableArn], Condition: itemsOf("token") },
                { Sid: "RecordConnection", Effect: "Allow", Action: ["dynamodb:PutItem"], Resource: [t.tableArn], Condition: itemsOf("conn", "devconn") },
                // A device's last seen, in its install's list.
                { Sid: "DeviceSeen", Effect: "Allow", Action: ["dynamodb:UpdateItem"], Resource: [t.tableArn], Condition: itemsOf("install") },
            ];
        case "disconnect":
            return [{
                Sid: "ForgetConnection",
                Effect: "Allow",
                Action: ["dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"],
                Resource: [t.tableArn],
                Condition: itemsOf("conn", "event"),
            }];
        case "default":
            return [
                {
                    Sid: "ConnectionsAndSubscriptions",
                    Effect: "Allow",
                    Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"],
                    Resource: [t.tableArn],
                },
                {
                    // Send to (POST) and drop (DELETE) sockets of this stage only.
                    Sid: "ManageConnections",
                    Effect: "Allow",
                    Action: ["execute-api:ManageConnections"],
                    Resource: [
                        pulumi.interpolate`${t.websocketExecutionArn}/${t.stageName}/POST/@connections/*`,
                        pulumi.interpolate`${t.websocketExecutionArn}/${t.stageName}/DELETE/@connections/*`,
                    ],
                },
                {
                    // Presigned upload and download URLs carry these permissions.
                    Sid: "Images",
                    Effect: "Allow",
                    Action: ["s3:PutObject", "s3:GetObject"],
                    Resource: [pulumi.interpolate`${t.bucketArn}/${IMAGE_PREFIX}*`],
                },
            ];
        case "http":
            return [];
    }
}

/** Writing to its own log group, instead of AWSLambdaBasicExecutionRole's logs on every group. */
export function logStatement(logGroupArn: pulumi.Input<string>): Statement {
    return {
        Sid: "OwnLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: [logGroupArn, pulumi.interpolate`${logGroupArn}:log-stream:*`],
    };
}

export function policyDocument(statements: Statement[]): pulumi.Output<string> {
    return pulumi.jsonStringify({ Version: "2012-10-17", Statement: statements });
}

export const LAMBDA_ASSUME_ROLE = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" }],
});
