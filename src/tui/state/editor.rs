//! The command editor: one line of text, and the commands sent before it.

use ratatui::crossterm::event::KeyEvent;
use ratatui::style::{Modifier, Style};
use ratatui_textarea::TextArea;

#[derive(Debug)]
pub struct Editor {
    area: TextArea<'static>,
    history: Vec<String>,
    /// Where Up/Down are in the history; none while editing a new line.
    history_pos: Option<usize>,
}

impl Default for Editor {
    fn default() -> Editor {
        Editor {
            area: empty_area(),
            history: Vec::new(),
            history_pos: None,
        }
    }
}

fn empty_area() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("type an SMTP command, or pick a scenario and press Enter");
    // Dim rather than grey, so the placeholder stays readable under NO_COLOR.
    t.set_placeholder_style(Style::default().add_modifier(Modifier::DIM));
    t.set_cursor_line_style(Style::default());
    t
}

impl Editor {
    /// What to draw.
    pub fn widget(&self) -> &TextArea<'static> {
        &self.area
    }

    pub fn text(&self) -> String {
        self.area.lines().join("")
    }

    /// Replaces the text, the cursor at its end.
    pub fn set(&mut self, text: &str) {
        let mut t = empty_area();
        t.insert_str(text);
        self.area = t;
    }

    pub fn clear(&mut self) {
        self.area = empty_area();
    }

    /// Empty, saying in place of the placeholder what Enter will do: a step that is not a
    /// command is never put in the editor as text that could be sent.
    pub fn await_step(&mut self, what: &str) {
        let mut t = empty_area();
        t.set_placeholder_text(what);
        self.area = t;
    }

    pub fn input(&mut self, key: KeyEvent) {
        self.area.input(key);
    }

    /// The text, kept in the history unless blank or the same as the last entry. The text
    /// stays in the editor: a command that cannot be sent is left there to fix.
    pub fn submit(&mut self) -> String {
        let text = self.text();
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        self.history_pos = None;
        text
    }

    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let pos = match self.history_pos {
            None => self.history.len() - 1,
            Some(p) => p.saturating_sub(1),
        };
        self.history_pos = Some(pos);
        let text = self.history[pos].clone();
        self.set(&text);
    }

    /// The next newer command, or an empty line past the newest.
    pub fn history_next(&mut self) {
        match self.history_pos {
            Some(p) if p + 1 < self.history.len() => {
                self.history_pos = Some(p + 1);
                let text = self.history[p + 1].clone();
                self.set(&text);
            }
            _ => {
                self.history_pos = None;
                self.clear();
            }
        }
    }
}
