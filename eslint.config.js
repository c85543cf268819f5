// eslint.config.js — lint rules for the project's JavaScript (`./build.sh test` runs
// `eslint extension scripts`). The extension runs in three kinds of context: pages (popup,
// options), a content script, and a module service worker, hence all three sets of globals.
import js from "@eslint/js";
import globals from "globals";

export default [
    {
        ignores: [
            "dist/", "pkg/", "target/", ".build/", "node_modules/", "extension/pkg/", "www/pkg/",
            "deploy/pulumi/.build/", "deploy/pulumi/node_modules/", "deploy/lambda/dist/",
        ],
    },
    js.configs.recommended,
    {
        files: ["extension/**/*.js"],
        languageOptions: {
            ecmaVersion: 2023,
            sourceType: "module",
            globals: { ...globals.browser, ...globals.webextensions, ...globals.serviceworker },
        },
        rules: {
            "no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
            "no-var": "error",
            "prefer-const": "error",
            eqeqeq: ["error", "always"],
        },
    },
    // A content script is a classic script, not a module.
    { files: ["extension/content.js", "extension/chatgpt.js", "extension/generate.js"], languageOptions: { sourceType: "script" } },
    {
        files: [
            "scripts/**/*.{js,mjs}", "bench/**/*.{js,mjs}", "tests/**/*.{js,mjs}", "deploy/**/*.{js,mjs}",
            "*.config.js",
        ],
        languageOptions: { ecmaVersion: 2023, sourceType: "module", globals: globals.node },
    },
];
