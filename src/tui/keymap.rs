//! Every key binding, defined once: the handlers dispatch on this table, and the footer hints
//! and the help overlay are generated from it, so they cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::state::Toggle;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere, even while typing in the editor.
    Global,
    Picker,
    Transcript,
    Editor,
}

/// What a key does, grouped by what it acts on: `update` hands each group to its own handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    FocusNext,
    FocusPrev,
    /// Aborts what the server is doing, or else goes back to the scenario list.
    Escape,
    Open(Modal),
    /// F2 to F7: see [`TOGGLES`](super::state::TOGGLES).
    Toggle(Toggle),
    Run(RunAction),
    Picker(PickerAction),
    Transcript(TranscriptAction),
    Profile(ProfileAction),
    Editor(EditorAction),
}

/// A pane opened over the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modal {
    Help,
    Teaching,
    Capabilities,
}

/// The scenario run, or the connection under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunAction {
    Start,
    Skip,
    RunRest,
    Rset,
    Reconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PickerAction {
    Up,
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TranscriptAction {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Follow,
    RawView,
    Search,
    SearchNext,
    Export,
    ExportJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileAction {
    Next,
    Edit,
    New,
    Duplicate,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EditorAction {
    Send,
    HistoryPrev,
    HistoryNext,
}

pub struct Binding {
    pub scope: Scope,
    pub code: KeyCode,
    pub mods: KeyModifiers,
    pub action: Action,
    /// The key as shown to the user.
    pub key: &'static str,
    pub label: &'static str,
    /// Shown in the footer (the rest only in help).
    pub footer: bool,
}

const fn b(
    scope: Scope,
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    key: &'static str,
    label: &'static str,
    footer: bool,
) -> Binding {
    Binding {
        scope,
        code,
        mods,
        action,
        key,
        label,
        footer,
    }
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

pub const BINDINGS: &[Binding] = &[
    b(
        Scope::Global,
        KeyCode::Char('c'),
        CTRL,
        Action::Quit,
        "Ctrl-C",
        "quit",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(1),
        NONE,
        Action::Open(Modal::Help),
        "F1",
        "help",
        true,
    ),
    b(
        Scope::Global,
        KeyCode::Tab,
        NONE,
        Action::FocusNext,
        "Tab",
        "next pane",
        true,
    ),
    b(
        Scope::Global,
        KeyCode::BackTab,
        SHIFT,
        Action::FocusPrev,
        "Shift-Tab",
        "previous pane",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::Esc,
        NONE,
        Action::Escape,
        "Esc",
        "close / abort",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(2),
        NONE,
        Action::Toggle(Toggle::Tls),
        "F2",
        "TLS mode",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(3),
        NONE,
        Action::Toggle(Toggle::RequireTls),
        "F3",
        "require TLS",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(4),
        NONE,
        Action::Toggle(Toggle::Verify),
        "F4",
        "verification",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(5),
        NONE,
        Action::Toggle(Toggle::Auth),
        "F5",
        "AUTH on/off",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(6),
        NONE,
        Action::Toggle(Toggle::Mechanism),
        "F6",
        "AUTH mechanism",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(7),
        NONE,
        Action::Toggle(Toggle::SendData),
        "F7",
        "send data",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(8),
        NONE,
        Action::Transcript(TranscriptAction::Export),
        "F8",
        "export transcript (text)",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::F(9),
        NONE,
        Action::Transcript(TranscriptAction::ExportJson),
        "F9",
        "export transcript (JSON)",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::Char('n'),
        CTRL,
        Action::Run(RunAction::Skip),
        "Ctrl-N",
        "skip step",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::Char('r'),
        CTRL,
        Action::Run(RunAction::RunRest),
        "Ctrl-R",
        "run the remaining steps",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::Char('x'),
        CTRL,
        Action::Run(RunAction::Rset),
        "Ctrl-X",
        "RSET",
        false,
    ),
    b(
        Scope::Global,
        KeyCode::Char('l'),
        CTRL,
        Action::Run(RunAction::Reconnect),
        "Ctrl-L",
        "reconnect",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('q'),
        NONE,
        Action::Quit,
        "q",
        "quit",
        true,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('?'),
        NONE,
        Action::Open(Modal::Help),
        "?",
        "help",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Up,
        NONE,
        Action::Picker(PickerAction::Up),
        "Up/k",
        "select",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('k'),
        NONE,
        Action::Picker(PickerAction::Up),
        "k",
        "select up",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Down,
        NONE,
        Action::Picker(PickerAction::Down),
        "Down/j",
        "select",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('j'),
        NONE,
        Action::Picker(PickerAction::Down),
        "j",
        "select down",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Enter,
        NONE,
        Action::Run(RunAction::Start),
        "Enter",
        "start scenario",
        true,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('p'),
        NONE,
        Action::Profile(ProfileAction::Next),
        "p",
        "next profile",
        true,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('i'),
        NONE,
        Action::Open(Modal::Teaching),
        "i",
        "why / how to fix",
        true,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('c'),
        NONE,
        Action::Open(Modal::Capabilities),
        "c",
        "capabilities",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('e'),
        NONE,
        Action::Profile(ProfileAction::Edit),
        "e",
        "edit profile",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('a'),
        NONE,
        Action::Profile(ProfileAction::New),
        "a",
        "add profile",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('d'),
        NONE,
        Action::Profile(ProfileAction::Duplicate),
        "d",
        "duplicate profile",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('D'),
        SHIFT,
        Action::Profile(ProfileAction::Delete),
        "D",
        "delete profile",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('s'),
        NONE,
        Action::Run(RunAction::Skip),
        "s",
        "skip step",
        false,
    ),
    b(
        Scope::Picker,
        KeyCode::Char('r'),
        NONE,
        Action::Run(RunAction::RunRest),
        "r",
        "run the rest",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('q'),
        NONE,
        Action::Quit,
        "q",
        "quit",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('?'),
        NONE,
        Action::Open(Modal::Help),
        "?",
        "help",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::Up,
        NONE,
        Action::Transcript(TranscriptAction::Up),
        "Up/Down",
        "select line",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::Down,
        NONE,
        Action::Transcript(TranscriptAction::Down),
        "Down",
        "select line",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::PageUp,
        NONE,
        Action::Transcript(TranscriptAction::PageUp),
        "PgUp/PgDn",
        "scroll",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::PageDown,
        NONE,
        Action::Transcript(TranscriptAction::PageDown),
        "PgDn",
        "scroll",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::Home,
        NONE,
        Action::Transcript(TranscriptAction::Top),
        "Home",
        "top",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::End,
        NONE,
        Action::Transcript(TranscriptAction::Bottom),
        "End",
        "bottom",
        false,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('f'),
        NONE,
        Action::Transcript(TranscriptAction::Follow),
        "f",
        "follow",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('w'),
        NONE,
        Action::Transcript(TranscriptAction::RawView),
        "w",
        "raw bytes",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('/'),
        NONE,
        Action::Transcript(TranscriptAction::Search),
        "/",
        "search",
        true,
    ),
    b(
        Scope::Transcript,
        KeyCode::Char('n'),
        NONE,
        Action::Transcript(TranscriptAction::SearchNext),
        "n",
        "next match",
        false,
    ),
    b(
        Scope::Editor,
        KeyCode::Enter,
        NONE,
        Action::Editor(EditorAction::Send),
        "Enter",
        "send",
        true,
    ),
    b(
        Scope::Editor,
        KeyCode::Up,
        NONE,
        Action::Editor(EditorAction::HistoryPrev),
        "Up/Down",
        "history",
        true,
    ),
    b(
        Scope::Editor,
        KeyCode::Down,
        NONE,
        Action::Editor(EditorAction::HistoryNext),
        "Down",
        "history",
        false,
    ),
];

/// The action for a key in a scope: the scope's own bindings first, then the global ones.
pub fn lookup(scope: Scope, key: &KeyEvent) -> Option<Action> {
    let matches = |bd: &&Binding| {
        bd.code == key.code
            && (bd.mods == key.modifiers
                || (bd.mods == SHIFT && matches!(key.code, KeyCode::Char(_) | KeyCode::BackTab)))
    };
    BINDINGS
        .iter()
        .filter(|bd| bd.scope == scope)
        .find(matches)
        .or_else(|| {
            BINDINGS
                .iter()
                .filter(|bd| bd.scope == Scope::Global)
                .find(matches)
        })
        .map(|bd| bd.action)
}

/// The key for an action, as shown to the user: its first binding.
pub fn key_for(action: Action) -> Option<&'static str> {
    BINDINGS
        .iter()
        .find(|bd| bd.action == action)
        .map(|bd| bd.key)
}

/// Footer hints for a scope: its own footer bindings, then the global ones.
pub fn footer(scope: Scope) -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|bd| bd.footer && (bd.scope == scope || bd.scope == Scope::Global))
        .map(|bd| (bd.key, bd.label))
        .collect()
}

pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "Everywhere",
        Scope::Picker => "Scenario list",
        Scope::Transcript => "Transcript",
        Scope::Editor => "Command editor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_has_distinct_keys() {
        for scope in [
            Scope::Global,
            Scope::Picker,
            Scope::Transcript,
            Scope::Editor,
        ] {
            let keys: Vec<_> = BINDINGS
                .iter()
                .filter(|b| b.scope == scope)
                .map(|b| (b.code, b.mods))
                .collect();
            let mut dedup = keys.clone();
            dedup.sort_by_key(|k| format!("{k:?}"));
            dedup.dedup();
            assert_eq!(keys.len(), dedup.len(), "duplicate key in {scope:?}");
        }
    }

    #[test]
    fn scope_bindings_win_and_globals_apply_everywhere() {
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Picker, &q), Some(Action::Quit));
        assert_eq!(
            lookup(Scope::Editor, &q),
            None,
            "typing q in the editor is text"
        );
        let f1 = KeyEvent::new(KeyCode::F(1), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Editor, &f1), Some(Action::Open(Modal::Help)));
        let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        assert_eq!(
            lookup(Scope::Editor, &enter),
            Some(Action::Editor(EditorAction::Send))
        );
        assert_eq!(
            lookup(Scope::Picker, &enter),
            Some(Action::Run(RunAction::Start))
        );
        assert!(footer(Scope::Editor).iter().any(|(k, _)| *k == "Enter"));
    }

    #[test]
    fn every_toggle_has_one_description_and_a_key_everywhere() {
        use crate::tui::state::TOGGLES;
        for t in [
            Toggle::Tls,
            Toggle::RequireTls,
            Toggle::Verify,
            Toggle::Auth,
            Toggle::Mechanism,
            Toggle::SendData,
        ] {
            assert_eq!(TOGGLES.iter().filter(|s| s.toggle == t).count(), 1, "{t:?}");
            let bound = BINDINGS
                .iter()
                .find(|b| b.action == Action::Toggle(t))
                .expect("bound");
            assert_eq!(bound.scope, Scope::Global, "{t:?}");
        }
        assert_eq!(key_for(Action::Toggle(Toggle::Tls)), Some("F2"));
    }
}
