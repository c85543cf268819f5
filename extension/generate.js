// generate.js — the ChatGPT tab's part of image generation (a content script, after chatgpt.js).
//
// The worker (through the core's queue) gives this tab one request at a time:
//   {requestId, prompt, newChat, timeoutSecs}
// and this script types the prompt into ChatGPT's composer through the editor's own input
// handling (a selection and execCommand("insertText"): Chromium applies it as a trusted edit and
// fires the input event ProseMirror and React read, so ChatGPT sees a real edit), sends it, and
// waits until the answer has a new generated image (after its question, not one that was on the
// page before) that ChatGPT has finished drawing, or has finished without one (a limit message,
// or text only). It reports its stages ("typing", "sent", "generating") and resolves with the
// image's URL, or rejects with a Failure naming why: loggedOut, noComposer, busy, typingRefused,
// noSendButton, notSent, usageLimit, textOnly (the answer's text), timeout, navigated. The
// reasons' words for people are the core's (src/generation/mod.rs). Every selector is chatgpt.js's.
(() => {
    const page = globalThis.semantestChatGpt;
    const POLL_MS = 100;
    /** How long the composer and the send button may take to appear. */
    const FIND_MS = 5000;
    /** How long an answer ChatGPT is still giving may take to end before a request starts. */
    const BUSY_MS = 10_000;
    /** A finished answer with no image is taken as text-only after this long without change. */
    const SETTLE_MS = 1500;

    class Failure extends Error {
        constructor(failure, message = failure) {
            super(message);
            this.failure = failure;
        }
    }

    const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
    const srcOf = (img) => img.currentSrc || img.src;
    /** Whether `node` comes after `anchor` in the document. */
    const follows = (anchor, node) => Boolean(anchor.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING);

    /**
     * The next change to the page, or `ms` at most. Watching the DOM rather than only polling
     * keeps a background tab responsive: Chrome slows chained timers in hidden tabs down to
     * once a minute, but not DOM observers.
     */
    function change(ms) {
        return new Promise((ok) => {
            const observer = new MutationObserver(() => done());
            const timer = setTimeout(() => done(), ms);
            function done() {
                observer.disconnect();
                clearTimeout(timer);
                ok();
            }
            observer.observe(document.documentElement, { childList: true, subtree: true, characterData: true, attributes: true });
        });
    }

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
        // ChatGPT still answering something else: wait a little, then say so.
        if (!(await poll(() => !page.stopButton(), BUSY_MS))) throw new Failure("busy");
        // What was there before: only a new answer, a new image and a new dialog count.
        const imagesBefore = new Set(page.generatedImages().map(srcOf));
        const answersBefore = page.assistantMessages().length;
        const asksBefore = page.userMessages().length;
        const dialogsBefore = new Set(page.dialogs());
        const draft = page.composerText(composer);

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

        // Our question in the thread. When it leaves the document, so did the conversation —
        // unless ChatGPT re-rendered the thread as the new chat got its URL: the same question
        // found again, by its text, on the same path, is the same conversation.
        let asked = await poll(() => page.userMessages()[asksBefore] ?? null, FIND_MS);
        if (!asked) throw new Failure("notSent");
        // The user's unsent draft, put back once the prompt is out (as text).
        const editor = page.composer();
        if (draft && editor && !page.composerText(editor)) type(editor, draft);
        const ours = () => page.userMessages().findLast((m) => squash(m.innerText ?? m.textContent ?? "") === squash(request.prompt));
        let path = null; // the conversation's path, once it has one
        let generating = false;
        let quietSince = null;
        let lastText = null;
        let lastImage = null;
        while (performance.now() < deadline) {
            if (location.pathname.startsWith("/c/")) path ??= location.pathname;
            if (path && location.pathname !== path) throw new Failure("navigated");
            if (!asked.isConnected) {
                asked = ours();
                if (!asked) throw new Failure("navigated");
            }
            const answer = page.assistantMessages()[answersBefore] ?? null;
            const turn = answer ? page.turnOf(answer) : null;
            const busy = Boolean(page.stopButton());
            if ((answer || busy) && !generating) {
                generating = true;
                onStage("generating");
            }
            // A new image after our question, loaded, the same on two looks, and ChatGPT done
            // drawing it (no Stop, no placeholder: it shows partial previews while it works).
            const fresh = page.generatedImages().find((i) => !imagesBefore.has(srcOf(i)) && follows(asked, i));
            const drawn = fresh?.complete && fresh.naturalWidth > 0 && !busy && !(turn && page.creatingImage(turn));
            if (drawn && srcOf(fresh) === lastImage) return srcOf(fresh);
            lastImage = drawn ? srcOf(fresh) : null;
            if (turn) {
                // Finished, no image, no placeholder, and so for a moment: a limit message or
                // a text-only answer (its words, not the page's "ChatGPT said:" around them).
                const text = squash(answer.innerText ?? answer.textContent ?? "");
                const done = !busy && !fresh && !page.creatingImage(turn);
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
            } else if (!busy) {
                const limit = page.dialogs().filter((d) => !dialogsBefore.has(d)).map(page.usageLimit).find(Boolean);
                if (limit) throw new Failure("usageLimit", squash(limit));
            }
            await change(POLL_MS);
        }
        // Out of time: stop ChatGPT, so the next request finds the composer free.
        page.stopButton()?.click();
        throw new Failure("timeout");
    }

    /** Runs `request` and answers on `port`; one at a time (the worker's queue sees to it). */
    let running = null; // the request this tab is generating, if any
    globalThis.semantestGenerate = (port, request) => {
        const post = (message) => {
            try {
                port.postMessage({ requestId: request.requestId, ...message });
            } catch {
                // the worker stopped; its next one starts afresh
            }
        };
        // One at a time, even if a worker that lost track (restarted) asks for a second.
        if (running) return post({ type: "generated", ok: false, failure: "busy", message: `busy with ${running}` });
        running = request.requestId;
        generate(request, (stage) => post({ type: "generationStage", stage })).then(
            (src) => post({ type: "generated", ok: true, src }),
            (e) => post({
                type: "generated",
                ok: false,
                failure: e instanceof Failure ? e.failure : "tab",
                message: e instanceof Error ? e.message : String(e),
            }),
        ).finally(() => {
            running = null;
        });
    };
})();
