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

/// The SVG of the cycle (empty when the report has no cycle).
pub fn svg(report: &Report) -> String {
    let n = report.cycle.len();
    if n == 0 {
        return String::new();
    }
    let (w, h) = (460.0f64, if n == 1 { 150.0 } else { 300.0 });
    let (cx, cy, r) = (w / 2.0, h / 2.0, if n == 1 { 0.0 } else { 105.0 });
    let at = |k: usize| {
        let a = -std::f64::consts::FRAC_PI_2 + 2.0 * std::f64::consts::PI * k as f64 / n as f64;
        (cx + r * a.cos(), cy + r * a.sin())
    };
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="deadlock cycle" style="font-family:sans-serif;font-size:12px">"#
    );
    out.push_str(r##"<defs><marker id="dl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c62828"/></marker></defs>"##);
    for k in 0..n {
        let (x1, y1) = at(k);
        let (x2, y2) = at((k + 1) % n);
        let label = report.cycle[k].lock.as_deref().map(|l| format!("`{l}`")).unwrap_or_else(|| "join".into());
        if n == 1 {
            out.push_str(&format!(
                r##"<path d="M{a},{b} C{c},{d} {e},{d} {f},{b}" fill="none" stroke="#c62828" stroke-width="2" marker-end="url(#dl-arrow)"/><text x="{cx}" y="{t}" text-anchor="middle" fill="#c62828">{}</text>"##,
                escape(&label),
                a = cx + 40.0, b = cy - 14.0, c = cx + 90.0, d = cy - 70.0, e = cx - 90.0, f = cx - 40.0, t = cy - 60.0,
            ));
            continue;
        }
        // Shorten the arrow so it ends at the edge of the next box.
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let cut = 30.0 / len;
        let (sx, sy, ex, ey) = (x1 + dx * cut, y1 + dy * cut, x2 - dx * cut, y2 - dy * cut);
        let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        // Labels sit outside the circle, away from the centre.
        let (ox, oy) = (mx - cx, my - cy);
        let ol = (ox * ox + oy * oy).sqrt().max(1.0);
        let (lx, ly) = (mx + ox / ol * 16.0, my + oy / ol * 16.0 + 4.0);
        out.push_str(&format!(
            r##"<line x1="{sx:.1}" y1="{sy:.1}" x2="{ex:.1}" y2="{ey:.1}" stroke="#c62828" stroke-width="2" marker-end="url(#dl-arrow)"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" fill="#c62828">{}</text>"##,
            escape(&label)
        ));
    }
    for (k, s) in report.cycle.iter().enumerate() {
        let (x, y) = at(k);
        let who = escape(&s.who);
        let bw = (s.who.chars().count() as f64 * 6.6 + 16.0).max(60.0);
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
        escape(&report.text())
    )
}
