// chatgpt.js — everything the extension knows about chatgpt.com's page, in one place.
//
// A content script (loaded before generate.js and content.js, in the same isolated world): it
// only names and finds things; generate.js decides what to do with them. chatgpt.com changes
// its page without notice, so every selector and text pattern below is defined once, with a
// fallback list where the page has moved before, and with where it was learned: public
// extensions and userscripts that drive ChatGPT today (read in December 2026). When ChatGPT
// changes its page, this is the file to fix; tests/e2e/chatgpt/index.html (the end-to-end
// stand-in) mirrors exactly these.
//
// Sources (repository, file):
//   [chatgptjs]  KudoAI/chatgpt.js, src/chatgpt.js — selectors `send: 'button[data-testid=send-button]'`,
//                `stop: 'button[data-testid=stop-button]'`, `reply: '… div[data-message-author-role=assistant]'`,
//                `login: 'button[data-testid*=login]'`, `signup: 'button[data-testid=signup-button]'`,
//                `links: { newChat: 'nav a[href="/"]' }`
//   [branchat]   BranchatBH/Branchat, package/src/utils/helper.ts — `"#prompt-textarea.ProseMirror[contenteditable='true']"`,
//                `".ProseMirror[contenteditable='true']"`, `"… button#composer-submit-button"`
//   [batcher]    matthewmiglio/chatgpt-image-batcher, src/chatgpt.py — `COMPOSER = '#prompt-textarea[contenteditable="true"]'`,
//                `img[alt^="Generated image:"]`, `LOADING_SELECTOR = '[data-testid="image-gen-loading-state-dots"]'`,
//                `"hit the team plan limit" in text or "hit the limit for image generation" in text`
//   [imagegen]   leeguooooo/chatgpt-imagegen, chatgpt-imagegen — `WEB_IMG_SRC_RE = r"estuary/content|files/download|oaiusercontent"`,
//                "the generated <img> is NOT inside the [data-message-author-role="assistant"] element",
//                `'button[data-testid="stop-button"], button[aria-label*="Stop" i]'`,
//                `limited: /too many requests|requests too quickly/i`; and why typing must be a real edit:
//                "The composer is a ProseMirror/React contenteditable. `fill` mutates the DOM without firing
//                the input events React listens for, so the send button stays bound to empty state"
//   [exporter]   pionxzh/chatgpt-exporter, src/main.tsx — `'main [data-testid^="conversation-turn-"] [data-message-id]'`
//   [mcp]        cbusillo/chatgpt-automation-mcp, src/chatgpt_automation_mcp/browser_controller.py —
//                `'[data-testid="create-new-chat-button"]'`, `'button[aria-label="Send prompt"]'`, `'button:has-text("Log in")'`
//   [translator] DandinPower/chatgpt-web-zh-translator, contentScript.js — `editor.focus()`, a selection over the
//                editor, then `document.execCommand('insertText', false, textToInsert)`
//   [guide]      rawe/agentic-coding-guide, .claude/skills/chatgpt-image/references/browser-workflow.md —
//                "The image is ready when the placeholder is replaced by the actual image with an "Image created" label."
(() => {
    const first = (selectors, root = document) => {
        for (const s of selectors) {
            const found = root.querySelector(s);
            if (found) return found;
        }
        return null;
    };
    const all = (selector, root = document) => [...root.querySelectorAll(selector)];
    const visible = (e) => e instanceof HTMLElement && e.isConnected && e.getClientRects().length > 0;

    const SELECTORS = {
        // The composer: a ProseMirror rich-text editor (a contenteditable <div>), no longer a
        // <textarea> (the page keeps a hidden textarea of the same name). [branchat] [batcher]
        composer: ['div#prompt-textarea[contenteditable="true"]', '.ProseMirror[contenteditable="true"]'],
        // Send, while the composer holds text; replaced by Stop while ChatGPT answers (the same
        // slot may carry data-testid="stop-button", so Stop is checked first). [chatgptjs] [branchat] [mcp]
        send: ['button[data-testid="send-button"]', "button#composer-submit-button", 'button[aria-label="Send prompt"]'],
        stop: ['button[data-testid="stop-button"]', 'button[aria-label*="Stop" i]'],
        // Turns: the wrapper is a <section> now (it was an <article>), so no tag. [exporter] [chatgptjs]
        turn: '[data-testid^="conversation-turn-"]',
        assistant: '[data-message-author-role="assistant"]',
        user: '[data-message-author-role="user"]',
        // Generated images: alt "Generated image" or "Generated image: <caption>" (localised
        // elsewhere), served from estuary/content, files/download or oaiusercontent; the <img>
        // sits beside the assistant message, not in it, so it is searched in <main>. [batcher] [imagegen]
        generatedImage: 'main img[alt^="Generated image"]',
        imageSrc: /estuary\/content|files\/download|oaiusercontent/,
        // The placeholder while an image is being made. [batcher] [guide]
        imageLoading: '[data-testid="image-gen-loading-state-dots"]',
        // Logged out: ChatGPT shows Log in / Sign up buttons. [chatgptjs] [mcp]
        loggedOut: ['button[data-testid*="login"]', 'button[data-testid="signup-button"]'],
        // New chat. [mcp] [chatgptjs]
        newChat: ['a[data-testid="create-new-chat-button"]', 'nav a[href="/"]'],
        dialog: '[role="dialog"]',
    };

    const TEXT = {
        // The image is still being made ("Creating image", then "Image created"). [guide]
        creatingImage: /creating image/i,
        // ChatGPT's limits, in the answer or a dialog: "You've hit the Free plan limit for image
        // generations requests. You can create more images when the limit resets in …",
        // "You've reached our limit of messages per hour", "Too many requests". [batcher] [imagegen]
        usageLimit: /hit the (?:\w+ )?plan limit|limit for image generation|limit resets|you've reached our limit|too many requests|requests too quickly/i,
    };

    /** The page, as generate.js needs it. Every function returns null/[] when the thing is absent. */
    globalThis.semantestChatGpt = {
        SELECTORS,
        TEXT,
        composer: () => first(SELECTORS.composer),
        /** Stop first: while ChatGPT answers, the send slot may be the stop button. */
        stopButton: () => first(SELECTORS.stop),
        sendButton: () => (first(SELECTORS.stop) ? null : first(SELECTORS.send)),
        loggedOut: () => SELECTORS.loggedOut.some((s) => all(s).some(visible)),
        newChatLink: () => first(SELECTORS.newChat),
        assistantMessages: () => all(SELECTORS.assistant),
        userMessages: () => all(SELECTORS.user),
        /** The turn (section/article) holding a message, or the message itself. */
        turnOf: (message) => message.closest(SELECTORS.turn) ?? message,
        /** Every generated image in the conversation. */
        generatedImages: () => all(SELECTORS.generatedImage).filter((i) => SELECTORS.imageSrc.test(i.currentSrc || i.src)),
        /** The newest loaded image in the conversation, generated ones first (`--latest`). */
        newestImage: () => {
            const images = all("main img").filter((i) => i.complete && i.naturalWidth > 0);
            const generated = images.filter((i) => /generated/i.test(i.alt));
            return (generated.length ? generated : images).at(-1) ?? null;
        },
        /** Whether `root` (a turn) still shows the image placeholder. */
        creatingImage: (root) => Boolean(root.querySelector(SELECTORS.imageLoading)) || TEXT.creatingImage.test(root.textContent ?? ""),
        /** The dialogs open on the page. */
        dialogs: () => all(SELECTORS.dialog),
        /** ChatGPT's limit message in `root` (a message, a turn or a dialog), or null. */
        usageLimit: (root) => {
            const text = root?.textContent?.trim();
            return text && TEXT.usageLimit.test(text) ? text : null;
        },
        /** The text in the composer, as the editor holds it. */
        composerText: (composer) => (composer.innerText ?? composer.textContent ?? "").trim(),
    };
})();
