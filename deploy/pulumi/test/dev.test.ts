// The dev stack file under mocks: no operator keys (installs register themselves), small limits, its own domains.
import { test } from "node:test";
import { loadProgram } from "./harness";
import { checkStack } from "./stack-checks";

test("Pulumi.dev.yaml deploys the development service without operator keys", async () => {
    const r = await loadProgram("dev", { "semantest:apiKeySha256": null });
    checkStack(r, {
        environment: "development",
        domainName: "api.dev.extension.semantest.com",
        httpDomainName: "http.dev.extension.semantest.com",
        apiKeySha256: "",
        logRetentionDays: 7,
        websocketThrottle: [50, 20],
        reservedConcurrency: { connect: 2, disconnect: 2, default: 5, http: 2 },
        deletionProtection: false,
    });
});
