//! What a cell showed, kept so that the cell ends in canonical form.
//!
//! Live, text goes out as it arrives: every few milliseconds a `stream` message, each `pyprint!`
//! word as soon as it is written, and while the cell waits for its processes a "waiting for
//! processes …" notice (a display). A frontend stores each message as its own output unless it
//! merges streams itself: JupyterLab merges consecutive streams, but not across a display, so a
//! notice that arrived in the middle of a line cuts it in two; nbclient (and so the saved
//! `.ipynb`, nbconvert's HTML and the decks) merges nothing, so every fragment becomes its own
//! block. When a cell ends and what it published is not already canonical, the kernel sends
//! `clear_output` with `wait: true` and publishes the cell's outputs again: consecutive text of
//! one stream as one `stream` message, displays in their final state (with their display ids),
//! the notice left out. `wait: true` makes the frontend swap the old outputs for the new ones
//! when the first new one arrives, so nothing flickers. See `docs/architecture.md`.
//!
//! Limits: a cell that asked for input is not replayed (JupyterLab keeps the typed answer in the
//! output area, and a clear would remove it), and neither is one whose text passed
//! `REPLAY_LIMIT` (sending a flood twice would choke the browser). Such a cell shows no notice
//! afterwards; a notice already shown is removed by replaying at that moment, while the record
//! is still small.

use serde_json::{Value, json};

use super::{State, Worker};
use crate::wire::message::Message;

/// Most text a cell's record keeps for the final replay (beyond it the live outputs stay).
pub const REPLAY_LIMIT: usize = 1 << 20;

enum Output {
    Stream { name: String, text: String },
    /// A `display_data` content: `data`, `metadata` and, if it has one, `transient.display_id`.
    Display(Value),
}

/// The outputs a frontend holds for one cell, as the kernel published them.
#[derive(Default)]
pub struct Record {
    outputs: Vec<Output>,
    bytes: usize,
    /// A `clear_output` with `wait: true` is pending: the next output clears first.
    clear_before_next: bool,
    /// Two consecutive stream messages of one stream were published (they are one output here).
    scattered: bool,
    /// The waiting notice, while it is shown: (display id, text).
    notice: Option<(String, String)>,
    /// Not replayed any more: the cell asked for input, or its text passed `REPLAY_LIMIT`.
    given_up: bool,
}

impl Record {
    /// Notes one message published for the cell. True when the record just passed the limit.
    fn add(&mut self, msg_type: &str, content: &Value) -> bool {
        if self.given_up {
            return false;
        }
        match msg_type {
            "stream" | "display_data" if std::mem::take(&mut self.clear_before_next) => self.clear(),
            _ => {}
        }
        match msg_type {
            "stream" => {
                let name = content["name"].as_str().unwrap_or("stdout");
                let text = content["text"].as_str().unwrap_or("");
                self.bytes += text.len();
                match self.outputs.last_mut() {
                    Some(Output::Stream { name: last, text: buf }) if last == name => {
                        buf.push_str(text);
                        self.scattered = true;
                    }
                    _ => self.outputs.push(Output::Stream { name: name.to_string(), text: text.to_string() }),
                }
            }
            "display_data" => {
                self.bytes += content["data"].to_string().len();
                self.outputs.push(Output::Display(content.clone()));
            }
            "update_display_data" => {
                let id = &content["transient"]["display_id"];
                for out in &mut self.outputs {
                    if let Output::Display(shown) = out {
                        if !id.is_null() && shown["transient"]["display_id"] == *id {
                            shown["data"] = content["data"].clone();
                            shown["metadata"] = content["metadata"].clone();
                        }
                    }
                }
            }
            "clear_output" => {
                if content["wait"].as_bool().unwrap_or(false) {
                    self.clear_before_next = true;
                } else {
                    self.clear();
                }
            }
            _ => {}
        }
        self.bytes > REPLAY_LIMIT
    }

    fn clear(&mut self) {
        self.outputs.clear();
        self.bytes = 0;
    }

    /// What the frontend shows differs in form from the canonical outputs.
    fn needs_replay(&self) -> bool {
        !self.given_up && (self.scattered || self.notice.is_some())
    }

    /// The messages that replace what the frontend holds by the canonical outputs.
    fn canonical(&self) -> Vec<(&'static str, Value)> {
        // With nothing to show, a waiting clear would leave the old outputs (the notice) up.
        let mut msgs = vec![("clear_output", json!({"wait": !self.outputs.is_empty()}))];
        for out in &self.outputs {
            msgs.push(match out {
                Output::Stream { name, text } => ("stream", json!({"name": name, "text": text})),
                Output::Display(content) => ("display_data", content.clone()),
            });
        }
        if self.clear_before_next && !self.outputs.is_empty() {
            // The cell's own `clear_output(wait)` still waits for the next output.
            msgs.push(("clear_output", json!({"wait": true})));
        }
        msgs
    }

    /// After a replay the frontend holds exactly the record.
    fn replayed(&mut self) {
        self.scattered = false;
        self.notice = None;
    }

    fn give_up(&mut self) {
        self.given_up = true;
        self.outputs = Vec::new();
        self.notice = None;
    }
}

impl Worker {
    /// Publishes an output of `cell` and records it (until the cell finished).
    pub(super) fn cell_out(&self, st: &mut State, cell: u32, msg_type: &str, content: Value) {
        let Some(c) = st.cells.get_mut(&cell) else { return };
        let Some(parent) = &c.parent else { return };
        let over = !c.finished && c.outputs.add(msg_type, &content);
        self.publisher.publish(Some(parent), msg_type, content);
        if over {
            // The notice must not stay where it is: remove it while the record is still small.
            if c.outputs.notice.is_some() {
                replay(self, parent, &mut c.outputs);
            }
            c.outputs.give_up();
        }
    }

    /// The cell asked for input: a later clear would take the typed answer away.
    pub(super) fn stop_replaying(&self, st: &mut State, cell: u32) {
        let Some(c) = st.cells.get_mut(&cell) else { return };
        if let (Some(parent), true) = (&c.parent, c.outputs.notice.is_some()) {
            replay(self, parent, &mut c.outputs);
        }
        c.outputs.give_up();
    }

    /// Shows (or updates) the waiting notice of `cell`.
    pub(super) fn show_notice(&mut self, st: &mut State, cell: u32, text: String) {
        let Some(c) = st.cells.get(&cell) else { return };
        if c.outputs.given_up || c.outputs.notice.as_ref().is_some_and(|(_, t)| *t == text) {
            return;
        }
        self.flush_pending(st);
        let c = st.cells.get_mut(&cell).unwrap();
        let fresh = c.outputs.notice.is_none();
        let id = c.outputs.notice.take().map(|(id, _)| id).unwrap_or_else(|| format!("wait-{}", uuid::Uuid::new_v4()));
        self.publish(c.parent.as_ref(), if fresh { "display_data" } else { "update_display_data" }, json!({
            "data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": id}}));
        c.outputs.notice = Some((id, text));
    }

    /// The cell's last output was published: puts it in canonical form if it is not.
    pub(super) fn settle(&self, st: &mut State, cell: u32) {
        let Some(c) = st.cells.get_mut(&cell) else { return };
        if let (Some(parent), true) = (&c.parent, c.outputs.needs_replay()) {
            replay(self, parent, &mut c.outputs);
        }
        c.outputs = Record::default();
    }
}

fn replay(worker: &Worker, parent: &Message, record: &mut Record) {
    for (msg_type, content) in record.canonical() {
        worker.publisher.publish(Some(parent), msg_type, content);
    }
    record.replayed();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(text: &str) -> Value {
        json!({"name": "stdout", "text": text})
    }

    #[test]
    fn fragments_of_one_stream_become_one_output() {
        let mut r = Record::default();
        for t in ["Hi", " p1", " from process 7\n"] {
            r.add("stream", &stream(t));
        }
        r.add("stream", &json!({"name": "stderr", "text": "oops\n"}));
        assert!(r.needs_replay());
        let msgs = r.canonical();
        assert_eq!(msgs[0], ("clear_output", json!({"wait": true})));
        assert_eq!(msgs[1..], [("stream", stream("Hi p1 from process 7\n")), ("stream", json!({"name": "stderr", "text": "oops\n"}))]);
    }

    #[test]
    fn one_message_per_output_needs_no_replay() {
        let mut r = Record::default();
        r.add("stream", &stream("a\n"));
        r.add("display_data", &json!({"data": {"text/plain": "x"}, "metadata": {}}));
        r.add("stream", &stream("b\n"));
        assert!(!r.needs_replay());
        r.notice = Some(("wait-1".into(), "waiting".into()));
        assert!(r.needs_replay());
        r.replayed();
        assert!(!r.needs_replay());
    }

    #[test]
    fn displays_are_replayed_in_their_final_state_and_clears_apply() {
        let mut r = Record::default();
        r.add("stream", &stream("gone\n"));
        r.add("clear_output", &json!({"wait": true}));
        let shown = json!({"data": {"text/plain": "0%"}, "metadata": {}, "transient": {"display_id": "bar"}});
        r.add("display_data", &shown);
        r.add("update_display_data", &json!({"data": {"text/plain": "100%"}, "metadata": {}, "transient": {"display_id": "bar"}}));
        r.add("stream", &stream("x"));
        r.add("stream", &stream("y\n"));
        let expected = json!({"data": {"text/plain": "100%"}, "metadata": {}, "transient": {"display_id": "bar"}});
        assert_eq!(r.canonical()[1..], [("display_data", expected), ("stream", stream("xy\n"))]);
    }

    #[test]
    fn a_notice_alone_is_cleared_at_once_and_a_waiting_clear_stays_waiting() {
        let mut r = Record::default();
        r.notice = Some(("wait-1".into(), "waiting".into()));
        assert_eq!(r.canonical(), [("clear_output", json!({"wait": false}))]);
        r.add("stream", &stream("a\n"));
        r.add("clear_output", &json!({"wait": true}));
        assert_eq!(r.canonical()[1..], [("stream", stream("a\n")), ("clear_output", json!({"wait": true}))]);
    }

    #[test]
    fn passing_the_limit_stops_recording() {
        let mut r = Record::default();
        let big = "x".repeat(REPLAY_LIMIT / 2 + 1);
        assert!(!r.add("stream", &stream(&big)));
        assert!(r.add("stream", &stream(&big)));
        r.give_up();
        assert!(!r.add("stream", &stream("more")));
        assert!(!r.needs_replay());
    }
}
