//! Every key binding, defined once: the handlers dispatch on this table, and the footer hints
//! and the help overlay are generated from it, so they cannot drift apart.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use super::copy::CopyWhat;
use super::state::Toggle;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere, even while typing in the editor.
    Global,
    Picker,
    Transcript,
    Editor,
    /// A pane over the main screen that scrolls (help, capabilities, explanations).
    Overlay,
    /// The profile list.
    Profiles,
    /// The compare view, on top of the keys of a pane over the screen.
    Compare,
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
    /// In a pane over the main screen.
    Scroll(ScrollAction),
    /// To the terminal's clipboard (OSC 52) or a file.
    Copy(CopyWhat),
    /// The command palette: every action by name.
    Palette,
    /// The reply-code strip whole, or back to two rows.
    ExpandStrip,
}

/// Moving through a pane over the main screen, or closing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScrollAction {
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Close,
    /// The compare view: another profile on the right.
    Previous,
    Next,
    /// Search the pane (`/`), and on to the next match (`n`).
    Search,
    SearchNext,
}

/// A pane opened over the main screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modal {
    Help,
    Teaching,
    Capabilities,
    Compare,
    Tls,
    History,
    Watch,
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
    Follow,
    /// Long lines wrapped, or cut at the pane's edge.
    Wrap,
    Left,
    Right,
    RawView,
    Search,
    SearchNext,
    Export,
    ExportJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileAction {
    /// Opens the profile list (and reads the config directory again).
    List,
    Edit,
    Up,
    Down,
    Use,
    New,
    Rename,
    Duplicate,
    Delete,
    /// Brings the profile deleted last back from the trash folder.
    Undo,
    Close,
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
    /// The label when room is short (the footer at 80 columns).
    pub short: &'static str,
    /// The footer shows this hint while there is room, most important first: 0 keeps it to
    /// the help, 1 is dropped last.
    pub footer: u8,
}

impl Binding {
    /// In the footer with this priority (1 is dropped last) and short label.
    const fn foot(self, priority: u8, short: &'static str) -> Binding {
        Binding {
            footer: priority,
            short,
            ..self
        }
    }
}

const fn b(
    scope: Scope,
    code: KeyCode,
    mods: KeyModifiers,
    action: Action,
    key: &'static str,
    label: &'static str,
) -> Binding {
    Binding {
        scope,
        code,
        mods,
        action,
        key,
        label,
        short: label,
        footer: 0,
    }
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;

use KeyCode::{BackTab, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up};
use Scope::{Editor, Global, Overlay as Over, Picker, Profiles as Profs, Transcript};

/// Keys that share a label are listed together in the help and the footer ("Up/k select").
/// One binding a line, so the table reads as a table.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    b(Global, Char('c'), CTRL, Action::Quit, "Ctrl-C", "quit"),
    b(Global, KeyCode::F(1), NONE, Action::Open(Modal::Help), "F1", "help").foot(1, "help"),
    b(Global, Char('p'), CTRL, Action::Palette, "Ctrl-P", "all actions by name (palette)").foot(2, "actions"),
    b(Global, Tab, NONE, Action::FocusNext, "Tab", "next pane").foot(2, "pane"),
    b(Global, BackTab, SHIFT, Action::FocusPrev, "Shift-Tab", "previous pane"),
    b(Global, Esc, NONE, Action::Escape, "Esc", "close / abort"),
    b(Global, KeyCode::F(2), NONE, Action::Toggle(Toggle::Tls), "F2", "TLS mode"),
    b(Global, KeyCode::F(3), NONE, Action::Toggle(Toggle::RequireTls), "F3", "require TLS"),
    b(Global, KeyCode::F(4), NONE, Action::Toggle(Toggle::Verify), "F4", "verification"),
    b(Global, KeyCode::F(5), NONE, Action::Toggle(Toggle::Auth), "F5", "AUTH on/off"),
    b(Global, KeyCode::F(6), NONE, Action::Toggle(Toggle::Mechanism), "F6", "AUTH mechanism"),
    b(Global, KeyCode::F(7), NONE, Action::Toggle(Toggle::SendData), "F7", "send data"),
    b(Global, KeyCode::F(8), NONE, Action::Transcript(TranscriptAction::Export), "F8", "export transcript (text)"),
    b(Global, KeyCode::F(9), NONE, Action::Transcript(TranscriptAction::ExportJson), "F9", "export transcript (JSON)"),
    b(Global, Char('n'), CTRL, Action::Run(RunAction::Skip), "Ctrl-N", "skip step"),
    b(Global, Char('r'), CTRL, Action::Run(RunAction::RunRest), "Ctrl-R", "run the remaining steps"),
    b(Global, Char('x'), CTRL, Action::Run(RunAction::Rset), "Ctrl-X", "RSET"),
    b(Global, Char('l'), CTRL, Action::Run(RunAction::Reconnect), "Ctrl-L", "reconnect"),
    b(Global, Char('y'), CTRL, Action::Copy(CopyWhat::Run), "Ctrl-Y", "copy the whole run (clipboard)"),
    b(Global, Char('o'), CTRL, Action::Copy(CopyWhat::RunToFile), "Ctrl-O", "write the whole run to a file"),
    b(Picker, Char('q'), NONE, Action::Quit, "q", "quit").foot(1, "quit"),
    b(Picker, Char('?'), NONE, Action::Open(Modal::Help), "?", "help"),
    b(Picker, Up, NONE, Action::Picker(PickerAction::Up), "Up", "select scenario"),
    b(Picker, Down, NONE, Action::Picker(PickerAction::Down), "Down", "select scenario"),
    b(Picker, Char('k'), NONE, Action::Picker(PickerAction::Up), "k", "select scenario"),
    b(Picker, Char('j'), NONE, Action::Picker(PickerAction::Down), "j", "select scenario"),
    b(Picker, Enter, NONE, Action::Run(RunAction::Start), "Enter", "start scenario").foot(1, "run"),
    b(Picker, Char('r'), NONE, Action::Run(RunAction::RunRest), "r", "run the rest").foot(4, "rest"),
    b(Picker, Char('s'), NONE, Action::Run(RunAction::Skip), "s", "skip step"),
    b(Picker, Char('i'), NONE, Action::Open(Modal::Teaching), "i", "why / how to fix").foot(2, "why"),
    b(Picker, Char('c'), NONE, Action::Open(Modal::Capabilities), "c", "capabilities").foot(5, "caps"),
    b(Picker, Char('t'), NONE, Action::Open(Modal::Tls), "t", "TLS session and certificate chain"),
    b(Picker, Char('p'), NONE, Action::Profile(ProfileAction::List), "p", "profiles (pick, add, rename…)").foot(3, "profiles"),
    b(Picker, Char('e'), NONE, Action::Profile(ProfileAction::Edit), "e", "edit profile"),
    b(Picker, Char('v'), NONE, Action::Open(Modal::Compare), "v", "compare two profiles' runs").foot(4, "compare"),
    b(Picker, Char('H'), SHIFT, Action::Open(Modal::History), "H", "this profile's run history: what changed"),
    b(Picker, Char('w'), NONE, Action::Open(Modal::Watch), "w", "watch the profile's mail log (log_file)"),
    b(Picker, Char('C'), SHIFT, Action::Copy(CopyWhat::Command), "C", "copy as command (check, swaks)"),
    b(Picker, Char('Y'), SHIFT, Action::Copy(CopyWhat::Session), "Y", "copy the last session"),
    b(Transcript, Char('q'), NONE, Action::Quit, "q", "quit"),
    b(Transcript, Char('?'), NONE, Action::Open(Modal::Help), "?", "help"),
    b(Transcript, Up, NONE, Action::Transcript(TranscriptAction::Up), "Up", "select line").foot(1, "select"),
    b(Transcript, Down, NONE, Action::Transcript(TranscriptAction::Down), "Down", "select line"),
    b(Transcript, Char('k'), NONE, Action::Transcript(TranscriptAction::Up), "k", "select line"),
    b(Transcript, Char('j'), NONE, Action::Transcript(TranscriptAction::Down), "j", "select line"),
    b(Transcript, PageUp, NONE, Action::Transcript(TranscriptAction::PageUp), "PgUp", "scroll a page").foot(4, "page"),
    b(Transcript, PageDown, NONE, Action::Transcript(TranscriptAction::PageDown), "PgDn", "scroll a page"),
    b(Transcript, Home, NONE, Action::Transcript(TranscriptAction::Top), "Home", "top"),
    b(Transcript, End, NONE, Action::Transcript(TranscriptAction::Follow), "End", "follow new lines").foot(2, "follow"),
    b(Transcript, Char('f'), NONE, Action::Transcript(TranscriptAction::Follow), "f", "follow new lines"),
    b(Transcript, Char('z'), NONE, Action::Transcript(TranscriptAction::Wrap), "z", "wrap / truncate long lines").foot(3, "wrap"),
    b(Transcript, Left, NONE, Action::Transcript(TranscriptAction::Left), "Left", "scroll sideways (truncated lines)"),
    b(Transcript, Right, NONE, Action::Transcript(TranscriptAction::Right), "Right", "scroll sideways (truncated lines)"),
    b(Transcript, Char('h'), NONE, Action::Transcript(TranscriptAction::Left), "h", "scroll sideways (truncated lines)"),
    b(Transcript, Char('l'), NONE, Action::Transcript(TranscriptAction::Right), "l", "scroll sideways (truncated lines)"),
    b(Transcript, Char('w'), NONE, Action::Transcript(TranscriptAction::RawView), "w", "raw bytes").foot(5, "raw"),
    b(Transcript, Char('/'), NONE, Action::Transcript(TranscriptAction::Search), "/", "search").foot(3, "search"),
    b(Transcript, Char('n'), NONE, Action::Transcript(TranscriptAction::SearchNext), "n", "next match"),
    b(Transcript, Char('y'), NONE, Action::Copy(CopyWhat::Line), "y", "copy the line (clipboard)").foot(4, "copy"),
    b(Transcript, Char('Y'), SHIFT, Action::Copy(CopyWhat::Session), "Y", "copy this session"),
    b(Transcript, Char('C'), SHIFT, Action::Copy(CopyWhat::Command), "C", "copy as command (check, swaks)"),
    b(Transcript, Char('m'), NONE, Action::ExpandStrip, "m", "the reply's meaning whole / in two rows"),
    b(Editor, Enter, NONE, Action::Editor(EditorAction::Send), "Enter", "send").foot(1, "send"),
    b(Editor, Up, NONE, Action::Editor(EditorAction::HistoryPrev), "Up", "history").foot(3, "history"),
    b(Editor, Down, NONE, Action::Editor(EditorAction::HistoryNext), "Down", "history"),
    b(Over, Up, NONE, Action::Scroll(ScrollAction::Up), "Up", "scroll").foot(2, "scroll"),
    b(Over, Down, NONE, Action::Scroll(ScrollAction::Down), "Down", "scroll"),
    b(Over, Char('k'), NONE, Action::Scroll(ScrollAction::Up), "k", "scroll"),
    b(Over, Char('j'), NONE, Action::Scroll(ScrollAction::Down), "j", "scroll"),
    b(Over, PageUp, NONE, Action::Scroll(ScrollAction::PageUp), "PgUp", "scroll a page").foot(3, "page"),
    b(Over, PageDown, NONE, Action::Scroll(ScrollAction::PageDown), "PgDn", "scroll a page"),
    b(Over, Char(' '), NONE, Action::Scroll(ScrollAction::PageDown), "Space", "scroll a page"),
    b(Over, Home, NONE, Action::Scroll(ScrollAction::Top), "Home", "top").foot(4, "top"),
    b(Over, End, NONE, Action::Scroll(ScrollAction::Bottom), "End", "end").foot(4, "end"),
    b(Over, Esc, NONE, Action::Scroll(ScrollAction::Close), "Esc", "close").foot(1, "close"),
    b(Over, Char('/'), NONE, Action::Scroll(ScrollAction::Search), "/", "search the pane"),
    b(Over, Char('n'), NONE, Action::Scroll(ScrollAction::SearchNext), "n", "next match"),
    b(Over, Char('q'), NONE, Action::Scroll(ScrollAction::Close), "q", "close"),
    b(Scope::Compare, Left, NONE, Action::Scroll(ScrollAction::Previous), "Left", "another profile on the right").foot(2, "other profile"),
    b(Scope::Compare, Right, NONE, Action::Scroll(ScrollAction::Next), "Right", "another profile on the right"),
    b(Scope::Compare, Char('h'), NONE, Action::Scroll(ScrollAction::Previous), "h", "another profile on the right"),
    b(Scope::Compare, Char('l'), NONE, Action::Scroll(ScrollAction::Next), "l", "another profile on the right"),
    b(Profs, Up, NONE, Action::Profile(ProfileAction::Up), "Up", "select profile").foot(3, "select"),
    b(Profs, Down, NONE, Action::Profile(ProfileAction::Down), "Down", "select profile"),
    b(Profs, Char('k'), NONE, Action::Profile(ProfileAction::Up), "k", "select profile"),
    b(Profs, Char('j'), NONE, Action::Profile(ProfileAction::Down), "j", "select profile"),
    b(Profs, Enter, NONE, Action::Profile(ProfileAction::Use), "Enter", "use it").foot(1, "use"),
    b(Profs, Char('n'), NONE, Action::Profile(ProfileAction::New), "n", "new profile (asks its name)").foot(2, "new"),
    b(Profs, Char('r'), NONE, Action::Profile(ProfileAction::Rename), "r", "rename").foot(2, "rename"),
    b(Profs, Char('e'), NONE, Action::Profile(ProfileAction::Edit), "e", "edit").foot(3, "edit"),
    b(Profs, Char('d'), NONE, Action::Profile(ProfileAction::Duplicate), "d", "duplicate").foot(4, "dup"),
    b(Profs, Char('D'), SHIFT, Action::Profile(ProfileAction::Delete), "D", "delete (to the trash folder)").foot(4, "del"),
    b(Profs, Char('u'), NONE, Action::Profile(ProfileAction::Undo), "u", "undo delete").foot(4, "undo"),
    b(Profs, Esc, NONE, Action::Profile(ProfileAction::Close), "Esc", "close").foot(1, "close"),
    b(Profs, Char('q'), NONE, Action::Profile(ProfileAction::Close), "q", "close"),
];

/// The action for a key in a scope: the scope's own bindings first, then the global ones
/// (not over an overlay, which takes only its own keys).
pub fn lookup(scope: Scope, key: &KeyEvent) -> Option<Action> {
    let matches = |bd: &&Binding| {
        bd.code == key.code
            && (bd.mods == key.modifiers
                || (bd.mods == SHIFT && matches!(key.code, KeyCode::Char(_) | KeyCode::BackTab)))
    };
    let own = BINDINGS.iter().filter(|bd| bd.scope == scope).find(matches);
    match scope {
        Scope::Overlay | Scope::Profiles => return own.map(|bd| bd.action),
        // The compare view also scrolls and closes like any pane.
        Scope::Compare => {
            return own
                .map(|bd| bd.action)
                .or_else(|| lookup(Scope::Overlay, key));
        }
        _ => {}
    }
    own.or_else(|| {
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

/// Keys that do one thing, as the help and the footer show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// Every key of the group, joined: "Up/Down/k/j".
    pub keys: String,
    /// The same keys, one by one.
    pub key_list: Vec<&'static str>,
    pub label: &'static str,
    pub short: &'static str,
    /// The footer's priority (0: help only).
    pub priority: u8,
}

/// A scope's bindings grouped by label, in table order: each key and each label once.
pub fn hints(scope: Scope) -> Vec<Hint> {
    let mut out: Vec<(Vec<&'static str>, &Binding)> = Vec::new();
    for bd in BINDINGS.iter().filter(|bd| bd.scope == scope) {
        match out.iter_mut().find(|(_, first)| first.label == bd.label) {
            Some((keys, first)) => {
                keys.push(bd.key);
                if first.footer == 0 || (bd.footer != 0 && bd.footer < first.footer) {
                    *first = bd;
                }
            }
            None => out.push((vec![bd.key], bd)),
        }
    }
    out.into_iter()
        .map(|(keys, bd)| Hint {
            keys: keys.join("/"),
            key_list: keys,
            label: bd.label,
            short: bd.short,
            priority: bd.footer,
        })
        .collect()
}

/// Footer hints for a scope: its own, then the global ones; at most two keys of a group
/// ("Up/Down"), the rest are in the help.
pub fn footer(scope: Scope) -> Vec<Hint> {
    let mut out: Vec<Hint> = hints(scope);
    match scope {
        Scope::Overlay | Scope::Profiles => {}
        Scope::Compare => out.extend(hints(Scope::Overlay)),
        _ => out.extend(hints(Scope::Global)),
    }
    out.retain(|h| h.priority > 0);
    for h in &mut out {
        h.key_list.truncate(2);
        h.keys = h.key_list.join("/");
    }
    out
}

/// The footer while a scenario's step waits in the editor: what to do with the step (a
/// command is sent; a local check or an exchange smtpscope carries out is run).
pub fn step_footer(command: bool) -> Vec<Hint> {
    let hint = |action: Action, label: &'static str, short: &'static str, priority: u8| Hint {
        keys: key_for(action).unwrap_or_default().to_string(),
        key_list: key_for(action).into_iter().collect(),
        label,
        short,
        priority,
    };
    vec![
        hint(
            Action::Editor(EditorAction::Send),
            if command {
                "send the step"
            } else {
                "run the step"
            },
            if command { "send" } else { "run" },
            1,
        ),
        hint(Action::Run(RunAction::Skip), "skip it", "skip", 2),
        hint(Action::Run(RunAction::RunRest), "run the rest", "rest", 2),
        hint(Action::Escape, "abort", "abort", 1),
        hint(Action::Open(Modal::Help), "help", "help", 3),
    ]
}

pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Global => "Everywhere",
        Scope::Picker => "Scenario list",
        Scope::Transcript => "Transcript",
        Scope::Editor => "Command editor",
        Scope::Overlay => "Help, capabilities, explanations (panes over the screen)",
        Scope::Profiles => "Profile list (p)",
        Scope::Compare => "Compare view (v)",
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
            Scope::Overlay,
            Scope::Profiles,
            Scope::Compare,
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
        assert!(footer(Scope::Editor).iter().any(|h| h.keys == "Enter"));
        // Over an overlay, only its own keys: F2 does not change a toggle behind it.
        let f2 = KeyEvent::new(KeyCode::F(2), KeyModifiers::NONE);
        assert_eq!(lookup(Scope::Overlay, &f2), None);
        assert_eq!(
            lookup(Scope::Overlay, &q),
            Some(Action::Scroll(ScrollAction::Close))
        );
    }

    #[test]
    fn the_help_lists_each_key_and_each_label_once_per_scope() {
        for scope in [
            Scope::Global,
            Scope::Picker,
            Scope::Transcript,
            Scope::Editor,
            Scope::Overlay,
            Scope::Profiles,
            Scope::Compare,
        ] {
            let hs = hints(scope);
            let mut labels: Vec<_> = hs.iter().map(|h| h.label).collect();
            labels.sort_unstable();
            let n = labels.len();
            labels.dedup();
            assert_eq!(n, labels.len(), "a label twice in {scope:?}");
            let mut keys: Vec<&str> = hs.iter().flat_map(|h| h.key_list.clone()).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(n, keys.len(), "a key twice in {scope:?}: {hs:?}");
        }
        let picker = hints(Scope::Picker);
        assert!(
            picker
                .iter()
                .any(|h| h.keys == "Up/Down/k/j" && h.label == "select scenario"),
            "{picker:?}"
        );
    }

    #[test]
    fn the_step_footer_names_skip_run_the_rest_and_abort() {
        let keys: Vec<String> = step_footer(true).into_iter().map(|h| h.keys).collect();
        for k in ["Enter", "Ctrl-N", "Ctrl-R", "Esc"] {
            assert!(keys.iter().any(|x| x == k), "{k} in {keys:?}");
        }
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
