//! The TypeScript of the JavaScript API, in the package's `semantest_connect.d.ts`.
//!
//! Every shape comes from a Rust type: `#[derive(Tsify)]` on the serde types writes their
//! declarations (options: [`Overrides`](crate::Overrides), [`Settings`](crate::Settings);
//! [`Status`](crate::Status); the frames of `semantest_protocol::server`; the codes
//! [`FailureCode`](crate::FailureCode) and `ErrorCode`; `ConnectionReport` in `check`), and the
//! `SemantestClient` methods name them with `unchecked_param_type` / `unchecked_return_type`.
//! This file only joins them where the API adds something no serde type has: the access key
//! (never serialized, so Tsify leaves it out), `resume`, the frame around a `ServerMessage`
//! (written by hand, not by serde), a request's options, the error a promise rejects with, and
//! the image answer's shapes (built as JSON in [`crate::image`]).
//! Declarations only: none of this is code in the `.wasm`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const API_TYPES: &'static str = r#"
/**
 * The settings a caller may set (`updateSettings`, `setSettings`, `testConnection`): any of
 * {@link Overrides}, and the access key.
 */
export type SettingsOptions = Overrides & {
    /**
     * The API key for a server that asks for one (the public service in production): 16–256
     * letters, digits and `-._~`. Sent to the remote server only, over `wss://` (or `ws://` to
     * this machine); never shown in `settings()`.
     */
    token?: string | null;
};

/** The options of `new SemantestClient(options)`: the settings, and where to resume. */
export type ClientOptions = SettingsOptions & {
    /**
     * What an earlier instance's status said (`{failures, nextRetryAt}`): continues its retry
     * schedule instead of starting a fresh one, for a restarted service worker.
     */
    resume?: Resume | null;
};

/**
 * A frame the server sent, as `request()` resolves with it: `{type, replyTo?, payload}`, with
 * the payload's type following `type` (`frame.type === "pong"` makes `frame.payload` a
 * {@link Pong}).
 */
export type ServerFrame = ServerMessage & {
    /** The `id` of the client frame this answers. */
    replyTo?: string;
};

/** A token the server issued to this client (see `onCredentials`). */
export interface Credentials {
    /** The token: keep it where no page can read it; never log it. */
    token: string;
    /** The install this client is (an extension), or is paired to (a device). */
    installId: string;
    /** A paired device's id; `null` for an install. */
    deviceId: string | null;
}

/** The options of `request()`. */
export interface RequestOptions {
    /** Reject with `timeout` after this many ms (default: the settings' `requestTimeoutMs`). */
    timeoutMs?: number;
}

/** What `answerImageRequest` asks the page for: the image `url`, or the newest (`null`). */
export interface ImageTake {
    /** The event's id (the request's). */
    requestId: string;
    /** The image the requester named, if it named one. */
    url: string | null;
}

/** How `answerImageRequest` answered the requester (also what the extension records). */
export type ImageOutcome = {
    /** The event id of the request. */
    requestId: string;
    /** Why the reply did not reach the requester's server (e.g. `gone`: it disconnected). */
    replyError?: string;
} & (
    | {
          event: "imageDownloaded";
          /** Bytes, and their SHA-256 in lowercase hex. */
          size: number;
          sha256: string;
          /** The image's id on the server. */
          imageId: string | null;
          /** Local server: where it stored the file. */
          path?: string;
          /** Public service: the presigned URL the requester downloads it from. */
          url?: string;
      }
    | {
          event: "imageDownloadFailed";
          /** What went wrong, for people. */
          reason: string;
      }
);

/** What `driveTab` is given: the request a ChatGPT tab runs. */
export interface GenerationTask {
    /** The request's event id. */
    requestId: string;
    /** What to type into ChatGPT. */
    prompt: string;
    /** Start a new chat first. */
    newChat: boolean;
    /** How long ChatGPT may take from the first keystroke, in seconds. */
    timeoutSecs: number;
}
/** The extension's generations, for its popup (`onGenerations`). */
export interface Generations {
    running: { requestId: string; prompt: string; tab: number; stage: GenerationStage; elapsedMs: number }[];
    queued: { requestId: string; prompt: string; position: number; elapsedMs: number }[];
}
/** Where a generation stands. */
export type GenerationStage = "queued" | "typing" | "sent" | "generating" | "downloading" | "saved";
/** An `imageGenerationProgress` event's data. */
export interface GenerationProgress {
    requestId: string;
    stage: GenerationStage;
    /** For `queued`: the place in line (1 = next). */
    position?: number;
    /** Since the extension took the request. */
    elapsedMs: number;
}
/** The options of `generateImage()`. */
export interface GenerateOptions {
    /** The name the image is stored under (a plain file name). */
    filename?: string;
    /** Start a new ChatGPT chat first. */
    newChat?: boolean;
    /** How long ChatGPT may take once its tab starts (1–600 s, default 300). */
    timeoutSecs?: number;
    /** Called with each progress event. */
    onProgress?: (progress: GenerationProgress) => void;
}
/** What `generateImage()` resolves with: the `imageDownloaded` data. */
export interface GeneratedImage {
    requestId: string;
    /** The prompt it was generated for. */
    prompt: string;
    size: number;
    sha256: string;
    imageId: string | null;
    /** Local server: where it stored the file. */
    path?: string;
    /** Public service: the presigned URL to download it from. */
    url?: string;
}
/**
 * Why a promise of the client rejected: {@link FailureCode} (no server answered the frame),
 * {@link ErrorCode} (the server's `error` frame), or `offline` (`connect()` found no server).
 */
export type SemantestErrorCode = FailureCode | ErrorCode | "offline" | "generation_failed";

/** The `Error` that `connect()` and `request()` reject with. */
export interface SemantestError extends Error {
    /** Machine-readable; `message` is for people. */
    code: SemantestErrorCode;
    /** `offline`: the offline status, with each server's reason. */
    status?: Status;
    /** A server's error code: the whole `error` frame. */
    frame?: Extract<ServerFrame, { type: "error" }>;
}
"#;
