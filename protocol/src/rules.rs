//! The routing rules both servers follow, written once: event names, the subscription cap (refused whole), which events need an extension and who may take them.

use std::collections::BTreeSet;

use crate::{shorten, valid_event_name, ErrorCode, Role, ServerFrame, EXTENSION_EVENTS};

/// How long a server keeps the route of replies to a published event, in seconds: a reply
/// after that is refused (the public service's publisher items expire; the local hub forgets
/// the oldest of its last 4096 events, a bound of count rather than time). Long work such as
/// an image generation must answer within it.
pub const REPLY_WINDOW_SECS: u64 = 600;

/// How many event names one connection may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 64;

/// The `bad_payload` answer naming the first invalid event name among `names`, if any.
pub fn refuse_names<'a>(
    frame_id: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Option<ServerFrame> {
    let name = names.into_iter().find(|n| !valid_event_name(n))?;
    Some(ServerFrame::error(
        Some(frame_id.to_owned()),
        ErrorCode::BadPayload,
        format!(
            "invalid event name '{}': use 1-64 letters, digits or ._:-",
            shorten(name, 64)
        ),
    ))
}

/// A connection's subscriptions after `subscribe` (`on`) or `unsubscribe` of `names`, or the
/// error refusing the whole frame: an invalid name, or more than [`MAX_SUBSCRIPTIONS`] after
/// it. A refused frame changes nothing.
pub fn subscriptions_after(
    frame_id: &str,
    current: &BTreeSet<String>,
    names: &[String],
    on: bool,
) -> Result<BTreeSet<String>, Box<ServerFrame>> {
    if let Some(refused) = refuse_names(frame_id, names) {
        return Err(Box::new(refused));
    }
    let mut after = current.clone();
    for name in names {
        if on {
            after.insert(name.clone());
        } else {
            after.remove(name);
        }
    }
    if after.len() > MAX_SUBSCRIPTIONS {
        return Err(Box::new(ServerFrame::error(
            Some(frame_id.to_owned()),
            ErrorCode::BadPayload,
            format!(
                "at most {MAX_SUBSCRIPTIONS} subscriptions per connection; this one would have {} (nothing changed)",
                after.len()
            ),
        )));
    }
    Ok(after)
}

/// The bucket a client address counts in for the per-address limits (rate limits,
/// registrations, pairing attempts, connection caps): IPv4 addresses alone, IPv6 addresses by
/// their /64 (one subscriber's usual allocation), so a client cannot multiply its limits by
/// walking through its own prefix.
pub fn address_bucket(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Whether `event` needs an extension to act on it (see [`EXTENSION_EVENTS`]).
pub fn needs_extension(event: &str) -> bool {
    EXTENSION_EVENTS.contains(&event)
}

/// Whether a subscriber whose `hello` said `role` counts as the extension an event that
/// [`needs_extension`] waits for: only an extension does, so a tool that subscribes to
/// `imageDownloadRequested` (to watch) does not make a request look taken.
pub fn takes_extension_events(role: Option<Role>) -> bool {
    role == Some(Role::Extension)
}

/// The `no_extension` answer to a publish of `event` that no extension takes.
pub fn no_extension(frame_id: &str, event: &str) -> ServerFrame {
    ServerFrame::error(
        Some(frame_id.to_owned()),
        ErrorCode::NoExtension,
        format!(
            "no extension takes '{}'; is the Semantest extension open in Chrome and connected to this server?",
            shorten(event, 64)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize, prefix: &str) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn the_cap_refuses_the_whole_frame_and_changes_nothing() {
        let current: BTreeSet<String> = names(60, "a").into_iter().collect();
        let ok = subscriptions_after("s", &current, &names(4, "b"), true).unwrap();
        assert_eq!(ok.len(), 64);
        let refused = subscriptions_after("s", &current, &names(5, "b"), true).unwrap_err();
        assert!(
            refused.to_json().contains("at most 64 subscriptions"),
            "{}",
            refused.to_json()
        );
        assert!(refused.to_json().contains("would have 65"));
        // Names already there do not count twice; unsubscribing never hits the cap.
        assert!(subscriptions_after("s", &ok, &names(64, "a")[..4], true).is_ok());
        assert_eq!(
            subscriptions_after("s", &ok, &names(4, "b"), false)
                .unwrap()
                .len(),
            60
        );
    }

    #[test]
    fn an_invalid_name_refuses_the_frame() {
        let bad = vec!["ok".to_owned(), "not ok".to_owned()];
        let refused = subscriptions_after("s1", &BTreeSet::new(), &bad, true).unwrap_err();
        assert_eq!(refused.reply_to.as_deref(), Some("s1"));
        assert!(refused.to_json().contains("invalid event name 'not ok'"));
    }

    #[test]
    fn only_an_extension_takes_extension_events() {
        assert!(needs_extension("imageDownloadRequested"));
        assert!(!needs_extension("status"));
        assert!(takes_extension_events(Some(Role::Extension)));
        assert!(!takes_extension_events(Some(Role::Client)));
        assert!(!takes_extension_events(None));
    }
}
