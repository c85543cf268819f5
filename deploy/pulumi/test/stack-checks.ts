// Checks shared by the per-stack test files: the stack file's values reach the resources.
import assert from "node:assert/strict";
import { Loaded } from "./harness";

export interface StackExpectations {
    environment: string;
    domainName: string;
    httpDomainName: string;
    apiKeySha256: string;
    logRetentionDays: number;
    websocketThrottle: [number, number];
    reservedConcurrency: Record<string, number>;
    deletionProtection: boolean;
}

export function checkStack(r: Loaded, e: StackExpectations): void {
    assert.equal(r.outputs.websocketUrl, `wss://${e.domainName}`);
    assert.equal(r.outputs.apiEndpoint, `https://${e.httpDomainName}`);
    const fns = r.ofType("aws:lambda/function:Function");
    assert.equal(fns.length, 4);
    for (const f of fns) {
        const v = f.inputs.environment.variables;
        assert.equal(v.SEMANTEST_ENVIRONMENT, e.environment);
        assert.equal(v.SEMANTEST_ALLOW_ANONYMOUS, undefined, "no open stacks");
        if (v.SEMANTEST_HANDLER === "connect" || v.SEMANTEST_HANDLER === "default") assert.equal(v.SEMANTEST_API_KEY_SHA256, e.apiKeySha256);
        assert.equal(f.inputs.reservedConcurrentExecutions, e.reservedConcurrency[v.SEMANTEST_HANDLER], v.SEMANTEST_HANDLER);
        assert.ok(f.inputs.name.startsWith(`semantest-${e.environment === "development" ? "dev" : e.environment}-`), f.inputs.name);
    }
    for (const g of r.ofType("aws:cloudwatch/logGroup:LogGroup")) assert.equal(g.inputs.retentionInDays, e.logRetentionDays, g.name);
    const ws = r.ofType("aws:apigatewayv2/stage:Stage").find((s) => s.inputs.name === "v1")!;
    assert.deepEqual([ws.inputs.defaultRouteSettings.throttlingBurstLimit, ws.inputs.defaultRouteSettings.throttlingRateLimit], e.websocketThrottle);
    assert.deepEqual(r.ofType("aws:apigatewayv2/domainName:DomainName").map((d) => d.inputs.domainName).sort(), [e.domainName, e.httpDomainName].sort());
    assert.equal(r.one("aws:dynamodb/table:Table", "-connections").inputs.deletionProtectionEnabled, e.deletionProtection);
    assert.equal(Number(r.one("aws:budgets/budget:Budget", "-budget").inputs.limitAmount), 50);
}
