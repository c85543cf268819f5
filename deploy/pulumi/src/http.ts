// The HTTP API for GET /health, /signature and /semantest-signature: one Lambda proxy integration (payload 2.0).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction } from "./functions";
import { Settings } from "./settings";

export const HTTP_ROUTES = ["GET /health", "GET /signature", "GET /semantest-signature"] as const;

export interface HttpApi {
    api: aws.apigatewayv2.Api;
    stage: aws.apigatewayv2.Stage;
    routes: Record<string, aws.apigatewayv2.Route>;
    accessLogs: aws.cloudwatch.LogGroup;
}

export function httpApi(prefix: string, fn: HandlerFunction, settings: Settings, parent: pulumi.Resource): HttpApi {
    const opts = { parent };
    const api = new aws.apigatewayv2.Api(`${prefix}-http`, {
        name: `${prefix}-http`,
        protocolType: "HTTP",
        description: "Semantest Connect health and signature",
        // The extension's service worker needs no CORS; pages of the extension (popup, options) do.
        corsConfiguration: {
            allowOrigins: settings.extensionOrigins,
            allowMethods: ["GET"],
            maxAge: 3600,
        },
    }, opts);
    const integration = new aws.apigatewayv2.Integration(`${prefix}-http-lambda`, {
        apiId: api.id,
        integrationType: "AWS_PROXY",
        integrationMethod: "POST",
        integrationUri: fn.fn.invokeArn,
        payloadFormatVersion: "2.0",
        timeoutMilliseconds: 10000,
    }, opts);
    new aws.lambda.Permission(`${prefix}-http-invoke`, {
        action: "lambda:InvokeFunction",
        function: fn.fn.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${api.executionArn}/*/GET/*`,
    }, opts);
    const routes: Record<string, aws.apigatewayv2.Route> = {};
    for (const routeKey of HTTP_ROUTES) {
        routes[routeKey] = new aws.apigatewayv2.Route(`${prefix}-http-route-${routeKey.split("/")[1]}`, {
            apiId: api.id,
            routeKey,
            target: pulumi.interpolate`integrations/${integration.id}`,
        }, opts);
    }
    const accessLogs = new aws.cloudwatch.LogGroup(`${prefix}-http-access-logs`, {
        name: `/aws/apigateway/${prefix}-http`,
        retentionInDays: settings.logRetentionDays,
    }, opts);
    const stage = new aws.apigatewayv2.Stage(`${prefix}-http-stage`, {
        apiId: api.id,
        name: "$default",
        autoDeploy: true,
        defaultRouteSettings: {
            throttlingBurstLimit: settings.httpThrottle.burstLimit,
            throttlingRateLimit: settings.httpThrottle.rateLimit,
        },
        accessLogSettings: {
            destinationArn: accessLogs.arn,
            format: JSON.stringify({
                requestId: "$context.requestId",
                routeKey: "$context.routeKey",
                status: "$context.status",
                integrationLatency: "$context.integrationLatency",
                responseLatency: "$context.responseLatency",
                error: "$context.error.message",
                integrationError: "$context.integrationErrorMessage",
                requestTime: "$context.requestTimeEpoch",
                sourceIp: "$context.identity.sourceIp",
            }),
        },
    }, { parent, dependsOn: Object.values(routes) });
    return { api, stage, routes, accessLogs };
}
