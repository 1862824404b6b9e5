//! The deadlock report as HTML: the words, and a small inline SVG of the cycle (each waiting
//! process or thread a box on a circle, an arrow to whoever it waits for, labelled with the
//! lock). Plain HTML and SVG, no script and no network: it shows the same in JupyterLab, in a
//! saved notebook opened later, in `nbconvert --to html` and in the decks. The `text/plain`
//! next to it in the same output is the fallback.

use super::deadlock::Report;

/// Escapes text for HTML and SVG.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The SVG of the cycle (empty when the report has no cycle). Lock names are drawn as code
/// (monospace, no backticks).
pub fn svg(report: &Report) -> String {
    let n = report.cycle.len();
    if n == 0 {
        return String::new();
    }
    let half_width = |k: usize| (report.cycle[k].who.chars().count() as f64 * 6.6 + 16.0).max(60.0) / 2.0;
    let widest = (0..n).map(|k| 2.0 * half_width(k)).fold(0.0, f64::max);
    // Neighbours on the circle stay a box width and a label apart.
    let r = if n == 1 { 0.0 } else { ((widest + 60.0) / (2.0 * (std::f64::consts::PI / n as f64).sin())).max(70.0) };
    let angle = |k: usize| -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * k as f64 / n as f64;
    let (top, bottom) = (0..n).map(|k| r * angle(k).sin()).fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (w, h) = (2.0 * r + widest + 40.0, if n == 1 { 150.0 } else { bottom - top + 90.0 });
    let (cx, cy) = (w / 2.0, if n == 1 { h / 2.0 } else { 45.0 - top });
    // How far from a box's centre a line in direction (dx, dy) leaves the box (plus a margin).
    let exit = |k: usize, dx: f64, dy: f64| {
        let (hw, hh) = (half_width(k) + 4.0, 13.0 + 4.0);
        let tx = if dx.abs() > 1e-9 { hw / dx.abs() } else { f64::INFINITY };
        let ty = if dy.abs() > 1e-9 { hh / dy.abs() } else { f64::INFINITY };
        tx.min(ty)
    };
    let at = |k: usize| (cx + r * angle(k).cos(), cy + r * angle(k).sin());
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="deadlock cycle" style="font-family:sans-serif;font-size:12px">"#
    );
    out.push_str(r##"<defs><marker id="dl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker></defs>"##);
    for k in 0..n {
        let (x1, y1) = at(k);
        let (x2, y2) = at((k + 1) % n);
        // A lock's name as code (a monospace font, as `<code>` shows it in the words below),
        // without the backticks the plain text uses as code marks; a join in the usual font.
        let (label, font) = match report.cycle[k].lock.as_deref() {
            Some(l) => (l.to_string(), r#" font-family="monospace""#),
            None => ("join".to_string(), ""),
        };
        if n == 1 {
            out.push_str(&format!(
                r##"<path d="M{a},{b} C{c},{d} {e},{d} {f},{b}" fill="none" stroke="#c62828" stroke-width="2" marker-end="url(#dl-arrow)"/><text x="{cx}" y="{t}" text-anchor="middle" fill="#c62828"{font}>{}</text>"##,
                escape(&label),
                a = cx + 40.0, b = cy - 14.0, c = cx + 90.0, d = cy - 70.0, e = cx - 90.0, f = cx - 40.0, t = cy - 60.0, font = font,
            ));
            continue;
        }
        // The arrow runs from the edge of one box to the edge of the next.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        let (a, b) = (exit(k, ux, uy), exit((k + 1) % n, ux, uy));
        // Two actors: their two arrows run side by side, not on top of each other.
        let side = if n == 2 { 14.0 } else { 0.0 };
        let (px, py) = (-uy * side, ux * side);
        let (sx, sy, ex, ey) = (x1 + ux * a + px, y1 + uy * a + py, x2 - ux * b + px, y2 - uy * b + py);
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        // Labels sit outside the circle, away from the centre.
        let (ox, oy) = (mx - cx, my - cy);
        let ol = (ox * ox + oy * oy).sqrt().max(1.0);
        let (lx, ly) = if n == 2 { (mx + px * 4.0, my + py * 4.0 + 4.0) } else { (mx + ox / ol * 22.0, my + oy / ol * 22.0 + 4.0) };
        out.push_str(&format!(
            r##"<line x1="{sx:.1}" y1="{sy:.1}" x2="{ex:.1}" y2="{ey:.1}" stroke="#c62828" stroke-width="2" marker-end="url(#dl-arrow)"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" fill="#c62828"{font}>{}</text>"##,
            escape(&label)
        ));
    }
    for (k, s) in report.cycle.iter().enumerate() {
        let (x, y) = at(k);
        let who = escape(&s.who);
        let bw = 2.0 * half_width(k);
        out.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{bw:.1}" height="26" rx="6" fill="#fff3f3" stroke="#c62828"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{who}</text>"##,
            x - bw / 2.0,
            y - 13.0,
            y + 4.0
        ));
    }
    out.push_str("</svg>");
    out
}

/// The whole HTML output: a heading line, the picture, the words.
pub fn html(report: &Report) -> String {
    format!(
        r#"<div class="rc-deadlock" style="border-left:4px solid #c62828;padding:4px 10px;margin:4px 0"><div style="font-weight:bold;color:#c62828">Deadlock</div>{}<div>{}</div></div>"#,
        svg(report),
        with_code(&escape(&report.text()))
    )
}

/// Shows the names in backticks as code, as a notebook's Markdown would.
fn with_code(escaped: &str) -> String {
    let mut out = String::new();
    for (k, part) in escaped.split('`').enumerate() {
        if k % 2 == 1 {
            out.push_str("<code>");
            out.push_str(part);
            out.push_str("</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::deadlock::{Report, Step};

    fn step(who: &str, lock: &str) -> Step {
        Step { who: who.into(), waits: format!("waits for lock `{lock}`"), lock: Some(lock.into()), timed: false }
    }

    #[test]
    fn lock_names_are_code_without_backticks() {
        let report = Report { cycle: vec![step("AB (pid 1)", "a<b"), step("BA (pid 2)", "b")], others: vec![] };
        let html = super::html(&report);
        assert!(!html.contains('`'), "{html}");
        assert!(html.contains(r#"font-family="monospace">a&lt;b</text>"#), "{html}");
        assert!(html.contains("waits for lock <code>a&lt;b</code>"), "{html}");
    }
}
