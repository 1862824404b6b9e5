//! Rich notebook output: HTML, SVG, updatable displays and clearing the cell's output.
//!
//! In the notebook kernel these become Jupyter `display_data`, `update_display_data` and
//! `clear_output` messages, sent through the kernel link so they keep their place among the
//! cell's printed lines. Outside the kernel (a plain program, tests) they print a text
//! fallback, so lesson code runs everywhere.
//!
//! ```
//! use multiproc::prelude::*;
//! display_html("<b>Hello</b> from the notebook");
//! let progress = DisplayHandle::new_text("0 of 3 done");
//! for i in 1..=3 {
//!     progress.update_text(&format!("{i} of 3 done"));
//! }
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};

use crate::kernel_link::{self, ToKernel};

fn bundle(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect()
}

/// Sends a display to the kernel; false outside the kernel or if sending failed.
fn send_display(data: Map<String, Value>, display_id: Option<&str>, update: bool) -> bool {
    let Some(link) = kernel_link::link() else { return false };
    if crate::capture::is_capturing() {
        // Inside `capture_output` the text fallback is what gets collected.
        return false;
    }
    // Text printed before the display must be in the kernel's queue first.
    let _ = std::io::stdout().flush();
    link.send(&ToKernel::Display {
        data,
        metadata: Map::new(),
        display_id: display_id.map(str::to_string),
        update,
    })
    .is_ok()
}

fn print_fallback(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end_matches('\n'));
    let _ = out.flush();
}

/// The readable text of an HTML fragment: tags dropped, the common entities decoded.
/// Hand-written because it only serves the plain-text fallback; an HTML parser crate would be
/// a large dependency for it.
///
/// ```
/// assert_eq!(multiproc::display::html_to_text("<b>1 &lt; 2</b>"), "1 < 2");
/// ```
pub fn html_to_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for ch in html.chars() {
        match (in_tag, ch) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (false, c) => text.push(c),
            (true, _) => {}
        }
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

fn html_bundle(html: &str) -> (Map<String, Value>, String) {
    let text = html_to_text(html);
    (bundle(&[("text/html", html), ("text/plain", &text)]), text)
}

fn svg_bundle(svg: &str) -> (Map<String, Value>, String) {
    let text = format!("[SVG image, {} bytes]", svg.len());
    (bundle(&[("image/svg+xml", svg), ("text/plain", &text)]), text)
}

fn text_bundle(text: &str) -> (Map<String, Value>, String) {
    (bundle(&[("text/plain", text)]), text.to_string())
}

fn show((data, fallback): (Map<String, Value>, String), display_id: Option<&str>, update: bool) {
    if !send_display(data, display_id, update) {
        print_fallback(&fallback);
    }
}

/// Shows HTML in the notebook (outside it, prints the text without tags).
///
/// ```
/// multiproc::display::display_html("<table><tr><td>pid</td><td>42</td></tr></table>");
/// ```
pub fn display_html(html: &str) {
    show(html_bundle(html), None, false);
}

/// Shows HTML in the notebook with `text` as its plain-text form (what a plain frontend, and
/// outside the notebook the terminal, shows instead).
///
/// ```
/// multiproc::display::display_html_with_text("<b>3</b> runs", "3 runs");
/// ```
pub fn display_html_with_text(html: &str, text: &str) {
    show((bundle(&[("text/html", html), ("text/plain", text)]), text.to_string()), None, false);
}

/// Shows an SVG image in the notebook (outside it, prints a one-line placeholder).
///
/// ```
/// multiproc::display::display_svg(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle cx="5" cy="5" r="4"/></svg>"#);
/// ```
pub fn display_svg(svg: &str) {
    show(svg_bundle(svg), None, false);
}

/// Shows plain text as a display (it can sit among rich displays; printing works too).
///
/// ```
/// multiproc::display::display_text("plain text");
/// ```
pub fn display_text(text: &str) {
    show(text_bundle(text), None, false);
}

/// Clears the cell's output; with `wait`, only when the next output arrives (less flicker in
/// animations). Outside the notebook it does nothing.
///
/// ```
/// multiproc::display::clear_output(true);
/// ```
pub fn clear_output(wait: bool) {
    if let Some(link) = kernel_link::link() {
        let _ = std::io::stdout().flush();
        let _ = link.send(&ToKernel::ClearOutput { wait });
    }
}

/// A display that can be replaced in place later (Jupyter's `display_id`): progress, a live
/// table of process states, and so on.
///
/// ```
/// use multiproc::display::DisplayHandle;
/// let status = DisplayHandle::new_html("<i>starting</i>");
/// status.update_html("<b>done</b>");
/// assert!(!status.id().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct DisplayHandle {
    id: String,
}

impl DisplayHandle {
    fn fresh_id() -> String {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        format!("multiproc-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Shows `html` and returns the handle that can replace it.
    ///
    /// ```
    /// let h = multiproc::display::DisplayHandle::new_html("<p>0%</p>");
    /// h.update_html("<p>100%</p>");
    /// ```
    pub fn new_html(html: &str) -> DisplayHandle {
        let handle = DisplayHandle { id: Self::fresh_id() };
        show(html_bundle(html), Some(&handle.id), false);
        handle
    }

    /// Shows plain `text` and returns the handle that can replace it.
    ///
    /// ```
    /// let h = multiproc::display::DisplayHandle::new_text("waiting");
    /// h.update_text("done");
    /// ```
    pub fn new_text(text: &str) -> DisplayHandle {
        let handle = DisplayHandle { id: Self::fresh_id() };
        show(text_bundle(text), Some(&handle.id), false);
        handle
    }

    /// Replaces the display's content with `html` (outside the notebook: prints it again).
    ///
    /// ```
    /// let h = multiproc::display::DisplayHandle::new_html("<p>old</p>");
    /// h.update_html("<p>new</p>");
    /// ```
    pub fn update_html(&self, html: &str) {
        show(html_bundle(html), Some(&self.id), true);
    }

    /// Replaces the display's content with an SVG image.
    ///
    /// ```
    /// let h = multiproc::display::DisplayHandle::new_text("drawing…");
    /// h.update_svg(r#"<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>"#);
    /// ```
    pub fn update_svg(&self, svg: &str) {
        show(svg_bundle(svg), Some(&self.id), true);
    }

    /// Replaces the display's content with plain `text`.
    ///
    /// ```
    /// let h = multiproc::display::DisplayHandle::new_text("1");
    /// h.update_text("2");
    /// ```
    pub fn update_text(&self, text: &str) {
        show(text_bundle(text), Some(&self.id), true);
    }

    /// The display id the notebook knows this display by.
    ///
    /// ```
    /// let a = multiproc::display::DisplayHandle::new_text("a");
    /// let b = multiproc::display::DisplayHandle::new_text("b");
    /// assert_ne!(a.id(), b.id());
    /// ```
    pub fn id(&self) -> &str {
        &self.id
    }
}
