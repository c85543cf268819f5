// The WebSocket API: routes on `action`, Lambda proxy integrations (and API Gateway's own pong), two-way replies, a throttled and logged stage.
import * as crypto from "crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { HandlerFunction } from "./functions";
import { pingRoute, pingRouteSpec } from "./pingRoute";
import { HandlerName, Settings } from "./settings";

/** The v1 protocol's client actions; each gets its own route (and so its own metrics). */
export const ACTION_ROUTES = ["hello", "ping", "subscribe", "unsubscribe", "publish", "reply", "requestUpload", "register", "pairCode", "pair", "devices", "revoke"] as const;

/** The ping route's templates and keys (deploy/ping-route.json), read once. */
const PING_SPEC = pingRouteSpec();

/** Actions API Gateway answers itself (a MOCK integration, see pingRoute.ts): no Lambda runs for them. */
export const MOCK_ROUTES: readonly string[] = [PING_SPEC.routeKey];

/** Every route key that reaches a Lambda function, and the handler it reaches. */
export const ROUTES: ReadonlyArray<readonly [string, HandlerName]> = [
    ["$connect", "connect"],
    ["$disconnect", "disconnect"],
    ["$default", "default"],
    ...ACTION_ROUTES.filter((a) => !MOCK_ROUTES.includes(a)).map((a) => [a, "default"] as const),
];

/** Routes whose handler's answer is sent back to the sender (all but $connect and $disconnect). */
export function isTwoWay(routeKey: string): boolean {
    return routeKey !== "$connect" && routeKey !== "$disconnect";
}

export function websocketApi(prefix: string, parent: pulumi.Resource): aws.apigatewayv2.Api {
    return new aws.apigatewayv2.Api(`${prefix}-websocket`, {
        name: `${prefix}-websocket`,
        protocolType: "WEBSOCKET",
        routeSelectionExpression: "$request.body.action",
        description: "Semantest Connect v1 WebSocket API",
    }, { parent });
}

export interface WebsocketStage {
    stage: aws.apigatewayv2.Stage;
    routes: Record<string, aws.apigatewayv2.Route>;
    accessLogs: aws.cloudwatch.LogGroup;
}

export function websocketStage(
    prefix: string,
    api: aws.apigatewayv2.Api,
    functions: Record<HandlerName, HandlerFunction>,
    settings: Settings,
    parent: pulumi.Resource,
    stageDependsOn: pulumi.Resource[],
): WebsocketStage {
    const opts = { parent };
    const integrations = {} as Record<HandlerName, aws.apigatewayv2.Integration>;
    for (const handler of ["connect", "disconnect", "default"] as const) {
        integrations[handler] = new aws.apigatewayv2.Integration(`${prefix}-ws-${handler}`, {
            apiId: api.id,
            integrationType: "AWS_PROXY",
            integrationMethod: "POST",
            integrationUri: functions[handler].fn.invokeArn,
            contentHandlingStrategy: "CONVERT_TO_TEXT",
        }, opts);
        new aws.lambda.Permission(`${prefix}-ws-${handler}-invoke`, {
            action: "lambda:InvokeFunction",
            function: functions[handler].fn.name,
            principal: "apigateway.amazonaws.com",
            sourceArn: pulumi.interpolate`${api.executionArn}/${settings.stageName}/*`,
        }, opts);
    }

    const routes: Record<string, aws.apigatewayv2.Route> = {};
    const routeParts: pulumi.Resource[] = [];
    for (const [routeKey, handler] of ROUTES) {
        const slug = routeKey.replace("$", "");
        const route = new aws.apigatewayv2.Route(`${prefix}-ws-route-${slug}`, {
            apiId: api.id,
            routeKey,
            // $connect checks the API key itself (query string or header) and answers 401.
            authorizationType: "NONE",
            target: pulumi.interpolate`integrations/${integrations[handler].id}`,
            ...(isTwoWay(routeKey) ? { routeResponseSelectionExpression: "$default" } : {}),
        }, opts);
        routes[routeKey] = route;
        routeParts.push(route);
        if (isTwoWay(routeKey)) {
            routeParts.push(new aws.apigatewayv2.RouteResponse(`${prefix}-ws-route-${slug}-response`, {
                apiId: api.id,
                routeId: route.id,
                routeResponseKey: "$default",
            }, opts));
        }
    }

    const spec = PING_SPEC;
    const ping = pingRoute(prefix, api, spec, parent);
    routes[spec.routeKey] = ping.route;
    routeParts.push(ping.route, ping.routeResponse, ping.integrationResponse);

    // A WebSocket stage is not redeployed by itself: a new deployment whenever a route, an integration or a template changes.
    const parts: pulumi.Output<unknown>[] = [
        ...Object.values(routes).map((r) => pulumi.all([r.routeKey, r.target, r.routeResponseSelectionExpression])),
        ...Object.values(integrations).map((i) => i.integrationUri),
        pulumi.all([ping.integration.requestTemplates, ping.integrationResponse.responseTemplates]),
    ];
    const fingerprint = pulumi
        .all(parts)
        .apply((parts) => crypto.createHash("sha256").update(JSON.stringify(parts)).digest("hex"));
    const deployment = new aws.apigatewayv2.Deployment(`${prefix}-ws-deployment`, {
        apiId: api.id,
        description: "Semantest Connect WebSocket routes",
        triggers: { routes: fingerprint },
    }, { parent, dependsOn: routeParts });

    const accessLogs = new aws.cloudwatch.LogGroup(`${prefix}-ws-access-logs`, {
        name: `/aws/apigateway/${prefix}-websocket`,
        retentionInDays: settings.logRetentionDays,
    }, opts);

    const stage = new aws.apigatewayv2.Stage(`${prefix}-ws-stage`, {
        apiId: api.id,
        name: settings.stageName,
        deploymentId: deployment.id,
        defaultRouteSettings: {
            throttlingBurstLimit: settings.websocketThrottle.burstLimit,
            throttlingRateLimit: settings.websocketThrottle.rateLimit,
            loggingLevel: "ERROR",
            dataTraceEnabled: false,
            detailedMetricsEnabled: false,
        },
        accessLogSettings: {
            destinationArn: accessLogs.arn,
            format: JSON.stringify({
                requestId: "$context.requestId",
                connectionId: "$context.connectionId",
                eventType: "$context.eventType",
                routeKey: "$context.routeKey",
                status: "$context.status",
                integrationLatency: "$context.integrationLatency",
                error: "$context.error.message",
                requestTime: "$context.requestTimeEpoch",
                sourceIp: "$context.identity.sourceIp",
            }),
        },
    }, { parent, dependsOn: stageDependsOn });

    return { stage, routes, accessLogs };
}
