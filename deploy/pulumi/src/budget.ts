// The monthly cost budget ($50 by default) that mails the operator at 80 % spent and at 100 % forecast.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Settings } from "./settings";

// A budget covers the whole AWS account: one account per environment keeps each stack's budget its own.
export function budget(prefix: string, s: Settings, parent: pulumi.Resource): aws.budgets.Budget {
    const notify = (notificationType: "ACTUAL" | "FORECASTED", threshold: number) => ({
        comparisonOperator: "GREATER_THAN",
        notificationType,
        threshold,
        thresholdType: "PERCENTAGE",
        subscriberEmailAddresses: [s.budgetEmail],
    });
    return new aws.budgets.Budget(`${prefix}-budget`, {
        name: `${prefix}-monthly`,
        budgetType: "COST",
        limitAmount: s.budgetLimitUsd.toFixed(2),
        limitUnit: "USD",
        timeUnit: "MONTHLY",
        notifications: [notify("ACTUAL", 80), notify("ACTUAL", 100), notify("FORECASTED", 100)],
    }, { parent });
}
