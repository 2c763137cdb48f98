//! The command palette (Ctrl-P): every action of the main screen by name, with its keys,
//! filtered as one types. It is the way to an action whose key would type into the editor
//! (`p`, `v`, `q` there are letters), and a list of the keys for whoever forgot one. Built from
//! the one key table, so it can never offer a key that does something else.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keymap::{Action, BINDINGS, Scope};

/// The palette's state: what is typed, and which of the matching actions is selected.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Palette {
    pub query: String,
    pub selected: usize,
}

/// One action as the palette lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub action: Action,
    /// Where its keys work: running it from the palette moves the focus there first.
    pub scope: Scope,
    /// Every key for it, joined: "q/Ctrl-C".
    pub keys: String,
    pub label: &'static str,
}

/// What the palette did with a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stay,
    Close,
    Run(Entry),
}

/// Every action of the main screen, once, in key-table order, with all its keys.
pub fn entries() -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for bd in BINDINGS {
        if !matches!(
            bd.scope,
            Scope::Global | Scope::Picker | Scope::Transcript | Scope::Editor
        ) || bd.action == Action::Palette
        {
            continue;
        }
        match out.iter_mut().find(|e| e.action == bd.action) {
            Some(e) => {
                if !e.keys.split('/').any(|k| k == bd.key) {
                    e.keys.push('/');
                    e.keys.push_str(bd.key);
                }
            }
            None => out.push(Entry {
                action: bd.action,
                scope: bd.scope,
                keys: bd.key.to_string(),
                label: bd.label,
            }),
        }
    }
    out
}

/// How well `query` matches `text` as a subsequence, ignoring case: `None` when it does not;
/// a lower score for letters closer together and earlier.
fn fuzzy(query: &str, text: &str) -> Option<usize> {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let mut at = 0;
    let mut score = 0;
    let mut last: Option<usize> = None;
    for q in query.to_lowercase().chars().filter(|c| !c.is_whitespace()) {
        let found = text[at..].iter().position(|&c| c == q)? + at;
        score += match last {
            Some(l) => found - l - 1,
            None => found,
        };
        last = Some(found);
        at = found + 1;
    }
    Some(score)
}

/// The entries matching `query` (by name or key), best first; all of them for an empty query.
pub fn filtered(query: &str) -> Vec<Entry> {
    let mut scored: Vec<(usize, usize, Entry)> = entries()
        .into_iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let by_label = fuzzy(query, e.label);
            let by_key = fuzzy(query, &e.keys);
            by_label.or(by_key).map(|s| (s, i, e))
        })
        .collect();
    scored.sort_by_key(|(s, i, _)| (*s, *i));
    scored.into_iter().map(|(_, _, e)| e).collect()
}

impl Palette {
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        let shown = filtered(&self.query);
        match key.code {
            KeyCode::Esc => Outcome::Close,
            KeyCode::Char('p') if key.modifiers.contains(KeyModifiers::CONTROL) => Outcome::Close,
            KeyCode::Enter => shown
                .get(self.selected)
                .cloned()
                .map_or(Outcome::Stay, Outcome::Run),
            KeyCode::Up => {
                self.selected = self.selected.saturating_sub(1);
                Outcome::Stay
            }
            KeyCode::Down => {
                self.selected = (self.selected + 1).min(shown.len().saturating_sub(1));
                Outcome::Stay
            }
            KeyCode::Backspace => {
                self.query.pop();
                self.selected = 0;
                Outcome::Stay
            }
            KeyCode::Char(c)
                if (key.modifiers - KeyModifiers::SHIFT).is_empty() && !c.is_control() =>
            {
                if self.query.chars().count() < 40 {
                    self.query.push(c);
                }
                self.selected = 0;
                Outcome::Stay
            }
            _ => Outcome::Stay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::keymap::{CopyWhat, Modal};

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    #[test]
    fn every_action_of_the_main_screen_is_listed_once_with_all_its_keys() {
        let all = entries();
        let quit = all.iter().find(|e| e.action == Action::Quit).expect("quit");
        assert!(quit.keys.contains("Ctrl-C") && quit.keys.contains('q'));
        for (i, e) in all.iter().enumerate() {
            assert!(
                all[i + 1..].iter().all(|o| o.action != e.action),
                "{e:?} twice"
            );
        }
        assert!(all.iter().any(|e| e.action == Action::Open(Modal::Compare)));
        assert!(
            all.iter()
                .any(|e| e.action == Action::Copy(CopyWhat::Command))
        );
        assert!(all.iter().all(|e| e.action != Action::Palette));
    }

    #[test]
    fn typing_filters_fuzzily_and_enter_runs_the_selected() {
        let mut p = Palette::default();
        for c in "cmpr".chars() {
            assert_eq!(p.on_key(key(KeyCode::Char(c))), Outcome::Stay);
        }
        match p.on_key(key(KeyCode::Enter)) {
            Outcome::Run(e) => assert_eq!(e.action, Action::Open(Modal::Compare), "{e:?}"),
            o => panic!("{o:?}"),
        }
        let mut p = Palette::default();
        for c in "zzzq".chars() {
            p.on_key(key(KeyCode::Char(c)));
        }
        assert!(filtered(&p.query).is_empty());
        assert_eq!(p.on_key(key(KeyCode::Enter)), Outcome::Stay);
        assert_eq!(p.on_key(key(KeyCode::Esc)), Outcome::Close);
    }
}
