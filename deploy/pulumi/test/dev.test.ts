// The dev stack file under mocks: anonymous clients, no keys needed, small limits, its own domains.
import { test } from "node:test";
import { loadProgram } from "./harness";
import { checkStack } from "./stack-checks";

test("Pulumi.dev.yaml deploys the development service without API keys", async () => {
    const r = await loadProgram("dev", { "semantest:apiKeySha256": null });
    checkStack(r, {
        environment: "development",
        domainName: "api.dev.extension.semantest.com",
        httpDomainName: "http.dev.extension.semantest.com",
        allowAnonymous: true,
        apiKeySha256: "",
        logRetentionDays: 7,
        websocketThrottle: [50, 20],
        reservedConcurrency: { connect: 2, disconnect: 2, default: 5, http: 2 },
        deletionProtection: false,
    });
});
