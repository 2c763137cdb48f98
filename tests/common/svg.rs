//! A ratatui buffer as an SVG picture, colours and all: the README's screenshots are drawn
//! from the same TestBackend buffers as the snapshot tests, so they show what the code draws.

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

const CELL_W: f32 = 8.4;
const CELL_H: f32 = 17.0;
const FONT: &str = "'DejaVu Sans Mono', 'Cascadia Mono', Menlo, Consolas, monospace";
const BG: &str = "#1e1e2e";
const FG: &str = "#d4d4d4";

fn hex(c: Color, default: &str) -> String {
    let named = match c {
        Color::Reset => return default.to_string(),
        Color::Black => "#000000",
        Color::Red => "#e06c75",
        Color::Green => "#98c379",
        Color::Yellow => "#e5c07b",
        Color::Blue => "#61afef",
        Color::Magenta => "#c678dd",
        Color::Cyan => "#56b6c2",
        Color::Gray => "#abb2bf",
        Color::DarkGray => "#7f848e",
        Color::LightRed => "#ff7b86",
        Color::LightGreen => "#b5e890",
        Color::LightYellow => "#ffd68a",
        Color::LightBlue => "#8cc8ff",
        Color::LightMagenta => "#e0a0ff",
        Color::LightCyan => "#8be9fd",
        Color::White => "#ffffff",
        Color::Rgb(r, g, b) => return format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => return indexed(i),
    };
    named.to_string()
}

/// The xterm 256-colour palette: 16 named, a 6x6x6 cube, 24 greys.
fn indexed(i: u8) -> String {
    match i {
        0..=15 => hex(
            [
                Color::Black,
                Color::Red,
                Color::Green,
                Color::Yellow,
                Color::Blue,
                Color::Magenta,
                Color::Cyan,
                Color::Gray,
                Color::DarkGray,
                Color::LightRed,
                Color::LightGreen,
                Color::LightYellow,
                Color::LightBlue,
                Color::LightMagenta,
                Color::LightCyan,
                Color::White,
            ][usize::from(i)],
            FG,
        ),
        16..=231 => {
            let n = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            format!(
                "#{:02x}{:02x}{:02x}",
                level(n / 36),
                level((n / 6) % 6),
                level(n % 6)
            )
        }
        _ => {
            let g = 8 + (i - 232) * 10;
            format!("#{g:02x}{g:02x}{g:02x}")
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[derive(PartialEq, Clone)]
struct Look {
    fg: String,
    bg: Option<String>,
    bold: bool,
    underline: bool,
}

fn look(cell: &ratatui::buffer::Cell) -> Look {
    let mut fg = hex(cell.fg, FG);
    let mut bg = match cell.bg {
        Color::Reset => None,
        c => Some(hex(c, BG)),
    };
    if cell.modifier.contains(Modifier::REVERSED) {
        let new_bg = fg.clone();
        fg = bg.unwrap_or_else(|| BG.to_string());
        bg = Some(new_bg);
    }
    Look {
        fg,
        bg,
        bold: cell.modifier.contains(Modifier::BOLD),
        underline: cell.modifier.contains(Modifier::UNDERLINED),
    }
}

/// The buffer as an SVG document titled `title`.
pub fn render(buf: &Buffer, title: &str) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let width = f32::from(w) * CELL_W + 16.0;
    let height = f32::from(h) * CELL_H + 16.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\" aria-label=\"{}\">\n<title>{}</title>\n<rect width=\"100%\" height=\"100%\" rx=\"6\" fill=\"{BG}\"/>\n<g transform=\"translate(8 8)\" font-family=\"{FONT}\" font-size=\"14\">\n",
        escape(title),
        escape(title)
    );
    for y in 0..h {
        // Runs of cells that look the same, each drawn at its own column so that a font with
        // other metrics cannot shift what follows.
        let mut x = 0;
        while x < w {
            let first = look(&buf[(x, y)]);
            let start = x;
            let mut text = String::new();
            while x < w && look(&buf[(x, y)]) == first {
                text.push_str(buf[(x, y)].symbol());
                x += 1;
            }
            let cols = x - start;
            let px = f32::from(start) * CELL_W;
            let py = f32::from(y) * CELL_H;
            if let Some(bg) = &first.bg {
                out.push_str(&format!(
                    "<rect x=\"{px:.1}\" y=\"{py:.1}\" width=\"{:.1}\" height=\"{CELL_H}\" fill=\"{bg}\"/>\n",
                    f32::from(cols) * CELL_W
                ));
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut attrs = format!("fill=\"{}\"", first.fg);
            if first.bold {
                attrs.push_str(" font-weight=\"bold\"");
            }
            if first.underline {
                attrs.push_str(" text-decoration=\"underline\"");
            }
            out.push_str(&format!(
                "<text x=\"{px:.1}\" y=\"{:.1}\" textLength=\"{:.1}\" lengthAdjust=\"spacingAndGlyphs\" xml:space=\"preserve\" {attrs}>{}</text>\n",
                py + CELL_H * 0.75,
                f32::from(cols) * CELL_W,
                escape(&text)
            ));
        }
    }
    out.push_str("</g>\n</svg>\n");
    out
}
