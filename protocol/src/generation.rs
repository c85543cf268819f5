//! Image generation through the user's ChatGPT tab: the event names, the stages of its
//! progress, and the limits of a request, written once for the core, the CLI and the SDKs.
//!
//! The flow (all of it events on the publish/reply routes, so both servers carry it unchanged):
//! ```text
//! tool       → publish imageGenerationRequested {prompt, filename?, newChat?, timeoutSecs?}
//! extension  → reply   imageGenerationProgress {requestId, stage, position?, elapsedMs}   (each stage)
//! extension  → reply   imageDownloaded {requestId, prompt, size, sha256, imageId, url?|path?}
//!              or      imageGenerationFailed {requestId, reason}
//! ```
//! `requestId` is the id of the request's event (what the replies name in `to`).

/// What a tool publishes to have an image generated.
pub const REQUESTED: &str = "imageGenerationRequested";
/// What the extension replies at each stage.
pub const PROGRESS: &str = "imageGenerationProgress";
/// The extension's answer when the image was generated, uploaded and stored.
pub const DOWNLOADED: &str = "imageDownloaded";
/// The extension's answer when it was not, with the reason.
pub const FAILED: &str = "imageGenerationFailed";

/// How long ChatGPT may take to generate one image, from the moment its tab starts typing,
/// when the request says nothing (`timeoutSecs`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;
/// The most a request may ask for. The answer must still come within the servers' reply
/// window ([`crate::rules::REPLY_WINDOW_SECS`], counted from the publish): the extension gives
/// ChatGPT the smaller of this and what is left of the window after the queue, less
/// [`DOWNLOAD_MARGIN_SECS`].
pub const MAX_TIMEOUT_SECS: u64 = 600;
/// What the extension keeps of the reply window for fetching and uploading the image.
pub const DOWNLOAD_MARGIN_SECS: u64 = 60;
/// The least time worth giving ChatGPT: a request that waited so long in the queue that less
/// is left of the reply window fails instead of starting.
pub const MIN_GENERATION_SECS: u64 = 20;
/// The longest prompt taken, in characters (ChatGPT's own limit is higher; a prompt this long
/// is already a mistake more often than an image).
pub const MAX_PROMPT_CHARS: usize = 8000;
/// How long a requester (the CLI, the SDK) waits past its request's `timeoutSecs` without
/// hearing anything of it before it gives up: the extension's queue and the download take
/// time too, and a waiting request is told it still waits more often than this.
pub const REQUESTER_GRACE_SECS: u64 = 60;

/// Why a prompt is not one to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptError {
    /// Nothing but white space.
    Empty,
    /// More than [`MAX_PROMPT_CHARS`] characters.
    TooLong,
}

/// The prompt as it is sent (trimmed), or why it cannot be: the one rule the tools and the
/// extension apply (each words the refusal its own way).
pub fn check_prompt(prompt: &str) -> Result<&str, PromptError> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(PromptError::Empty);
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(PromptError::TooLong);
    }
    Ok(prompt)
}

/// How many characters of a text-only answer the failure's reason quotes.
pub const QUOTED_ANSWER_CHARS: usize = 200;

/// Where a generation stands; each is reported once per request, in this order (`queued` may
/// come again with a smaller `position` as the queue moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// Waiting for a ChatGPT tab that is free; `position` 1 is next.
    Queued,
    /// The tab is typing the prompt into ChatGPT's composer.
    Typing,
    /// The prompt was sent (the send button clicked).
    Sent,
    /// ChatGPT is answering; the image is not there yet.
    Generating,
    /// The new image is on the page; the extension fetches and uploads it.
    Downloading,
    /// The server stored it; `imageDownloaded` follows.
    Saved,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 6] = [
        Stage::Queued,
        Stage::Typing,
        Stage::Sent,
        Stage::Generating,
        Stage::Downloading,
        Stage::Saved,
    ];

    /// The stage's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Queued => "queued",
            Stage::Typing => "typing",
            Stage::Sent => "sent",
            Stage::Generating => "generating",
            Stage::Downloading => "downloading",
            Stage::Saved => "saved",
        }
    }

    /// The stage a wire name means.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_read_back_as_written_and_in_order() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.as_str()), Some(s));
        }
        assert_eq!(Stage::parse("Queued"), None);
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Stage::Generating.to_string(), "generating");
    }

    #[test]
    fn a_prompt_is_trimmed_and_bounded() {
        assert_eq!(check_prompt("  a cat \n"), Ok("a cat"));
        assert_eq!(check_prompt(" \t "), Err(PromptError::Empty));
        let longest = "é".repeat(MAX_PROMPT_CHARS);
        assert_eq!(check_prompt(&longest), Ok(longest.as_str()));
        assert_eq!(
            check_prompt(&format!("{longest}x")),
            Err(PromptError::TooLong)
        );
    }

    #[test]
    fn generation_requests_need_an_extension() {
        assert!(crate::rules::needs_extension(REQUESTED));
        assert!(!crate::rules::needs_extension(PROGRESS));
    }
}
