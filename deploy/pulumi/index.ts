// The Pulumi program's entry point: reads the stack's config, builds the service, exports its addresses and names.
import * as path from "path";
import { lambdaArtifact } from "./src/artifact";
import { programDir, readConfig } from "./src/config";
import { SemantestWebSocketStack } from "./src/stack";

const { settings, apiKeySha256 } = readConfig();
const service = new SemantestWebSocketStack("semantest", {
    settings,
    apiKeySha256,
    // Relative to the program's directory, where Pulumi runs it: the state then holds no machine's path.
    artifactPath: path.relative(process.cwd(), lambdaArtifact(programDir(), settings.lambdaArtifact)),
});

export const websocketUrl = service.websocketUrl;
export const apiEndpoint = service.apiEndpoint;
export const websocketInvokeUrl = service.websocketInvokeUrl;
export const httpInvokeUrl = service.httpInvokeUrl;
export const managementEndpoint = service.managementEndpoint;
export const tableName = service.tableName;
export const bucketName = service.bucketName;
export const dashboardName = service.dashboardName;
export const alarmTopicArn = service.alarmTopicArn;
