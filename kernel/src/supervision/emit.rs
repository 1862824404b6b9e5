//! Publishing text for a cell: rate limits, coalescing, and late output (after the cell
//! finished) in a labelled display of its own.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lines::{Stream, Writer};
use super::{LATE_LINES_KEPT, LateView, MAX_BYTES_PER_SECOND, MAX_LINES_PER_SECOND, MAX_STREAM_CHUNK, State, Worker};
use crate::wire::message::Message;

impl Worker {
    /// Publishes a line (or the rest of one) for `cell`, labelled with its writer's name when
    /// `:labels on` asked for it (`labels.rs`; late output has a label of its own).
    pub(super) fn emit(&mut self, st: &mut State, cell: u32, writer: Writer, stream: Stream, text: String) {
        let text = if st.labels && st.cells.get(&cell).is_some_and(|c| !c.finished) {
            super::labels::labelled(&self.label_name(st, writer), &text)
        } else {
            text
        };
        self.emit_unlabelled(st, cell, writer, stream, text);
    }

    /// Publishes text for `cell`, rate-limited, coalescing consecutive text of one stream.
    pub(super) fn emit_unlabelled(&mut self, st: &mut State, cell: u32, writer: Writer, stream: Stream, text: String) {
        let Some(c) = st.cells.get_mut(&cell) else { return };
        if c.window_start.elapsed() >= Duration::from_secs(1) {
            let dropped = std::mem::take(&mut c.dropped);
            c.window_start = Instant::now();
            c.window_lines = 0;
            c.window_bytes = 0;
            if dropped > 0 {
                self.flush_pending(st);
                self.rate_notice(st, cell, dropped);
            }
        }
        let Some(c) = st.cells.get_mut(&cell) else { return };
        c.window_lines += 1;
        c.window_bytes += text.len();
        if c.window_lines > MAX_LINES_PER_SECOND || c.window_bytes > MAX_BYTES_PER_SECOND {
            c.dropped += 1;
            return;
        }
        if c.finished {
            // Late output (a daemon, a process nobody waited for, a thread the cell did not
            // join): a labelled display.
            let label = self.late_label(st, writer);
            let c = st.cells.get_mut(&cell).unwrap();
            let parent = c.parent.clone();
            let fresh = !c.late.contains_key(&writer);
            let view = c.late.entry(writer).or_insert_with(|| LateView {
                display_id: format!("late-{cell}-{}-{}-{}", writer.pid, writer.tid, uuid::Uuid::new_v4()),
                lines: Vec::new(),
            });
            let line = text.strip_suffix('\n').unwrap_or(&text);
            view.lines.push(format!("[{label}, after the cell finished] {line}"));
            if view.lines.len() > LATE_LINES_KEPT {
                view.lines.remove(0);
            }
            let content = json!({
                "data": {"text/plain": view.lines.join("\n")},
                "metadata": {},
                "transient": {"display_id": view.display_id},
            });
            self.publish(parent.as_ref(), if fresh { "display_data" } else { "update_display_data" }, content);
            return;
        }
        match &mut st.pending {
            Some((pc, ps, buf)) if *pc == cell && *ps == stream && buf.len() + text.len() <= MAX_STREAM_CHUNK => buf.push_str(&text),
            _ => {
                self.flush_pending(st);
                st.pending = Some((cell, stream, text));
                st.pending_since = Some(Instant::now());
            }
        }
    }

    pub(super) fn rate_notice(&self, st: &mut State, cell: u32, dropped: u64) {
        self.cell_out(st, cell, "stream", json!({
            "name": "stderr",
            "text": format!("[output rate-limited: {dropped} lines dropped]\n"),
        }));
    }

    /// Publishes as a child of `parent`; quiet cells (no parent) publish nothing.
    pub(super) fn publish(&self, parent: Option<&Message>, msg_type: &str, content: Value) {
        if let Some(p) = parent {
            self.publisher.publish(Some(p), msg_type, content);
        }
    }

    pub(super) fn flush_pending(&self, st: &mut State) {
        st.pending_since = None;
        if let Some((cell, stream, text)) = st.pending.take() {
            self.cell_out(st, cell, "stream", json!({"name": stream.name(), "text": text}));
        }
    }


    pub(super) fn roll_windows(&mut self, st: &mut State) {
        let notices: Vec<(u32, u64)> = st
            .cells
            .iter_mut()
            .filter(|(_, c)| c.dropped > 0 && c.window_start.elapsed() >= Duration::from_secs(1))
            .map(|(n, c)| {
                c.window_start = Instant::now();
                c.window_lines = 0;
                c.window_bytes = 0;
                (*n, std::mem::take(&mut c.dropped))
            })
            .collect();
        if !notices.is_empty() {
            self.flush_pending(st);
        }
        for (cell, dropped) in notices {
            self.rate_notice(st, cell, dropped);
        }
    }
}
