// The WebSocket `ping` route answered by API Gateway itself: a MOCK integration with the templates of deploy/ping-route.json.
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { programDir } from "./config";

/** deploy/ping-route.json: the route key and the templates, shared with the local stand-in (deploy/local/gateway.mjs). */
export interface PingRouteSpec {
    routeKey: string;
    routeResponseKey: string;
    integration: {
        integrationType: "MOCK";
        passthroughBehavior: string;
        templateSelectionExpression: string;
        requestTemplates: Record<string, string>;
    };
    integrationResponse: {
        integrationResponseKey: string;
        templateSelectionExpression: string;
        responseTemplates: Record<string, string>;
    };
}

/** Reads deploy/ping-route.json (next to this program's directory). */
export function pingRouteSpec(): PingRouteSpec {
    const file = path.join(programDir(), "..", "ping-route.json");
    const spec = JSON.parse(fs.readFileSync(file, "utf8")) as PingRouteSpec;
    if (spec.integration.integrationType !== "MOCK") throw new Error(`${file}: the ping route must be a MOCK integration`);
    return spec;
}

export interface PingRoute {
    route: aws.apigatewayv2.Route;
    integration: aws.apigatewayv2.Integration;
    integrationResponse: aws.apigatewayv2.IntegrationResponse;
    routeResponse: aws.apigatewayv2.RouteResponse;
}

/**
 * The keepalive costs no Lambda invocation and no DynamoDB read: API Gateway renders the pong
 * (the ping's id as `replyTo`, its `t`, the request time as `serverTime`) from the templates.
 * Two-way, like every message route: the integration response goes back as the route response.
 */
export function pingRoute(prefix: string, api: aws.apigatewayv2.Api, spec: PingRouteSpec, parent: pulumi.Resource): PingRoute {
    const opts = { parent };
    const integration = new aws.apigatewayv2.Integration(`${prefix}-ws-ping-mock`, {
        apiId: api.id,
        description: "ping → pong, answered by API Gateway (no Lambda)",
        ...spec.integration,
    }, opts);
    const integrationResponse = new aws.apigatewayv2.IntegrationResponse(`${prefix}-ws-ping-mock-response`, {
        apiId: api.id,
        integrationId: integration.id,
        ...spec.integrationResponse,
    }, opts);
    const route = new aws.apigatewayv2.Route(`${prefix}-ws-route-${spec.routeKey}`, {
        apiId: api.id,
        routeKey: spec.routeKey,
        authorizationType: "NONE",
        target: pulumi.interpolate`integrations/${integration.id}`,
        routeResponseSelectionExpression: spec.routeResponseKey,
    }, opts);
    const routeResponse = new aws.apigatewayv2.RouteResponse(`${prefix}-ws-route-${spec.routeKey}-response`, {
        apiId: api.id,
        routeId: route.id,
        routeResponseKey: spec.routeResponseKey,
    }, opts);
    return { route, integration, integrationResponse, routeResponse };
}
