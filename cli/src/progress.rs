//! How `request-image` shows the extension's progress: a live line on a terminal, one plain
//! line per stage otherwise, or JSON lines for scripts; the formatting is pure and tested here.
//!
//! Three ways, chosen once ([`Progress::new`]):
//! - **Live** (stderr is a terminal, no `--json`): one line redrawn in place by indicatif, a
//!   spinner, the stage (with `position N` while queued) and the time since the request went
//!   out, e.g. `⠙ generating · 14s`. It is cleared before the command prints its result.
//! - **Lines** (stderr is not a terminal): `semantest: <stage> after <s.d> s` on stderr, with
//!   ` (position N)` while queued, for each stage; the seconds are the extension's `elapsedMs`.
//!   The same stage and position again prints nothing.
//! - **Json** (`--json`): every event about the request as one line on stdout,
//!   `{"event": <name>, ...its data}` (see [`json_line`]); nothing on stderr.
//!
//! A stage this CLI does not know (from a newer extension) is not shown; in JSON it is printed
//! like any other event.

use std::borrow::Cow;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use semantest_protocol::generation::Stage;
use serde_json::Value;

/// One `imageGenerationProgress`, as read from its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Update {
    /// Where the generation stands.
    pub stage: Stage,
    /// The place in the extension's queue (1 is next), while `queued`.
    pub position: Option<u64>,
    /// Milliseconds since the extension took the request, on the extension's clock.
    pub elapsed_ms: u64,
}

impl Update {
    /// The update in an `imageGenerationProgress` event's `data`; `None` when its `stage` is
    /// missing or unknown. A missing `elapsedMs` reads as 0.
    pub fn from_data(data: &Value) -> Option<Update> {
        let stage = Stage::parse(data["stage"].as_str()?)?;
        Some(Update {
            stage,
            position: data["position"].as_u64(),
            elapsed_ms: data["elapsedMs"].as_u64().unwrap_or(0),
        })
    }
}

/// `ms` as seconds with one decimal, rounded half up: 1449 → `1.4`, 1450 → `1.5`.
pub fn seconds(ms: u64) -> String {
    let tenths = ms.saturating_add(50) / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

/// The plain line for `update`: `semantest: generating after 1.4 s`, or
/// `semantest: queued after 0.0 s (position 2)`. The position is shown only while queued.
pub fn plain_line(update: &Update) -> String {
    let mut line = format!(
        "semantest: {} after {} s",
        update.stage,
        seconds(update.elapsed_ms)
    );
    if let (Stage::Queued, Some(n)) = (update.stage, update.position) {
        line.push_str(&format!(" (position {n})"));
    }
    line
}

/// The live line's text after the spinner, without the time: `generating`, or
/// `queued · position 2`.
pub fn live_message(update: &Update) -> String {
    match (update.stage, update.position) {
        (Stage::Queued, Some(n)) => format!("queued · position {n}"),
        (stage, _) => stage.to_string(),
    }
}

/// A short duration for the live line: `14s`, `2m05s`, `1h02m`.
pub fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// One JSON line for an event about the request: `{"event": event, ...data, "path"?: path}`,
/// `event` first and `path` last. A `data` that is not an object is put under `"data"`; its own
/// `event` (or `path`, when one is given) is left out, so neither can be mistaken for ours.
pub fn json_line(event: &str, data: &Value, path: Option<&str>) -> String {
    let mut line = format!("{{\"event\":{}", Value::from(event));
    let mut field = |key: &str, value: &Value| {
        line.push(',');
        line.push_str(&Value::from(key).to_string());
        line.push(':');
        line.push_str(&value.to_string());
    };
    match data {
        Value::Object(map) => {
            for (k, v) in map {
                if k != "event" && !(k == "path" && path.is_some()) {
                    field(k, v);
                }
            }
        }
        Value::Null => {}
        other => field("data", other),
    }
    if let Some(path) = path {
        field("path", &Value::from(path));
    }
    line.push('}');
    line
}

/// Where the progress goes (see the module's doc).
#[derive(Debug)]
enum Sink {
    /// The live line; the bar appears when the request goes out.
    Live(Option<indicatif::ProgressBar>),
    /// One plain line per stage on stderr.
    Lines,
    /// JSON lines on stdout.
    Json,
}

/// Shows the progress of one request as the module's doc says, and remembers the last stage
/// shown so that a repeat is not shown twice.
#[derive(Debug)]
pub struct Progress {
    sink: Sink,
    last: Option<(Stage, Option<u64>)>,
}

impl Progress {
    /// JSON lines if `json`, else a live line if stderr is a terminal, else plain lines.
    pub fn new(json: bool) -> Progress {
        if json {
            Progress::json()
        } else if std::io::stderr().is_terminal() {
            Progress::with(Sink::Live(None))
        } else {
            Progress::lines()
        }
    }

    /// One plain line per stage on `err`.
    pub fn lines() -> Progress {
        Progress::with(Sink::Lines)
    }

    /// Every event as a JSON line on `out`.
    pub fn json() -> Progress {
        Progress::with(Sink::Json)
    }

    fn with(sink: Sink) -> Progress {
        Progress { sink, last: None }
    }

    /// Whether results are printed as JSON lines too.
    pub fn is_json(&self) -> bool {
        matches!(self.sink, Sink::Json)
    }

    /// The request went out: the live line starts (its time counts from here).
    pub fn started(&mut self) {
        if let Sink::Live(bar @ None) = &mut self.sink {
            let style = indicatif::ProgressStyle::with_template("{spinner} {msg} · {since}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
                .with_key(
                    "since",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&short_duration(state.elapsed()));
                    },
                );
            let spinner = indicatif::ProgressBar::new_spinner().with_style(style);
            spinner.set_message(Cow::Borrowed("waiting for the extension"));
            spinner.enable_steady_tick(Duration::from_millis(100));
            *bar = Some(spinner);
        }
    }

    /// An `imageGenerationProgress` about the request, with its `data`.
    pub fn progress(
        &mut self,
        event: &str,
        data: &Value,
        out: &mut impl Write,
        err: &mut impl Write,
    ) -> std::io::Result<()> {
        if let Sink::Json = self.sink {
            writeln!(out, "{}", json_line(event, data, None))?;
            return out.flush();
        }
        let Some(update) = Update::from_data(data) else {
            return Ok(());
        };
        let key = (update.stage, update.position);
        if self.last == Some(key) {
            return Ok(());
        }
        self.last = Some(key);
        match &self.sink {
            Sink::Live(Some(bar)) => bar.set_message(live_message(&update)),
            Sink::Live(None) | Sink::Json => {}
            Sink::Lines => {
                writeln!(err, "{}", plain_line(&update))?;
                err.flush()?;
            }
        }
        Ok(())
    }

    /// The wait is over: the live line is cleared, so the result stands alone.
    pub fn finish(&mut self) {
        if let Sink::Live(bar) = &mut self.sink {
            if let Some(bar) = bar.take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(stage: Stage, position: Option<u64>, elapsed_ms: u64) -> Update {
        Update {
            stage,
            position,
            elapsed_ms,
        }
    }

    #[test]
    fn an_update_reads_from_the_events_data() {
        let data = json!({"requestId": "e1", "stage": "queued", "position": 2, "elapsedMs": 40});
        assert_eq!(
            Update::from_data(&data),
            Some(update(Stage::Queued, Some(2), 40))
        );
        let bare = json!({"stage": "sent"});
        assert_eq!(Update::from_data(&bare), Some(update(Stage::Sent, None, 0)));
        assert_eq!(Update::from_data(&json!({"stage": "painting"})), None);
        assert_eq!(Update::from_data(&json!({"elapsedMs": 1})), None);
    }

    #[test]
    fn seconds_have_one_decimal_rounded_half_up() {
        assert_eq!(seconds(0), "0.0");
        assert_eq!(seconds(49), "0.0");
        assert_eq!(seconds(50), "0.1");
        assert_eq!(seconds(1449), "1.4");
        assert_eq!(seconds(1450), "1.5");
        assert_eq!(seconds(61_000), "61.0");
        assert_eq!(seconds(u64::MAX), "18446744073709551.6");
    }

    #[test]
    fn plain_lines_name_the_stage_the_time_and_the_place_in_the_queue() {
        assert_eq!(
            plain_line(&update(Stage::Queued, Some(2), 0)),
            "semantest: queued after 0.0 s (position 2)"
        );
        assert_eq!(
            plain_line(&update(Stage::Generating, None, 1400)),
            "semantest: generating after 1.4 s"
        );
        // A position outside the queue is not the user's business.
        assert_eq!(
            plain_line(&update(Stage::Saved, Some(1), 25_000)),
            "semantest: saved after 25.0 s"
        );
    }

    #[test]
    fn the_live_line_names_the_stage_and_the_place_in_the_queue() {
        assert_eq!(
            live_message(&update(Stage::Queued, Some(3), 0)),
            "queued · position 3"
        );
        assert_eq!(live_message(&update(Stage::Queued, None, 0)), "queued");
        assert_eq!(
            live_message(&update(Stage::Generating, None, 0)),
            "generating"
        );
        assert_eq!(short_duration(Duration::from_millis(14_900)), "14s");
        assert_eq!(short_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(short_duration(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn json_lines_put_the_event_first_and_the_path_last() {
        let data = json!({"requestId": "e1", "stage": "queued", "position": 2, "elapsedMs": 5});
        let line = json_line("imageGenerationProgress", &data, None);
        assert!(
            line.starts_with(r#"{"event":"imageGenerationProgress","#),
            "{line}"
        );
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"event": "imageGenerationProgress", "requestId": "e1", "stage": "queued", "position": 2, "elapsedMs": 5})
        );
        // The server's path in the extension's data gives way to where the file was written.
        let done = json!({"requestId": "e1", "path": "/srv/x.png", "event": "spoof", "size": 3});
        let line = json_line("imageDownloaded", &done, Some("/home/me/x.png"));
        assert!(line.ends_with(r#","path":"/home/me/x.png"}"#), "{line}");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({"event": "imageDownloaded", "requestId": "e1", "size": 3, "path": "/home/me/x.png"})
        );
        assert_eq!(json_line("x", &Value::Null, None), r#"{"event":"x"}"#);
        assert_eq!(json_line("x", &json!(7), None), r#"{"event":"x","data":7}"#);
    }

    /// Drives `progress` with `events` (stage, position, elapsedMs) and returns (stdout, stderr).
    fn shown(mut progress: Progress, events: &[(&str, Option<u64>, u64)]) -> (String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        progress.started();
        for (stage, position, ms) in events {
            let mut data = json!({"requestId": "e1", "stage": stage, "elapsedMs": ms});
            if let Some(n) = position {
                data["position"] = json!(n);
            }
            progress
                .progress("imageGenerationProgress", &data, &mut out, &mut err)
                .unwrap();
        }
        progress.finish();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn plain_lines_skip_a_repeat_but_show_a_move_in_the_queue() {
        let events = [
            ("queued", Some(2), 0),
            ("queued", Some(2), 900),
            ("queued", Some(1), 5_000),
            ("typing", None, 6_000),
            ("painting", None, 6_500),
            ("generating", None, 7_250),
            ("generating", None, 9_000),
        ];
        let (out, err) = shown(Progress::lines(), &events);
        assert_eq!(out, "");
        assert_eq!(
            err,
            "semantest: queued after 0.0 s (position 2)\n\
             semantest: queued after 5.0 s (position 1)\n\
             semantest: typing after 6.0 s\n\
             semantest: generating after 7.3 s\n"
        );
    }

    #[test]
    fn json_shows_every_event_on_stdout_and_nothing_on_stderr() {
        let progress = Progress::json();
        assert!(progress.is_json());
        let (out, err) = shown(progress, &[("queued", Some(1), 0), ("queued", Some(1), 5)]);
        assert_eq!(err, "");
        let stages: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect();
        assert_eq!(stages.len(), 2);
        assert!(stages
            .iter()
            .all(|s| s["event"] == "imageGenerationProgress" && s["position"] == 1));
    }
}
