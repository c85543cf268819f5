// The staging stack file under mocks: API keys required, staging's domains and limits.
import { test } from "node:test";
import { TEST_KEY_DIGEST, loadProgram } from "./harness";
import { checkStack } from "./stack-checks";

test("Pulumi.staging.yaml deploys the staging service with API keys", async () => {
    const r = await loadProgram("staging");
    checkStack(r, {
        environment: "staging",
        domainName: "api.staging.extension.semantest.com",
        httpDomainName: "http.staging.extension.semantest.com",
        apiKeySha256: TEST_KEY_DIGEST,
        logRetentionDays: 14,
        websocketThrottle: [50, 20],
        reservedConcurrency: { connect: 5, disconnect: 5, default: 10, http: 2 },
        deletionProtection: false,
    });
});
