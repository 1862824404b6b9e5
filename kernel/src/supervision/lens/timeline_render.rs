//! The timeline as text and as an inline SVG (one `display_data` after the cell).
//!
//! One row per process and per thread: its name above a thin grey bar from its start to its
//! exit (running, or ready to run); over the bar, a yellow block while it held a lock, a white
//! block with a red dashed edge while it was asleep waiting (for a lock, an item, room in a
//! queue, …), a purple dashed one while it was in `join`, a pale dotted one from the parent's
//! `start()` to the child's first step (starting). A blue arrow goes from each `put` to
//! the `get` that took that item, a green one from each pipe `send` to the `recv` that received
//! that message. Every element has a `<title>`, shown when hovered. Names are
//! written above the bars, not beside them, so the bars get the whole width (readable at the
//! decks' width). Plain SVG: no script, no external resource, no `id` (several timelines can
//! share a page), so it shows the same in JupyterLab, a saved notebook, `nbconvert --to html`
//! and the decks. The `text/plain` next to it sums the same up in words.

use super::deadlock_render::escape;
use super::timeline::{Arrow, Through, Timeline, What};

/// Width of the picture in pixels.
const WIDTH: f64 = 720.0;
/// Left and right margin.
const MARGIN: f64 = 10.0;
/// Height of one row (its name, then its bar).
const ROW: f64 = 40.0;
/// Top of the first row (below the time axis).
const TOP: f64 = 28.0;

/// A duration for people: `3.2 µs`, `420 µs`, `4.20 ms`, `12.3 ms`, `1.25 s`.
///
/// ```
/// use rust_concurrency_kernel::supervision::lens::timeline_render::duration;
/// assert_eq!(duration(3_240), "3.2 µs");
/// assert_eq!(duration(420_000), "420 µs");
/// assert_eq!(duration(4_200_000), "4.20 ms");
/// assert_eq!(duration(12_340_000), "12.3 ms");
/// assert_eq!(duration(1_250_000_000), "1.25 s");
/// ```
pub fn duration(ns: u64) -> String {
    let ms = ns as f64 / 1e6;
    if ns < 10_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns < 1_000_000 {
        format!("{:.0} µs", ns as f64 / 1e3)
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn what_text(w: &What) -> String {
    match w {
        What::Blocked { op, name, behind } => {
            let mut s = format!("waited in {op} on `{name}`");
            if let Some(b) = behind {
                s.push_str(&format!(" (held by {b})"));
            }
            s
        }
        What::Holds { name } => format!("held lock `{name}`"),
        What::Joins { child } => format!("joined {child}"),
        What::Starting => "was starting (forked by its parent's start(), before its own first step)".to_string(),
    }
}

/// The words: one line per row, then the items that went through queues.
///
/// ```
/// use rust_concurrency_kernel::supervision::lens::{timeline::build, timeline_render::text};
/// let t = build(&[], 10, 0, 2_000_000);
/// assert!(text(&t).starts_with("Timeline of this cell (2.00 ms): 1 row"));
/// ```
pub fn text(t: &Timeline) -> String {
    let n = t.rows.len();
    let mut out = format!("Timeline of this cell ({}): {n} row{}\n", duration(t.length), if n == 1 { "" } else { "s" });
    for (i, r) in t.rows.iter().enumerate() {
        out.push_str(&format!("{}: {}–{}", r.label, duration(r.start), duration(r.end)));
        if r.panicked {
            out.push_str(" (panicked)");
        } else if r.exited {
            out.push_str(" (exited)");
        }
        for s in t.spans.iter().filter(|s| s.row == i) {
            out.push_str(&format!("; {} {} at {}", what_text(&s.what), duration(s.end - s.start), duration(s.start)));
            if s.open {
                out.push_str(" (still at the end)");
            }
        }
        out.push('\n');
    }
    for a in &t.arrows {
        out.push_str(&item_text(t, a));
        out.push('\n');
    }
    for (through, r, at) in &t.untaken {
        let (row, at) = (&t.rows[*r].label, duration(*at));
        match through {
            Through::Queue(q) => out.push_str(&format!("put on `{q}` by {row} at {at}, not taken during the cell\n")),
            Through::Pipe => out.push_str(&format!("sent on a pipe by {row} at {at}, not received during the cell\n")),
        }
    }
    if t.dropped > 0 {
        out.push_str(&format!("({} events were not recorded: the log was full)\n", t.dropped));
    }
    out
}

/// One item's words (the text's line and the arrow's title).
fn item_text(t: &Timeline, a: &Arrow) -> String {
    let (from, sent, to, taken) = (&t.rows[a.from.0].label, duration(a.from.1), &t.rows[a.to.0].label, duration(a.to.1));
    match &a.through {
        Through::Queue(q) => format!("item {} of `{q}`: put by {from} at {sent}, taken by {to} at {taken}", a.number + 1),
        Through::Pipe => format!("a message on a pipe: sent by {from} at {sent}, received by {to} at {taken}"),
    }
}

/// A step of the time axis that gives 4–10 ticks.
fn tick_step(length: u64) -> u64 {
    let mut step = 1_000u64; // 1 µs
    for m in [1, 2, 5].iter().cycle() {
        if length / (step * m) <= 8 {
            return step * m;
        }
        if *m == 5 {
            step *= 10;
        }
        if step > 1_000_000_000_000 {
            return step;
        }
    }
    step
}

/// The picture.
pub fn svg(t: &Timeline) -> String {
    let length = t.length.max(1) as f64;
    let x = |ns: u64| MARGIN + (WIDTH - 2.0 * MARGIN) * (ns as f64 / length).min(1.0);
    let top = |row: usize| TOP + row as f64 * ROW;
    let bar_mid = |row: usize| top(row) + 25.0;
    let height = TOP + t.rows.len() as f64 * ROW + 26.0;
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="rc-timeline" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="timeline of the cell" style="font-family:sans-serif;font-size:12px">"#
    );
    // Time axis.
    let step = tick_step(t.length);
    let mut k = 0;
    out.push_str(r##"<g class="axis" fill="#666" stroke="#bbb">"##);
    while k * step <= t.length {
        let tx = x(k * step);
        let anchor = if k == 0 { "start" } else if x((k + 1) * step) >= WIDTH - MARGIN && (k + 1) * step > t.length { "end" } else { "middle" };
        out.push_str(&format!(
            r#"<line x1="{tx:.1}" y1="16" x2="{tx:.1}" y2="{:.1}" stroke-dasharray="1,3"/><text x="{tx:.1}" y="12" text-anchor="{anchor}" stroke="none">{}</text>"#,
            height - 26.0,
            escape(&duration(k * step))
        ));
        k += 1;
    }
    out.push_str("</g>");
    // Rows: name, and the bar from start to end.
    for (i, r) in t.rows.iter().enumerate() {
        let (x1, x2) = (x(r.start), x(r.end).max(x(r.start) + 2.0));
        let tip = format!("{}: from {} to {}{}", r.label, duration(r.start), duration(r.end), match (r.panicked, r.exited) {
            (true, _) => ", then panicked",
            (false, true) => ", then exited",
            _ => "",
        });
        out.push_str(&format!(
            r##"<g class="row"><title>{tip}</title><text class="row-label" x="{MARGIN}" y="{:.1}" fill="#222">{}</text><rect class="run" x="{x1:.1}" y="{:.1}" width="{:.1}" height="6" fill="#90a4ae"/>"##,
            top(i) + 12.0,
            escape(&r.label),
            bar_mid(i) - 3.0,
            x2 - x1,
            tip = escape(&tip)
        ));
        if r.exited {
            // A panic ends the row with a red mark, a clean exit with a dark one.
            let (class, colour) = if r.panicked { ("exit panicked", "#c62828") } else { ("exit", "#455a64") };
            out.push_str(&format!(r##"<line class="{class}" x1="{x2:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"/>"##, bar_mid(i) - 8.0, bar_mid(i) + 8.0));
        }
        out.push_str("</g>");
    }
    // Holds first (full height), then waits and joins inset on top of them.
    let mut ordered: Vec<&super::timeline::Span> = t.spans.iter().filter(|s| matches!(s.what, What::Holds { .. })).collect();
    ordered.extend(t.spans.iter().filter(|s| !matches!(s.what, What::Holds { .. })));
    for s in ordered {
        let (x1, x2) = (x(s.start), x(s.end).max(x(s.start) + 3.0));
        let w = x2 - x1;
        let (class, fill, stroke, dash, y, h, label) = match &s.what {
            What::Holds { name } => ("hold", "#ffca28", "#f9a825", "", bar_mid(s.row) - 9.0, 18.0, name.clone()),
            What::Blocked { name, .. } => ("blocked", "#ffffff", "#e53935", r#" stroke-dasharray="3,2""#, bar_mid(s.row) - 6.0, 12.0, format!("waits: {name}")),
            What::Joins { .. } => ("join", "#ffffff", "#5e35b1", r#" stroke-dasharray="3,2""#, bar_mid(s.row) - 6.0, 12.0, "join".to_string()),
            What::Starting => ("starting", "#eceff1", "#b0bec5", r#" stroke-dasharray="1,2""#, bar_mid(s.row) - 3.0, 6.0, String::new()),
        };
        let row_label = &t.rows[s.row].label;
        let tip = format!(
            "{row_label} {} {} (from {} to {}{})",
            what_text(&s.what),
            duration(s.end - s.start),
            duration(s.start),
            duration(s.end),
            if s.open { ", still at the end of the cell" } else { "" }
        );
        out.push_str(&format!(
            r##"<g class="span {class}" data-start-ns="{}" data-end-ns="{}"><title>{}</title><rect class="{class}" x="{x1:.1}" y="{y:.1}" width="{w:.1}" height="{h}" rx="2" fill="{fill}" stroke="{stroke}"{dash}/>"##,
            s.start,
            s.end,
            escape(&tip)
        ));
        // The label only where it fits inside the block.
        if !label.is_empty() && label.chars().count() as f64 * 6.6 + 6.0 <= w {
            let colour = if class == "hold" { "#5d4037" } else { stroke };
            out.push_str(&format!(
                r#"<text x="{:.1}" y="{:.1}" font-size="10" fill="{colour}">{}</text>"#,
                x1 + 3.0,
                y + h / 2.0 + 3.5,
                escape(&label)
            ));
        }
        out.push_str("</g>");
    }
    // Arrows from each put to the get that took the item.
    for a in &t.arrows {
        let (x1, y1, x2, y2) = (x(a.from.1), bar_mid(a.from.0), x(a.to.1), bar_mid(a.to.0));
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Head: a small triangle whose tip is the get.
        let (bx, by) = (x2 - ux * 7.0, y2 - uy * 7.0);
        let (px, py) = (-uy * 3.5, ux * 3.5);
        let (class, colour) = match a.through {
            Through::Queue(_) => ("queue", "#1e88e5"),
            Through::Pipe => ("pipe", "#2e7d32"),
        };
        out.push_str(&format!(
            r##"<g class="item {class}"><title>{}</title><line class="arrow" x1="{x1:.1}" y1="{y1:.1}" x2="{bx:.1}" y2="{by:.1}" stroke="{colour}" stroke-width="1.5"/><polygon class="arrow-head" points="{x2:.1},{y2:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/><circle cx="{x1:.1}" cy="{y1:.1}" r="2.5" fill="{colour}"/></g>"##,
            escape(&item_text(t, a)),
            bx + px,
            by + py,
            bx - px,
            by - py
        ));
    }
    // Legend.
    let ly = height - 12.0;
    out.push_str(&format!(
        r##"<g class="legend" font-size="11" fill="#444"><rect x="{MARGIN}" y="{:.1}" width="16" height="6" fill="#90a4ae"/><text x="{:.1}" y="{ly:.1}">running</text><rect x="90" y="{:.1}" width="16" height="12" fill="#ffca28" stroke="#f9a825"/><text x="110" y="{ly:.1}">holds a lock</text><rect x="200" y="{:.1}" width="16" height="12" fill="#fff" stroke="#e53935" stroke-dasharray="3,2"/><text x="220" y="{ly:.1}">waits (asleep)</text><rect x="320" y="{:.1}" width="16" height="12" fill="#fff" stroke="#5e35b1" stroke-dasharray="3,2"/><text x="340" y="{ly:.1}">join</text><line x1="390" y1="{:.1}" x2="410" y2="{:.1}" stroke="#1e88e5" stroke-width="1.5"/><text x="414" y="{ly:.1}">put → get of one item</text><line x1="540" y1="{:.1}" x2="560" y2="{:.1}" stroke="#2e7d32" stroke-width="1.5"/><text x="564" y="{ly:.1}">send → recv</text></g>"##,
        ly - 7.0,
        MARGIN + 20.0,
        ly - 10.0,
        ly - 10.0,
        ly - 10.0,
        ly - 4.0,
        ly - 4.0,
        ly - 4.0,
        ly - 4.0
    ));
    out.push_str("</svg>");
    out
}

/// The whole HTML output: a heading line and the picture (the words are the `text/plain`).
pub fn html(t: &Timeline) -> String {
    format!(
        r#"<div class="rc-timeline-output" style="margin:4px 0"><div style="font-weight:bold;color:#37474f">Timeline of this cell ({})</div>{}</div>"#,
        escape(&duration(t.length)),
        svg(t)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::lens::timeline::build;
    use multiproc::sys::timeline::{Event, Kind};

    #[test]
    fn durations_read_well() {
        assert_eq!(duration(0), "0.0 µs");
        assert_eq!(duration(3_240), "3.2 µs");
        assert_eq!(duration(420_000), "420 µs");
        assert_eq!(duration(4_200_000), "4.20 ms");
        assert_eq!(duration(1_250_000_000), "1.25 s");
    }

    #[test]
    fn the_svg_has_one_group_per_row_span_and_item_and_no_script_or_id() {
        let ev = |kind, pid, t, name: &str, a| Event { kind, pid, tid: pid, thread: 0, t_ns: t, a, b: 0, op: String::new(), name: name.into() };
        let t = build(
            &[
                ev(Kind::ProcessStart, 11, 100, "P<1>", 10),
                ev(Kind::LockAcquired, 11, 200, "pen", 0),
                ev(Kind::Put, 11, 250, "jobs", 0),
                ev(Kind::LockReleased, 11, 300, "pen", 0),
                ev(Kind::Get, 10, 400, "jobs", 0),
                ev(Kind::ProcessExit, 11, 500, "P<1>", 0),
            ],
            10,
            0,
            600,
        );
        let svg = svg(&t);
        assert_eq!(svg.matches(r#"<g class="row">"#).count(), 2);
        assert_eq!(svg.matches(r#"<g class="span hold""#).count(), 1);
        assert_eq!(svg.matches(r#"<g class="item queue">"#).count(), 1);
        assert!(svg.contains("P&lt;1&gt; (pid 11)"), "names are escaped");
        assert!(!svg.contains("<script") && !svg.contains(" id="));
        let text = text(&t);
        assert!(text.contains("item 1 of `jobs`: put by P<1> (pid 11) at 0.2 µs, taken by MainProcess (pid 10) at 0.4 µs"), "{text}");
    }
}
