// generate.js — the ChatGPT tab's part of image generation (a content script, after chatgpt.js).
//
// The worker (through the core's queue) gives this tab one request at a time:
//   {requestId, prompt, newChat, timeoutSecs}
// and this script types the prompt into ChatGPT's composer through the editor's own input
// handling (a selection and execCommand("insertText"), which fires the beforeinput/input events
// ProseMirror and React listen to: ChatGPT sees a real edit), sends it, and waits until the
// answer has a new generated image (one that was not on the page before) that has loaded, or
// has finished without one (a limit message, or text only). It
// reports its stages ("typing", "sent", "generating") and resolves with the image's URL, or
// rejects with a Failure naming why: loggedOut, noComposer, typingRefused, noSendButton,
// usageLimit, textOnly (the answer's text), timeout, navigated. The reasons' words for people
// are the core's (src/generation.rs). Every selector is chatgpt.js's.
(() => {
    const page = globalThis.semantestChatGpt;
    const POLL_MS = 100;
    /** How long the composer and the send button may take to appear. */
    const FIND_MS = 5000;
    /** A finished answer with no image is taken as text-only after this long without change. */
    const SETTLE_MS = 1500;

    class Failure extends Error {
        constructor(failure, message = failure) {
            super(message);
            this.failure = failure;
        }
    }

    const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

    /** Polls `find` until it returns something, or `ms` pass (then null). */
    async function poll(find, ms) {
        const until = performance.now() + ms;
        for (;;) {
            const found = find();
            if (found) return found;
            if (performance.now() >= until) return null;
            await sleep(POLL_MS);
        }
    }

    /** Replaces the composer's content with `text`, as a user's edit. */
    function type(composer, text) {
        composer.focus();
        const selection = getSelection();
        const range = document.createRange();
        range.selectNodeContents(composer);
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("insertText", false, text);
    }

    const squash = (s) => s.replace(/\s+/g, " ").trim();

    async function generate(request, onStage) {
        const deadline = performance.now() + request.timeoutSecs * 1000;
        if (page.loggedOut()) throw new Failure("loggedOut");
        if (request.newChat) {
            const link = page.newChatLink();
            if (link) {
                link.click();
                await poll(() => page.composer() && page.userMessages().length === 0, FIND_MS);
            }
        }
        const composer = await poll(page.composer, FIND_MS);
        if (!composer) throw new Failure("noComposer");
        // What was there before: only a new answer and a new image count.
        const imagesBefore = new Set(page.generatedImages().map((i) => i.currentSrc || i.src));
        const answersBefore = page.assistantMessages().length;
        const asksBefore = page.userMessages().length;

        onStage("typing");
        type(composer, request.prompt);
        if (squash(page.composerText(composer)) !== squash(request.prompt)) {
            throw new Failure("typingRefused", "the composer did not take the prompt");
        }
        const send = await poll(() => {
            const b = page.sendButton();
            return b && !b.disabled ? b : null;
        }, FIND_MS);
        if (!send) throw new Failure("noSendButton");
        send.click();
        onStage("sent");

        // Our question in the thread: when it leaves the document, so did the conversation.
        // (ChatGPT may re-render the thread when a new chat gets its URL: the same question
        // found again, by its text, is the same conversation.)
        let asked = await poll(() => page.userMessages()[asksBefore] ?? null, FIND_MS);
        const ours = () => page.userMessages().findLast((m) => squash(m.innerText ?? m.textContent ?? "") === squash(request.prompt));
        let generating = false;
        let quietSince = null;
        let lastText = null;
        while (performance.now() < deadline) {
            if (asked && !asked.isConnected) {
                asked = ours();
                if (!asked) throw new Failure("navigated");
            }
            const answer = page.assistantMessages()[answersBefore] ?? null;
            const turn = answer ? page.turnOf(answer) : null;
            if ((answer || page.stopButton()) && !generating) {
                generating = true;
                onStage("generating");
            }
            const fresh = page.generatedImages().find((i) => !imagesBefore.has(i.currentSrc || i.src));
            if (fresh?.complete && fresh.naturalWidth > 0) return fresh.currentSrc || fresh.src;
            if (turn) {
                // Finished, no image, no placeholder, and so for a moment: a limit message or
                // a text-only answer (its words, not the page's "ChatGPT said:" around them).
                const text = squash(answer.innerText ?? answer.textContent ?? "");
                const done = !page.stopButton() && !fresh && !page.creatingImage(turn);
                if (done && text === lastText) {
                    quietSince ??= performance.now();
                    if (performance.now() - quietSince >= SETTLE_MS) {
                        const limit = page.usageLimit(answer) ?? page.usageLimit(turn);
                        if (limit) throw new Failure("usageLimit", squash(limit));
                        throw new Failure("textOnly", text);
                    }
                } else {
                    quietSince = null;
                }
                lastText = text;
            } else if (!page.stopButton()) {
                const limit = page.usageLimit(null);
                if (limit) throw new Failure("usageLimit", squash(limit));
            }
            await sleep(POLL_MS);
        }
        // Out of time: stop ChatGPT, so the next request finds the composer free.
        page.stopButton()?.click();
        throw new Failure("timeout");
    }

    /** Runs `request` and answers on `port`; one at a time (the worker's queue sees to it). */
    globalThis.semantestGenerate = (port, request) => {
        const stage = (name) => port.postMessage({ type: "generationStage", requestId: request.requestId, stage: name });
        generate(request, stage).then(
            (src) => port.postMessage({ type: "generated", requestId: request.requestId, ok: true, src }),
            (e) => port.postMessage({
                type: "generated",
                requestId: request.requestId,
                ok: false,
                failure: e instanceof Failure ? e.failure : "tab",
                message: e instanceof Error ? e.message : String(e),
            }),
        );
    };
})();
