// Reading the stack config: overrides, the extension origin default, and refusing a stack no client could use.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { developmentExtensionOrigin, readConfig } from "../src/config";
import { stackConfig } from "./harness";

const resolve = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((done) => o.apply(done));
const KEY = { "semantest:apiKeySha256": "c".repeat(64) };

test("values from the stack file and overrides reach the settings; unset ones take the defaults", () => {
    pulumi.runtime.setAllConfig({
        ...stackConfig("production"),
        ...KEY,
        "semantest:reservedConcurrency": JSON.stringify({ default: 7 }),
        "semantest:extensionOrigins": JSON.stringify(["chrome-extension://abcdefghijklmnopabcdefghijklmnop"]),
    });
    const { settings } = readConfig();
    assert.deepEqual(settings.reservedConcurrency, { connect: 20, disconnect: 20, default: 7, http: 10 });
    assert.deepEqual(settings.extensionOrigins, ["chrome-extension://abcdefghijklmnopabcdefghijklmnop"]);
    assert.equal(settings.alarmEmail, "ops@semantest.com");
    assert.equal(settings.stageName, "v1");
    assert.equal(settings.hostedZoneName, "semantest.com");
});

test("the extension origin defaults to the development extension's id", () => {
    pulumi.runtime.setAllConfig({ ...stackConfig("staging"), ...KEY });
    assert.deepEqual(readConfig().settings.extensionOrigins, [developmentExtensionOrigin()]);
});

test("operator keys are optional (installs register themselves); an open stack is refused", () => {
    pulumi.runtime.setAllConfig(stackConfig("production"));
    assert.doesNotThrow(() => readConfig());
    pulumi.runtime.setAllConfig({ ...stackConfig("production"), "semantest:allowAnonymous": "true" });
    assert.throws(() => readConfig(), /allowAnonymous is gone/);
});

test("a bad digest is refused; good ones are kept, secret", async () => {
    pulumi.runtime.setAllConfig({ ...stackConfig("production"), "semantest:apiKeySha256": "xyz" }, ["semantest:apiKeySha256"]);
    assert.throws(() => readConfig(), /not a lowercase hex SHA-256/);
    const d = "b".repeat(64);
    pulumi.runtime.setAllConfig({ ...stackConfig("production"), "semantest:apiKeySha256": ` ${d} ,` }, ["semantest:apiKeySha256"]);
    const out = readConfig().apiKeySha256;
    assert.equal(await resolve(out), d);
    assert.equal(await pulumi.isSecret(out), true);
});

test("an invalid stack value stops the program with its key", () => {
    pulumi.runtime.setAllConfig({ ...stackConfig("production"), ...KEY, "semantest:logRetentionDays": "10" });
    assert.throws(() => readConfig(), /semantest:logRetentionDays/);
});
