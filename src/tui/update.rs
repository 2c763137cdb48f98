//! `update`: the only place state changes. It does no I/O; it returns effects.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind};

use super::copy::{self, CopyWhat};
use super::keymap::{
    Action, EditorAction, Modal, PickerAction, ProfileAction, RunAction, Scope, ScrollAction,
    TranscriptAction, lookup,
};
use super::masked::MaskedInput;
use super::message::{Effect, Message, NetEvent, Target};
use super::palette::{Outcome as PaletteOutcome, Palette};
use super::state::{
    CloseReason, ConnPhase, Focus, Mode, NameFor, Naming, Overlay, PendingAfterPassword,
    ProfilePicker, Refusal, Run, Scroll, State, Toggle, domain_check_of,
};
use super::worker::WorkerError;
use crate::profile::Profile;
use crate::run::DomainCheck;
use crate::scenario::Scenario;
use crate::scenario::model::{Requirement, unescape};
use crate::scenario::runner::StepKind;
use crate::scenario::vars::Vars;
use crate::secret::SecretError;
use crate::smtp::auth::Mechanism;
use crate::target::TargetError;

pub fn update(state: &mut State, msg: Message) -> Vec<Effect> {
    match msg {
        Message::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        Message::Key(key) => on_key(state, key),
        Message::Mouse(m) => {
            // The wheel scrolls the pane over the screen when there is one.
            // A click on a pane of the main screen focuses it.
            if let MouseEventKind::Down(ratatui::crossterm::event::MouseButton::Left) = m.kind
                && state.overlay.is_none()
                && !state.transcript.typing_search()
                && let Some(f) = state.panes.get().focus_at(m.column, m.row)
            {
                state.focus = f;
                return Vec::new();
            }
            match (m.kind, state.overlay.as_mut().and_then(Overlay::scroll_mut)) {
                (MouseEventKind::ScrollUp, Some(s)) => s.up(3),
                (MouseEventKind::ScrollDown, Some(s)) => s.down(3),
                (MouseEventKind::ScrollUp, None) => state.transcript.scroll_up(3),
                (MouseEventKind::ScrollDown, None) => state.transcript.scroll_down(3),
                _ => {}
            }
            Vec::new()
        }
        Message::Resize => Vec::new(),
        Message::Terminate(signal) => {
            state.mode = Mode::Quitting { interrupted: false };
            notice(state, format!("{signal}: quitting"));
            vec![Effect::Abort]
        }
        Message::Net(ev) => on_net(state, *ev),
        Message::StartScenario { run_all } => start_scenario(state, run_all),
    }
}

fn scope(state: &State) -> Scope {
    match state.focus {
        Focus::Picker => Scope::Picker,
        Focus::Transcript => Scope::Transcript,
        Focus::Editor => Scope::Editor,
    }
}

// The notice line says what the last thing that happened did, and nothing older:
// - each report from the worker with something to say (a step hint, a verdict, news, an error,
//   an export, a profile saved) replaces it, except that a step hint does not replace an error,
//   which the operator has not acted on yet;
// - each thing the operator sends to the server (a step, a skip, the rest of a run, RSET, a
//   command, AUTH) clears it, so that no notice outlives the exchange it was about, and each
//   other action that changes something (a start, an abort, a switch, a toggle) replaces it;
// - a connection that becomes authenticated replaces it ("authenticated as bob"): an error
//   from an AUTH refused before is over;
// - a notice that announces work ("reconnecting") ends when the worker goes idle.

fn notice(state: &mut State, text: impl Into<String>) {
    state.notice = Some((false, text.into()));
    state.notice_until_idle = false;
}

fn error(state: &mut State, text: impl Into<String>) {
    state.notice = Some((true, text.into()));
    state.notice_until_idle = false;
}

/// Something went to the server: the notice about the exchange before it is over.
fn clear_notice(state: &mut State) {
    state.notice = None;
    state.notice_until_idle = false;
}

/// The connection target from the selected profile and the toggles.
fn target(state: &State) -> Option<Box<Target>> {
    let p = state.profiles.current()?;
    Some(Box::new(Target {
        profile_name: p.name.clone(),
        profile: p.profile.clone(),
        toggles: state.toggles,
        password: state.password.clone(),
    }))
}

/// True when the profile has [auth] but F5 has turned AUTH off: whatever logs in would be
/// skipped as if the profile had no credentials at all, so say what is really in the way.
fn auth_switched_off(state: &State) -> bool {
    !state.toggles.auth
        && state
            .profiles
            .current()
            .is_some_and(|p| p.profile.auth.is_some())
}

/// True when AUTH is on but nothing says where the password comes from: ask for it.
fn needs_password(state: &State) -> bool {
    state.toggles.auth && state.password.is_none() && state.profiles.current_lacks_password_source()
}

fn password_prompt(then: PendingAfterPassword) -> Overlay {
    Overlay::Password {
        field: MaskedInput::default(),
        then,
        why: None,
    }
}

/// True for a scenario that logs in: it cannot run without the password.
fn needs_auth(scenario: &Scenario) -> bool {
    scenario.authenticate || scenario.requires.contains(&Requirement::Auth)
}

/// The profile's password source failed (an unset or empty variable, a failing command).
fn unreadable_password(e: &WorkerError) -> Option<&SecretError> {
    match e {
        WorkerError::Target {
            source: TargetError::Secret(s),
            ..
        } => Some(s),
        _ => None,
    }
}

/// A hand-typed AUTH, retried with a typed password if the profile's cannot be read.
fn manual_auth(state: &mut State, target: Box<Target>, mechanism: Mechanism) -> Vec<Effect> {
    state.secret_retry = Some(PendingAfterPassword::ManualAuth { mechanism });
    clear_notice(state);
    vec![Effect::ManualAuth { target, mechanism }]
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    // Ctrl-C quits from anywhere (an overlay, a search) as an interruption: the process
    // exits 130, as shells expect of Ctrl-C.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        state.mode = Mode::Quitting { interrupted: true };
        return vec![Effect::Abort];
    }
    if state.overlay.is_some() {
        return on_overlay_key(state, key);
    }
    if state.transcript.typing_search() {
        if state.transcript.search_key(key.code) {
            search_next(state);
        }
        return Vec::new();
    }
    let Some(action) = lookup(scope(state), &key) else {
        if state.focus == Focus::Editor {
            state.editor.input(key);
        } else if let KeyCode::Char(c) = key.code
            && (key.modifiers - KeyModifiers::SHIFT).is_empty()
            && state.focus == Focus::Picker
            && c.is_ascii_graphic()
        {
            // Typing in the scenario list starts a hand-typed command.
            state.focus = Focus::Editor;
            state.editor.input(key);
        }
        return Vec::new();
    };
    on_action(state, action)
}

fn on_action(state: &mut State, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            state.mode = Mode::Quitting { interrupted: false };
            vec![Effect::Abort]
        }
        Action::FocusNext => move_focus(state, 1),
        Action::FocusPrev => move_focus(state, FOCUS_ORDER.len() - 1),
        Action::Escape => escape(state),
        Action::Open(modal) => open(state, modal),
        Action::Toggle(t) => on_toggle(state, t),
        Action::Run(a) => on_run(state, a),
        Action::Picker(a) => on_picker(state, a),
        Action::Transcript(a) => on_transcript(state, a),
        Action::Profile(a) => on_profile(state, a),
        Action::Editor(a) => on_editor(state, a),
        // Only over an overlay, which has its own handler.
        Action::Scroll(_) => Vec::new(),
        Action::Copy(what) => on_copy(state, what),
        Action::ExpandStrip => {
            state.strip_expanded = !state.strip_expanded;
            Vec::new()
        }
        Action::Palette => {
            state.under_palette = None;
            state.overlay = Some(Overlay::Palette(Palette::default()));
            Vec::new()
        }
    }
}

/// A key while the command palette is open: Enter runs the selected action where its keys
/// work (the focus moves to that pane first).
fn on_palette_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(Overlay::Palette(p)) = state.overlay.as_mut() else {
        return Vec::new();
    };
    match p.on_key(key) {
        PaletteOutcome::Stay => Vec::new(),
        PaletteOutcome::Close => {
            // Back to the pane it was opened over, as it was.
            state.overlay = state.under_palette.take().map(|o| *o);
            Vec::new()
        }
        PaletteOutcome::Run(entry) => {
            state.overlay = None;
            // The action is the main screen's: the pane the palette was opened over closes,
            // as Esc would have closed it (the watch pane stops following its log).
            let mut effects = Vec::new();
            if let Some(Overlay::Watch { .. }) = state.under_palette.take().map(|o| *o) {
                state.watch = None;
                effects.push(Effect::StopWatch);
            }
            match entry.scope {
                Scope::Picker => state.focus = Focus::Picker,
                Scope::Transcript => state.focus = Focus::Transcript,
                Scope::Editor => state.focus = Focus::Editor,
                _ => {}
            }
            effects.extend(on_action(state, entry.action));
            effects
        }
    }
}

/// The line that opens each session in the transcript: whose it is, where it goes, and what
/// for, so that sessions of different profiles and scenarios never run together.
fn session_marker(state: &State) -> String {
    let (profile, server) = state.profiles.current().map_or_else(
        || ("no profile".to_string(), String::new()),
        |p| {
            let server = if p.profile.server.is_empty() {
                p.profile.domain.clone().unwrap_or_default()
            } else {
                p.profile.server.clone()
            };
            (p.name.clone(), server)
        },
    );
    let what = state.run.as_ref().map_or_else(
        || "commands typed by hand".to_string(),
        |r| format!("scenario {} {}", r.scenario.label(), r.scenario.id),
    );
    let what = match &state.control_of {
        Some(_) => format!("the local-delivery control for {what}"),
        None => what,
    };
    format!("{} {profile} · {server} · {what}", copy::SESSION_MARK)
}

/// A copy to the clipboard (the app loop writes it as OSC 52) or, for the whole run, a file.
fn on_copy(state: &mut State, what: CopyWhat) -> Vec<Effect> {
    let Some((text, name)) = copy::text_of(state, what) else {
        error(
            state,
            match what {
                CopyWhat::Command => "nothing to copy: no profile or scenario selected",
                _ => "nothing to copy yet: the transcript is empty",
            },
        );
        return Vec::new();
    };
    let (text, cut) = copy::bounded(text);
    if what == CopyWhat::RunToFile {
        let (export_dir, profile) = state
            .profiles
            .current()
            .map(|p| (p.profile.export_dir.clone(), p.name.clone()))
            .unwrap_or_default();
        return vec![Effect::WriteRun {
            export_dir,
            profile,
            text,
        }];
    }
    let said = match what {
        CopyWhat::Command => format!(
            "copied to the clipboard (OSC 52): {}",
            crate::terminal_text::one_line(text.lines().next().unwrap_or_default())
        ),
        _ => format!(
            "copied {name} to the clipboard (OSC 52, {} bytes{})",
            text.len(),
            if cut { ", only its last MiB" } else { "" }
        ),
    };
    state.clipboard = Some(text);
    notice(state, said);
    Vec::new()
}

const FOCUS_ORDER: [Focus; 3] = [Focus::Picker, Focus::Transcript, Focus::Editor];

/// Moves the focus `step` panes along, wrapping around.
fn move_focus(state: &mut State, step: usize) -> Vec<Effect> {
    let i = FOCUS_ORDER
        .iter()
        .position(|f| *f == state.focus)
        .unwrap_or(0);
    state.focus = FOCUS_ORDER[(i + step) % FOCUS_ORDER.len()];
    Vec::new()
}

/// Esc: aborts a run that is going on (connecting, at a step, or waiting for a reply), and in
/// any case goes back to the scenario list.
fn escape(state: &mut State) -> Vec<Effect> {
    state.focus = Focus::Picker;
    let run_aborted = state.run.as_mut().is_some_and(Run::abort);
    if !run_aborted {
        // Commands typed by hand and still queued (a tarpit answers one a second): Esc
        // cancels every one of them, not only the one in flight.
        if state.typed_in_flight > 0 {
            closed_by_abort(state);
            notice(
                state,
                "aborted: the commands still queued were not sent, the connection was closed (QUIT not sent)",
            );
            return abort(state);
        }
        return Vec::new();
    }
    // The step in the editor was the aborted run's: what is typed next is a command of its own.
    state.editor.clear();
    closed_by_abort(state);
    notice(state, "aborted: the connection was closed (QUIT not sent)");
    abort(state)
}

/// The worker's abort drops the run and closes its connection at once, without QUIT, and
/// reports no connection state after it: the status bar says so itself.
fn closed_by_abort(state: &mut State) {
    if state.conn.is_open() {
        state.conn.phase = ConnPhase::Closed(CloseReason::Aborted);
    }
    state.conn.tls = None;
    state.conn.auth = None;
}

fn open(state: &mut State, modal: Modal) -> Vec<Effect> {
    state.overlay = Some(match modal {
        Modal::Help => Overlay::Help {
            scroll: Scroll::default(),
        },
        Modal::Teaching => Overlay::Teaching {
            scroll: Scroll::default(),
        },
        Modal::Capabilities => Overlay::Capabilities {
            scroll: Scroll::default(),
        },
        Modal::Tls => Overlay::Tls {
            scroll: Scroll::default(),
        },
        // Read by the worker; the pane opens when the history arrives.
        Modal::History => {
            let Some(profile) = state.profiles.current().map(|p| p.name.clone()) else {
                return Vec::new();
            };
            return vec![Effect::ShowHistory { profile }];
        }
        Modal::Watch => {
            let Some(path) = state
                .profiles
                .current()
                .and_then(|p| p.profile.log_file.clone())
            else {
                notice(
                    state,
                    "this profile names no mail log: e edits it (log_file = \"/var/log/mail.log\")",
                );
                return Vec::new();
            };
            state.watch = None;
            state.overlay = Some(Overlay::Watch { selected: 0 });
            return vec![Effect::WatchLog { path }];
        }
        Modal::Compare => {
            let Some(other) = compare_partner(state) else {
                notice(state, "only one profile: p adds another to compare with");
                return Vec::new();
            };
            Overlay::Compare {
                other,
                scroll: Scroll::default(),
            }
        }
    });
    Vec::new()
}

/// Whom to compare the current profile with: its partner in the first-run comparison
/// (lab-open with lab-secure), else the next profile that ran the selected scenario, else
/// the next profile.
fn compare_partner(state: &State) -> Option<String> {
    let current = state.profiles.current()?.name.clone();
    if state.compare.iter().any(|(n, _)| *n == current)
        && let Some((n, _)) = state.compare.iter().find(|(n, _)| *n != current)
    {
        return Some(n.clone());
    }
    let others = other_profiles(state, &current);
    let scenario = state.selected_scenario().map(|s| s.id.clone());
    others
        .iter()
        .find(|n| {
            scenario
                .as_ref()
                .is_some_and(|id| state.verdicts.run(n, id).is_some())
        })
        .or(others.first())
        .cloned()
}

/// The profiles other than `current`, starting after it and wrapping around.
fn other_profiles(state: &State, current: &str) -> Vec<String> {
    let names: Vec<&String> = state.profiles.entries.iter().map(|p| &p.name).collect();
    let at = names.iter().position(|n| *n == current).unwrap_or(0);
    (1..names.len())
        .map(|k| names[(at + k) % names.len()].clone())
        .collect()
}

fn on_toggle(state: &mut State, toggle: Toggle) -> Vec<Effect> {
    if let Some(what) = state.toggles.cycle(toggle) {
        let pending = if state.toggles_in_use.is_some() {
            " (applies to the next connection: Ctrl-L reconnects)"
        } else {
            ""
        };
        notice(state, format!("{what}{pending}"));
    }
    Vec::new()
}

fn on_run(state: &mut State, action: RunAction) -> Vec<Effect> {
    match action {
        RunAction::Start => start_scenario(state, false),
        RunAction::Skip => with_run(state, Effect::Skip),
        RunAction::RunRest => {
            let effects = with_run(state, Effect::RunRest);
            if !effects.is_empty() {
                state.editor.clear();
            }
            effects
        }
        RunAction::Rset => with_run_or_manual(state, Effect::Rset),
        RunAction::Reconnect => match target(state) {
            Some(t) => {
                state.toggles_in_use = Some(state.toggles);
                // The worker drops its run to reconnect: its step must not stay to be sent.
                if state.run.as_mut().is_some_and(Run::abort) {
                    state.editor.clear();
                    notice(state, "reconnecting; the run was abandoned");
                } else {
                    notice(state, "reconnecting");
                }
                state.notice_until_idle = true;
                vec![Effect::Reconnect { target: t }]
            }
            None => Vec::new(),
        },
    }
}

fn on_picker(state: &mut State, action: PickerAction) -> Vec<Effect> {
    match action {
        PickerAction::Up => state.selected = state.selected.saturating_sub(1),
        PickerAction::Down => {
            if state.selected + 1 < state.catalogue.len() {
                state.selected += 1;
            }
        }
    }
    Vec::new()
}

/// Lines a page key moves the transcript by; columns a sideways key moves cut lines by.
const PAGE: usize = 10;
const SIDEWAYS: usize = 8;

fn on_transcript(state: &mut State, action: TranscriptAction) -> Vec<Effect> {
    let view = &mut state.transcript;
    match action {
        TranscriptAction::Up => view.select_previous(),
        TranscriptAction::Down => view.select_next(),
        TranscriptAction::PageUp => view.page_up(PAGE),
        TranscriptAction::PageDown => view.page_down(PAGE),
        TranscriptAction::Top => view.top(),
        TranscriptAction::Follow => view.follow(),
        TranscriptAction::RawView => view.toggle_raw(),
        TranscriptAction::Wrap => {
            view.toggle_wrap();
            let what = if view.wrap {
                "long lines wrap (z cuts them)"
            } else {
                "long lines are cut: Left/Right or h/l scroll sideways (z wraps them)"
            };
            notice(state, what);
        }
        TranscriptAction::Left | TranscriptAction::Right => {
            let right = action == TranscriptAction::Right;
            if !view.scroll_sideways(right, SIDEWAYS) {
                notice(
                    state,
                    "lines wrap, so there is nothing to scroll sideways (z cuts them)",
                );
            }
        }
        TranscriptAction::Search => view.start_search(),
        TranscriptAction::SearchNext => search_next(state),
        TranscriptAction::Export => return vec![Effect::Export { json: false }],
        TranscriptAction::ExportJson => return vec![Effect::Export { json: true }],
    }
    Vec::new()
}

fn on_profile(state: &mut State, action: ProfileAction) -> Vec<Effect> {
    match action {
        ProfileAction::List => {
            state.overlay = Some(Overlay::Profiles(ProfilePicker {
                selected: state.profiles.current_index(),
                naming: None,
            }));
            // Profiles written by hand into the config directory appear when it is read.
            return vec![Effect::ListProfiles];
        }
        ProfileAction::Edit => {
            if let Some(p) = state.profiles.current() {
                let text = p.profile.to_toml().unwrap_or_default();
                let name = p.name.clone();
                open_profile_editor(state, name, &text);
            }
        }
        _ => {}
    }
    Vec::new()
}

/// A key in the profile list: its own keys, or the name being typed.
fn on_profile_list_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let Some(Overlay::Profiles(picker)) = state.overlay.as_mut() else {
        return Vec::new();
    };
    if let Some(naming) = picker.naming.as_mut() {
        match key.code {
            KeyCode::Esc => picker.naming = None,
            KeyCode::Backspace => {
                naming.input.pop();
                naming.error = None;
            }
            KeyCode::Enter => return name_entered(state),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                naming.input.push(c);
                naming.error = None;
            }
            _ => {}
        }
        return Vec::new();
    }
    let Some(Action::Profile(action)) = lookup(Scope::Profiles, &key) else {
        return Vec::new();
    };
    let n = state.profiles.len();
    let chosen = state
        .profiles
        .entries
        .get(picker.selected)
        .map(|p| p.name.clone());
    let ask = |purpose: NameFor, input: String| {
        Some(Naming {
            purpose,
            input,
            error: None,
        })
    };
    match action {
        ProfileAction::Up => picker.selected = picker.selected.saturating_sub(1),
        ProfileAction::Down => {
            if picker.selected + 1 < n {
                picker.selected += 1;
            }
        }
        ProfileAction::Close => state.overlay = None,
        ProfileAction::New => picker.naming = ask(NameFor::New, String::new()),
        ProfileAction::Rename => {
            if let Some(from) = chosen {
                picker.naming = ask(NameFor::Rename { from: from.clone() }, from);
            }
        }
        ProfileAction::Duplicate => {
            if let Some(from) = chosen {
                let input = format!("{from}-copy");
                picker.naming = ask(NameFor::Duplicate { from }, input);
            }
        }
        ProfileAction::Delete => {
            if let Some(name) = chosen {
                state.overlay = Some(Overlay::ConfirmDelete { name });
            }
        }
        ProfileAction::Undo => {
            return match state.trashed.take() {
                Some((name, from)) => vec![Effect::RestoreProfile { name, from }],
                None => {
                    error(
                        state,
                        "nothing to restore: no profile was deleted in this session",
                    );
                    Vec::new()
                }
            };
        }
        ProfileAction::Edit => {
            if let Some(i) = state
                .profiles
                .position(chosen.as_deref().unwrap_or_default())
            {
                let p = &state.profiles.entries[i];
                let text = p.profile.to_toml().unwrap_or_default();
                let name = p.name.clone();
                open_profile_editor(state, name, &text);
            }
        }
        ProfileAction::Use => {
            let Some(to) = chosen else {
                return Vec::new();
            };
            state.overlay = None;
            if state.profiles.current().is_some_and(|p| p.name == to) {
                return Vec::new();
            }
            if let Some(run) = state.run.as_ref().filter(|r| r.is_active()) {
                state.overlay = Some(Overlay::ConfirmSwitch {
                    from: run.profile.clone(),
                    to,
                });
                return Vec::new();
            }
            let headline = format!("profile {to}");
            return switch_to(state, &to, headline);
        }
        ProfileAction::List => {}
    }
    Vec::new()
}

/// Why `name` cannot be a new profile's name, if it cannot.
fn name_problem(state: &State, name: &str) -> Option<String> {
    if !crate::profile::valid_name(name) {
        return Some(crate::profile::ProfileError::BadName(name.to_string()).to_string());
    }
    state
        .profiles
        .position(name)
        .map(|_| format!("a profile {name:?} already exists; choose another name"))
}

/// Enter on the name typed in the profile list.
fn name_entered(state: &mut State) -> Vec<Effect> {
    let Some(Overlay::Profiles(picker)) = state.overlay.as_ref() else {
        return Vec::new();
    };
    let Some(naming) = picker.naming.as_ref() else {
        return Vec::new();
    };
    let name = naming.input.trim().to_string();
    let purpose = naming.purpose.clone();
    if let NameFor::Rename { from } = &purpose
        && *from == name
    {
        if let Some(Overlay::Profiles(p)) = state.overlay.as_mut() {
            p.naming = None;
        }
        return Vec::new();
    }
    if let Some(problem) = name_problem(state, &name) {
        if let Some(Overlay::Profiles(p)) = state.overlay.as_mut()
            && let Some(n) = p.naming.as_mut()
        {
            n.error = Some(problem);
        }
        return Vec::new();
    }
    match purpose {
        NameFor::New => open_profile_editor(state, name, PROFILE_TEMPLATE),
        NameFor::Duplicate { from } => {
            let text = state
                .profiles
                .position(&from)
                .and_then(|i| state.profiles.entries.get(i))
                .and_then(|p| p.profile.to_toml().ok())
                .unwrap_or_default();
            open_profile_editor(state, name, &text);
        }
        NameFor::Rename { from } => {
            if let Some(Overlay::Profiles(p)) = state.overlay.as_mut() {
                p.naming = None;
            }
            let saved = state
                .profiles
                .position(&from)
                .and_then(|i| state.profiles.entries.get(i))
                .is_some_and(|p| p.saved);
            if saved {
                // The file is renamed first; the list follows when the worker says it is done.
                return vec![Effect::RenameProfile { from, to: name }];
            }
            renamed(state, &from, &name);
            notice(
                state,
                format!("profile {from} is now {name} (in memory only)"),
            );
        }
    }
    Vec::new()
}

/// The profile `from` is now called `to`: its verdicts and its place in the comparison go with it.
fn renamed(state: &mut State, from: &str, to: &str) {
    state.profiles.rename(from, to);
    state.verdicts.rename(from, to);
    for (name, _) in &mut state.compare {
        if name == from {
            *name = to.to_string();
        }
    }
    if let Some(run) = state.run.as_mut()
        && run.profile == from
    {
        run.profile = to.to_string();
    }
}

fn on_editor(state: &mut State, action: EditorAction) -> Vec<Effect> {
    match action {
        EditorAction::Send => return send(state),
        EditorAction::HistoryPrev => state.editor.history_prev(),
        EditorAction::HistoryNext => state.editor.history_next(),
    }
    Vec::new()
}

const PROFILE_TEMPLATE: &str = "server = \"mx.example.com:25\"\n# Or, instead of server, a domain (its best MX host):\n# domain = \"example.com\"\n# dns_server = \"127.0.0.1:53\"\ntls = \"starttls\"\nrequire_tls = false\nverify = \"platform\"\nhelo = \"probe.example.com\"\n\n# [auth]\n# mechanism = \"plain\"\n# username = \"alice@example.com\"\n# password_env = \"SMTPSCOPE_PASSWORD\"\n\n[relay]\nlocal_recipient = \"postmaster@example.com\"\n";

fn open_profile_editor(state: &mut State, name: String, text: &str) {
    let mut field = ratatui_textarea::TextArea::new(text.lines().map(str::to_string).collect());
    field.set_placeholder_text("profile TOML");
    state.overlay = Some(Overlay::ProfileEditor {
        name,
        field: Box::new(field),
        error: None,
    });
}

const BUSY: &str = "busy: waiting for the server (Esc aborts)";

/// What the empty editor says while a step that is not a command waits for Enter.
fn step_placeholder(step: &StepKind) -> String {
    match step {
        StepKind::Command(t) => t.clone(),
        StepKind::Exchange(t) => {
            format!(
                "{t} — smtpscope carries this out: Enter runs it (or type a command of your own)"
            )
        }
        StepKind::Local(t) => {
            format!("{t} — a local check, nothing is sent: Enter evaluates it")
        }
    }
}

/// Tells the worker to drop its run and close its connection. Until it reports idle, what it
/// reports is about what was aborted.
fn abort(state: &mut State) -> Vec<Effect> {
    state.mode = state.mode.aborting();
    state.typed_in_flight = 0;
    vec![Effect::Abort]
}

/// Makes the profile named `to` current, closing the old profile's connection; `headline`
/// starts the notice.
fn switch_to(state: &mut State, to: &str, headline: String) -> Vec<Effect> {
    match state.profiles.position(to) {
        Some(i) => change_profile(state, i, headline),
        None => Vec::new(),
    }
}

/// Makes the `i`th profile current, its toggles and no typed password, and closes the old
/// profile's connection and run: a command typed next must reach the server the status bar
/// names, never the one before it. Every change of profile (p, a save, a delete) comes here.
fn change_profile(state: &mut State, i: usize, headline: String) -> Vec<Effect> {
    let from = state
        .profiles
        .current()
        .map(|p| p.name.clone())
        .unwrap_or_default();
    let ran = state.run.as_ref().is_some_and(Run::is_active);
    let connected = state.conn.is_open();
    if ran {
        // The step in the editor was the old run's.
        state.editor.clear();
    }
    state.switch_profile(i);
    // Worded after what the worker's abort does: it drops the run and closes the connection
    // at once, without QUIT.
    let closed = match (ran, connected) {
        (true, _) => {
            format!(": the run on {from} was aborted and its connection closed (QUIT not sent)")
        }
        (false, true) => format!(": the connection to {from} was closed (QUIT not sent)"),
        (false, false) => String::new(),
    };
    notice(state, format!("{headline}{closed}"));
    abort(state)
}

fn with_run(state: &mut State, effect: Effect) -> Vec<Effect> {
    match state.run.as_mut().map(Run::ask) {
        Some(Ok(())) => {
            clear_notice(state);
            vec![effect]
        }
        Some(Err(Refusal::Waiting)) => {
            notice(state, BUSY);
            Vec::new()
        }
        Some(Err(Refusal::Finished | Refusal::Stopped)) | None => {
            notice(state, "no scenario running: pick one and press Enter");
            Vec::new()
        }
    }
}

fn with_run_or_manual(state: &mut State, effect: Effect) -> Vec<Effect> {
    if state.run.as_ref().is_some_and(Run::is_active) {
        return with_run(state, effect);
    }
    match target(state) {
        Some(t) => {
            clear_notice(state);
            vec![Effect::Manual {
                target: t,
                bytes: b"RSET\r\n".to_vec(),
            }]
        }
        None => Vec::new(),
    }
}

fn start_scenario(state: &mut State, run_all: bool) -> Vec<Effect> {
    let Some(scenario) = state.selected_scenario().cloned() else {
        return Vec::new();
    };
    if let Some(run) = state.run.as_ref().filter(|r| r.is_active()) {
        // As switching profile does: a run in progress is not dropped without asking.
        state.overlay = Some(Overlay::ConfirmRestart {
            running: run.scenario.id.clone(),
            next: scenario.id.clone(),
            run_all,
        });
        return Vec::new();
    }
    start_confirmed(state, scenario, run_all)
}

/// Starts `scenario`, nothing else running.
fn start_confirmed(state: &mut State, scenario: Scenario, run_all: bool) -> Vec<Effect> {
    if let Some(check) = domain_check_of(&scenario) {
        return start_domain_check(state, scenario, check);
    }
    let retry = PendingAfterPassword::StartScenario {
        scenario: scenario.id.clone(),
        run_all,
    };
    if needs_auth(&scenario) && auth_switched_off(state) {
        notice(
            state,
            format!(
                "{} logs in, and AUTH is off (F5): press F5 to turn it on",
                scenario.label()
            ),
        );
        return Vec::new();
    }
    let auth = needs_auth(&scenario) && state.toggles.auth;
    if auth && needs_password(state) {
        state.overlay = Some(password_prompt(retry));
        return Vec::new();
    }
    let Some(t) = target(state) else {
        error(state, "no profile: press a to add one");
        return Vec::new();
    };
    state.toggles_in_use = Some(state.toggles);
    state.secret_retry = auth.then_some(retry);
    let vars = Vars::new(
        t.profile.helo.as_deref().unwrap_or_default(),
        &t.profile.relay,
        t.profile.auth.as_ref().map(|a| a.username.as_str()),
    );
    state.run = Some(Run::new(scenario.clone(), t.profile_name.clone(), &vars));
    state.focus = Focus::Editor;
    state.editor.clear();
    // The new session is what the operator wants to see, not a place scrolled back to.
    state.transcript.follow();
    notice(
        state,
        format!("connecting for {} ({})", scenario.id, scenario.title),
    );
    let control = scenario
        .needs_control
        .then(|| {
            state
                .catalogue
                .iter()
                .find(|s| s.id == "local-delivery")
                .cloned()
                .map(Box::new)
        })
        .flatten();
    vec![Effect::StartScenario {
        target: t,
        scenario: Box::new(scenario),
        control,
        run_all,
    }]
}

/// A domain check has no steps to walk through: its records and verdict arrive in the verdict
/// panel, as `check --domain` reports them.
fn start_domain_check(state: &mut State, entry: Scenario, check: DomainCheck) -> Vec<Effect> {
    let Some(t) = target(state) else {
        error(state, "no profile: press a to add one");
        return Vec::new();
    };
    let vars = Vars::new("", &t.profile.relay, None);
    state.run = Some(Run::new(entry, t.profile_name.clone(), &vars));
    state.editor.clear();
    notice(
        state,
        format!("looking up {} for the profile's domain", check.id()),
    );
    vec![Effect::StartDomainCheck { target: t, check }]
}

/// Enter in the editor: the scenario's step (edited or not), or a command typed by hand.
fn send(state: &mut State) -> Vec<Effect> {
    let text = state.editor.submit();
    if let Some(run) = state.run.as_mut()
        && run.step().is_some()
    {
        if run.ask().is_err() {
            notice(state, BUSY);
            return Vec::new();
        }
        let edited = Some(text).filter(|t| !t.trim().is_empty());
        clear_notice(state);
        // The reply is what the operator waits for: back to the bottom to see it.
        state.transcript.follow();
        return vec![Effect::Advance { edited }];
    }
    if text.trim().is_empty() {
        return Vec::new();
    }
    let Some(t) = target(state) else {
        error(state, "no profile: press a to add one");
        return Vec::new();
    };
    // AUTH typed by hand goes through the secure AUTH path: masked prompt, TLS gate, redaction.
    let upper = text.trim_start().to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("AUTH ") {
        if auth_switched_off(state) {
            // Left in the editor, to send once F5 has turned AUTH on.
            notice(
                state,
                "AUTH is off (F5): press F5 to turn it on, then Enter",
            );
            return Vec::new();
        }
        let mech = rest
            .split_whitespace()
            .next()
            .and_then(Mechanism::parse)
            .unwrap_or(state.toggles.mechanism);
        state.editor.clear();
        if state.password.is_none() && state.profiles.current_lacks_password_source() {
            state.overlay = Some(password_prompt(PendingAfterPassword::ManualAuth {
                mechanism: mech,
            }));
            return Vec::new();
        }
        state.transcript.follow();
        return manual_auth(state, t, mech);
    }
    let mut bytes = match unescape(&text) {
        Ok(b) => b,
        Err(e) => {
            error(state, format!("cannot send: {e}"));
            return Vec::new();
        }
    };
    // A line without a line ending of its own gets CRLF; a CR or LF written as an escape
    // (\r, \n, \x0d, \x0a) means the operator is shaping the bytes themselves. Look at the
    // decoded bytes: "\\r" is a backslash and an r, not a CR.
    if !bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        bytes.extend_from_slice(b"\r\n");
    }
    state.toggles_in_use = Some(state.toggles);
    state.editor.clear();
    clear_notice(state);
    state.transcript.follow();
    state.typed_in_flight += 1;
    vec![Effect::Manual { target: t, bytes }]
}

/// Rows a page key moves a pane over the screen by.
const OVERLAY_PAGE: u16 = 10;

fn on_overlay_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl_c {
        state.mode = Mode::Quitting { interrupted: true };
        return vec![Effect::Abort];
    }
    // Ctrl-P opens the palette over any pane; Esc in the palette comes back to it.
    if key.code == KeyCode::Char('p')
        && key.modifiers.contains(KeyModifiers::CONTROL)
        && !matches!(state.overlay, Some(Overlay::Palette(_)))
    {
        state.under_palette = state.overlay.take().map(Box::new);
        state.overlay = Some(Overlay::Palette(Palette::default()));
        return Vec::new();
    }
    if matches!(state.overlay, Some(Overlay::Profiles(_))) {
        return on_profile_list_key(state, key);
    }
    if let Some(Overlay::Watch { selected }) = state.overlay.as_mut() {
        // Up/Down (k/j) pick an offender; Esc or q closes the pane and stops following.
        let offenders = state.watch.as_ref().map_or(0, |w| w.offenders.len());
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => *selected = selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                *selected = (*selected + 1).min(offenders.saturating_sub(1));
            }
            KeyCode::Esc | KeyCode::Char('q') => {
                state.overlay = None;
                state.watch = None;
                return vec![Effect::StopWatch];
            }
            _ => {}
        }
        return Vec::new();
    }
    if matches!(state.overlay, Some(Overlay::Palette(_))) {
        return on_palette_key(state, key);
    }
    let Some(overlay) = state.overlay.as_mut() else {
        return Vec::new();
    };
    let scope = if matches!(overlay, Overlay::Compare { .. }) {
        Scope::Compare
    } else {
        Scope::Overlay
    };
    if let Some(scroll) = overlay.scroll_mut() {
        // A query being typed takes every key.
        if scroll.typing.is_some() {
            scroll.search_key(key.code);
            return Vec::new();
        }
        // The transcript's keys; Esc or q closes; anything else is ignored, so that a key
        // pressed to scroll never closes the pane by surprise.
        if let Some(Action::Scroll(a)) = lookup(scope, &key) {
            match a {
                ScrollAction::Search => scroll.start_search(),
                ScrollAction::SearchNext => scroll.search_next(),
                ScrollAction::Up => scroll.up(1),
                ScrollAction::Down => scroll.down(1),
                ScrollAction::PageUp => scroll.up(OVERLAY_PAGE),
                ScrollAction::PageDown => scroll.down(OVERLAY_PAGE),
                ScrollAction::Top => scroll.top(),
                ScrollAction::Bottom => scroll.bottom(),
                ScrollAction::Close => state.overlay = None,
                ScrollAction::Previous | ScrollAction::Next => {
                    let forward = a == ScrollAction::Next;
                    let current = state.profiles.current().map(|p| p.name.clone());
                    if let (Some(Overlay::Compare { other, .. }), Some(current)) =
                        (state.overlay.as_ref(), current)
                    {
                        let others = other_profiles(state, &current);
                        let at = others.iter().position(|n| n == other).unwrap_or(0);
                        let n = others.len().max(1);
                        let next = if forward {
                            (at + 1) % n
                        } else {
                            (at + n - 1) % n
                        };
                        if let Some(name) = others.get(next).cloned() {
                            state.overlay = Some(Overlay::Compare {
                                other: name,
                                scroll: Scroll::default(),
                            });
                        }
                    }
                }
            }
        }
        return Vec::new();
    }
    match overlay {
        Overlay::Help { .. }
        | Overlay::Teaching { .. }
        | Overlay::Capabilities { .. }
        | Overlay::Tls { .. }
        | Overlay::History { .. }
        | Overlay::Compare { .. }
        | Overlay::Profiles(_)
        | Overlay::Watch { .. }
        | Overlay::Palette(_) => {}
        Overlay::Password { field, then, why } => match key.code {
            KeyCode::Esc => {
                let failed = why.is_some();
                state.overlay = None;
                if failed {
                    notice(
                        state,
                        "cancelled: F5 turns AUTH off; e edits where the profile's password comes from",
                    );
                } else {
                    notice(state, "cancelled");
                }
            }
            KeyCode::Enter => {
                let empty = field.is_empty();
                let pw = field.take();
                let then = then.clone();
                state.overlay = None;
                if empty {
                    error(state, "no password given");
                    return Vec::new();
                }
                state.password = Some(pw);
                return match then {
                    PendingAfterPassword::StartScenario { scenario, run_all } => {
                        if let Some(i) = state.catalogue.iter().position(|s| s.id == scenario) {
                            state.selected = i;
                        }
                        start_scenario(state, run_all)
                    }
                    PendingAfterPassword::ManualAuth { mechanism } => match target(state) {
                        Some(t) => manual_auth(state, t, mechanism),
                        None => Vec::new(),
                    },
                };
            }
            KeyCode::Backspace => field.pop(),
            // Ctrl-H is Backspace on terminals that send ^H for it.
            KeyCode::Char('h') if key.modifiers.contains(KeyModifiers::CONTROL) => field.pop(),
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => field.clear(),
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => field.push(c),
            _ => {}
        },
        Overlay::ProfileEditor {
            name,
            field,
            error: err,
        } => match (key.code, key.modifiers.contains(KeyModifiers::CONTROL)) {
            (KeyCode::Esc, _) => state.overlay = None,
            (KeyCode::Char('s'), true) => {
                let text = field.lines().join("\n");
                match Profile::parse(&text, std::path::Path::new(&format!("{name}.toml"))) {
                    Ok(_) => {
                        let effect = Effect::SaveProfile {
                            name: name.clone(),
                            text,
                        };
                        state.overlay = None;
                        return vec![effect];
                    }
                    Err(e) => *err = Some(e.to_string()),
                }
            }
            _ => {
                field.input(key);
            }
        },
        Overlay::ConfirmRestart {
            running,
            next,
            run_all,
        } => {
            let (running, next, run_all) = (running.clone(), next.clone(), *run_all);
            state.overlay = None;
            if key.code != KeyCode::Char('y') {
                notice(state, format!("{running} goes on"));
                return Vec::new();
            }
            let Some(scenario) = state.catalogue.iter().find(|s| s.id == next).cloned() else {
                return Vec::new();
            };
            // The worker drops the old run (its connection closed at once, QUIT not sent)
            // when it starts the new one.
            if let Some(run) = state.run.as_mut() {
                run.abort();
            }
            state.run = None;
            return start_confirmed(state, scenario, run_all);
        }
        Overlay::ConfirmSwitch { from, to } => {
            let (from, to) = (from.clone(), to.clone());
            state.overlay = None;
            if key.code == KeyCode::Char('y') {
                let headline = format!("profile {to}");
                return switch_to(state, &to, headline);
            }
            notice(state, format!("still on {from}; the run goes on"));
        }
        Overlay::ConfirmDelete { name } => {
            let name = name.clone();
            state.overlay = None;
            if key.code == KeyCode::Char('y') {
                return delete_profile(state, name);
            }
        }
    }
    Vec::new()
}

/// Deletes a profile (its file too, if it has one) and its verdicts. Deleting the current one
/// moves to the first other profile, as a switch: its toggles, no password typed for the
/// deleted one, the connection closed.
fn delete_profile(state: &mut State, name: String) -> Vec<Effect> {
    let Some(entry) = state
        .profiles
        .position(&name)
        .and_then(|i| state.profiles.entries.get(i))
    else {
        return Vec::new();
    };
    let saved = entry.saved;
    let current = state.profiles.current().is_some_and(|p| p.name == name);
    let mut effects = Vec::new();
    if current {
        let other = state.profiles.entries.iter().position(|p| p.name != name);
        let headline = match other.and_then(|i| state.profiles.entries.get(i)) {
            Some(p) => format!("profile {name} removed; now on {}", p.name),
            None => format!("profile {name} removed"),
        };
        let here = state.profiles.position(&name).unwrap_or(0);
        effects = change_profile(state, other.unwrap_or(here), headline);
    } else {
        notice(state, format!("profile {name} removed"));
    }
    state.profiles.remove(&name);
    forget_verdicts(state, &name);
    if saved {
        effects.push(Effect::DeleteProfile { name });
    }
    effects
}

/// What a close by the server while idle means, and what to do: a 421 after a silence is the
/// server's idle timeout, not a refusal of anything the operator did.
fn server_closed_words(
    last: Option<&str>,
    code: Option<u16>,
    idle: std::time::Duration,
    during_run: bool,
) -> String {
    let secs = idle.as_secs_f64().round() as u64;
    let mut text = match last {
        Some(said) => format!("the server closed the connection after {secs} s idle: {said}"),
        None => format!("the server closed the connection after {secs} s idle, without a reply"),
    };
    if code == Some(421) && secs >= 1 {
        text.push_str(
            " (its idle timeout, not a policy decision: Postfix smtpd_timeout, Exim smtp_receive_timeout)",
        );
    }
    text.push_str(if during_run {
        "; the step cannot go on: Ctrl-L reconnects (the run starts over)"
    } else {
        "; Ctrl-L reconnects"
    });
    text
}

fn on_net(state: &mut State, ev: NetEvent) -> Vec<Effect> {
    if state.mode == Mode::Aborting
        && matches!(
            ev,
            NetEvent::Preview { .. }
                | NetEvent::Step { .. }
                | NetEvent::Done { .. }
                | NetEvent::Conn(_)
        )
    {
        return Vec::new();
    }
    match ev {
        NetEvent::Entry(e) => {
            if matches!(
                e.kind,
                crate::transcript::EntryKind::Event(crate::transcript::Event::Connecting { .. })
            ) {
                let marker = session_marker(state);
                state.transcript.push_entry(&crate::transcript::Entry {
                    at: e.at,
                    tls: false,
                    kind: crate::transcript::EntryKind::Event(crate::transcript::Event::Info(
                        marker,
                    )),
                });
            }
            // Connected, the banner not yet in: the status bar says so, as the transcript
            // does (it said "not connected" until the first report of the session).
            if matches!(
                e.kind,
                crate::transcript::EntryKind::Event(crate::transcript::Event::Connected { .. })
            ) {
                state.conn.phase = ConnPhase::Open(crate::smtp::session::Phase::AwaitingBanner);
            }
            // The banner is in; the worker's report of the session follows.
            if matches!(e.kind, crate::transcript::EntryKind::Received { .. })
                && state.conn.phase == ConnPhase::Open(crate::smtp::session::Phase::AwaitingBanner)
            {
                state.conn.phase = ConnPhase::Open(crate::smtp::session::Phase::Greeted);
            }
            state.transcript.push_entry(&e);
        }
        NetEvent::Preview { index, step } => {
            // The run is under way: its password was read.
            state.secret_retry = None;
            let mut hint = None;
            if let Some(run) = state.run.as_mut() {
                run.offered(index, &step);
                hint = run.hint(index);
            }
            // Replace "connecting …" or the last step's hint, never an error the operator
            // has not read yet.
            if let Some(h) = hint
                && !state.notice.as_ref().is_some_and(|(err, _)| *err)
            {
                notice(state, h);
            }
            // Only a command goes in the editor; an exchange or a local check is shown as
            // what it is, and Enter on the empty editor runs it.
            match &step {
                StepKind::Command(text) => state.editor.set(text),
                other => state.editor.await_step(&step_placeholder(other)),
            }
            state.focus = Focus::Editor;
        }
        NetEvent::Step { index, result } => {
            if let Some(run) = state.run.as_mut() {
                run.record(index, result);
            }
        }
        NetEvent::Conn(info) => {
            if let Some(user) = info.auth.as_ref().filter(|_| state.conn.auth.is_none()) {
                notice(state, format!("authenticated as {user}"));
            }
            state.conn = info;
        }
        NetEvent::Done {
            verdict,
            reason,
            edited,
        } => {
            state.secret_retry = None;
            state.control_of = None;
            let mut said = format!("{verdict}: {reason}");
            if let Some(run) = state.run.as_mut() {
                run.finish(verdict, reason.clone(), edited.clone());
                // An edited run answered other questions than the scenario's: it is shown,
                // never kept as the scenario's verdict (the list, compare).
                if edited.is_empty() {
                    state.verdicts.record_run(
                        &run.profile,
                        &run.scenario.id,
                        super::state::LastRun {
                            verdict,
                            reason: reason.clone(),
                            steps: run.steps.clone(),
                        },
                    );
                } else {
                    said = format!(
                        "edited — not a verdict of {}: {}",
                        run.scenario.id,
                        edited.join("; ")
                    );
                }
            }
            state.editor.clear();
            state.focus = Focus::Picker;
            notice(state, said);
        }
        NetEvent::Idle => {
            state.typed_in_flight = state.typed_in_flight.saturating_sub(1);
            state.mode = state.mode.idle();
            if state.notice_until_idle {
                clear_notice(state);
            }
            if let Some(run) = state.run.as_mut() {
                run.stop_waiting();
            }
        }
        NetEvent::Info(t) => notice(state, t),
        NetEvent::ControlStarted { of } => state.control_of = Some(of),
        NetEvent::Suggest { command, why } => {
            // Never over a scenario's step or over what the operator has started typing.
            let at_step = state.run.as_ref().is_some_and(|r| r.step().is_some());
            if !at_step && state.editor.text().trim().is_empty() && state.overlay.is_none() {
                state.editor.set(&command);
                state.focus = Focus::Editor;
                notice(state, why);
            }
        }
        NetEvent::Watch(snapshot) => {
            if matches!(state.overlay, Some(Overlay::Watch { .. })) {
                state.watch = Some(snapshot);
            }
        }
        NetEvent::ServerClosed {
            last,
            code,
            idle,
            during_run,
        } => error(
            state,
            server_closed_words(last.as_deref(), code, idle, during_run),
        ),
        NetEvent::Error(e) => {
            if let Some(run) = state.run.as_mut() {
                run.stop_waiting();
            }
            error(state, e.to_string());
            let retry = state.secret_retry.take();
            // Only for what needs the password: a run that logs in, or AUTH typed by hand.
            // Anything else that failed on it is shown as it is.
            if let (Some(then), Some(why)) = (retry, unreadable_password(&e))
                && state.overlay.is_none()
            {
                state.overlay = Some(Overlay::Password {
                    field: MaskedInput::default(),
                    then,
                    why: Some(format!(
                        "{why}: type the password (kept in memory only), or Esc and F5 to turn AUTH off"
                    )),
                });
            }
        }
        NetEvent::Exported(paths) => notice(state, exported(&paths)),
        NetEvent::RunWritten(path) => notice(
            state,
            format!("the whole run written to {}", path.display()),
        ),
        NetEvent::ProfileSaved {
            name,
            path,
            profile,
        } => {
            let changed = state
                .profiles
                .position(&name)
                .and_then(|i| state.profiles.entries.get(i))
                .is_some_and(|e| e.profile != *profile);
            if changed {
                forget_verdicts(state, &name);
            }
            state.profiles.saved(&name, *profile);
            // The saved profile becomes current as any switch does: its own toggles (a
            // require_tls saved shows at once), no password typed for another profile.
            let headline = format!("profile {name} saved to {}", path.display());
            return switch_to(state, &name, headline);
        }
        NetEvent::ProfileDeleted { name, trashed } => {
            notice(
                state,
                format!(
                    "profile {name} deleted (moved to {}): u in the profile list brings it back",
                    trashed.display()
                ),
            );
            state.trashed = Some((name, trashed));
        }
        NetEvent::ProfileRestored { name } => notice(state, format!("profile {name} restored")),
        NetEvent::History { profile, lines } => {
            state.overlay = Some(Overlay::History {
                profile,
                lines,
                scroll: Scroll::default(),
            });
        }
        NetEvent::ProfilesListed { profiles, errors } => {
            let current = state.profiles.current().map(|p| p.name.clone());
            let chosen = match &state.overlay {
                Some(Overlay::Profiles(p)) => state
                    .profiles
                    .entries
                    .get(p.selected)
                    .map(|e| e.name.clone()),
                _ => None,
            };
            let changed = state.profiles.refresh(profiles);
            state.sync_domain_checks();
            for name in &changed {
                forget_verdicts(state, name);
            }
            // The current profile was changed on disk: its settings become the toggles.
            if let Some(p) = state.profiles.current()
                && changed.contains(&p.name)
            {
                state.toggles = super::state::Toggles::from_profile(&p.profile);
            }
            if let Some(Overlay::Profiles(p)) = state.overlay.as_mut() {
                let keep = chosen.or(current);
                p.selected = keep
                    .and_then(|n| state.profiles.position(&n))
                    .unwrap_or(0)
                    .min(state.profiles.len().saturating_sub(1));
            }
            if let Some(e) = errors.first() {
                error(
                    state,
                    format!("profile not loaded (file left untouched): {e}"),
                );
            }
        }
        NetEvent::ProfileRenamed { from, to, path } => {
            renamed(state, &from, &to);
            notice(
                state,
                format!("profile {from} renamed to {to} ({})", path.display()),
            );
        }
    }
    Vec::new()
}

/// What an export wrote, where: the directory once, then the files.
fn exported(paths: &[std::path::PathBuf]) -> String {
    let Some(first) = paths.first() else {
        return "nothing to export yet: no session has started".into();
    };
    let dir = first.parent().unwrap_or(first.as_path());
    let names: Vec<String> = paths
        .iter()
        .map(|p| {
            if p.parent() == Some(dir) {
                p.file_name()
                    .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into())
            } else {
                p.display().to_string()
            }
        })
        .collect();
    let n = paths.len();
    let kind = if first.extension().is_some_and(|e| e == "json") {
        "JSON"
    } else {
        "text"
    };
    format!(
        "{n} session record{} written to {} as {kind}: {}",
        if n == 1 { "" } else { "s" },
        dir.display(),
        names.join(", ")
    )
}

/// The profile's verdicts were about a server it no longer names (or it is gone): a profile
/// of that name starts again with none.
fn forget_verdicts(state: &mut State, name: &str) {
    state.verdicts.forget(name);
    state.compare.retain(|(n, _)| n != name);
}

/// The prefix of the notice a search with no match leaves.
const NO_MATCH: &str = "no match for ";

fn search_next(state: &mut State) {
    match state.transcript.search_next() {
        Some(q) => notice(state, format!("{NO_MATCH}{q:?}")),
        // Found: an earlier search's "no match" is no longer true.
        None => {
            if state
                .notice
                .as_ref()
                .is_some_and(|(_, n)| n.starts_with(NO_MATCH))
            {
                clear_notice(state);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::TlsMode;
    use crate::profile::{Profile, Verify};
    use crate::scenario::Catalogue;
    use crate::tui::state::ProfileEntry;
    use ratatui::crossterm::event::KeyEvent;

    fn key(code: KeyCode) -> Message {
        Message::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn ctrl(c: char) -> Message {
        Message::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    fn typed(state: &mut State, text: &str) {
        for c in text.chars() {
            update(state, key(KeyCode::Char(c)));
        }
    }

    fn state_with(auth_source: bool) -> State {
        let mut profile = Profile::parse(
            "server = \"127.0.0.1:2525\"\n[auth]\nmechanism = \"plain\"\nusername = \"bob\"\n[relay]\nlocal_recipient = \"postmaster@lab.example\"\n",
            std::path::Path::new("p.toml"),
        )
        .expect("profile");
        if auth_source && let Some(a) = profile.auth.as_mut() {
            a.password_env = Some("PW".into());
        }
        let cat = Catalogue::built_in()
            .entries
            .into_iter()
            .map(|e| e.scenario)
            .collect();
        State::new(
            vec![ProfileEntry {
                name: "p".into(),
                profile,
                saved: true,
            }],
            cat,
        )
    }

    #[test]
    fn enter_on_a_scenario_starts_it_and_waits_for_the_first_step() {
        let mut s = state_with(true);
        let effects = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(effects.as_slice(), [Effect::StartScenario { scenario, control: Some(c), run_all: false, .. }] if scenario.id == "unauth-relay" && c.id == "local-delivery")
        );
        let run = s.run.as_ref().expect("run view");
        assert!(run.is_waiting());
        assert_eq!(run.steps.len(), 2);
        assert_eq!(s.focus, Focus::Editor);
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            })),
        );
        assert_eq!(s.editor.text(), "MAIL FROM:<x@y>");
        assert_eq!(s.run.as_ref().and_then(|r| r.step()), Some(0));
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(err, t)| !*err && t.starts_with("step 1 of 2:")),
            "{:?}",
            s.notice
        );
        // An error the operator has not read yet is not replaced by the next hint.
        error(&mut s, "cannot send: unknown escape");
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            })),
        );
        assert!(s.notice.as_ref().is_some_and(|(err, _)| *err));
        // Enter sends the step as shown; an edit goes out as edited.
        typed(&mut s, " SIZE=1");
        let effects = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(effects.as_slice(), [Effect::Advance { edited: Some(t) }] if t == "MAIL FROM:<x@y> SIZE=1")
        );
        // While the server has not answered, a second Enter does nothing.
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(s.notice.as_ref().is_some_and(|(_, t)| t.contains("busy")));
    }

    #[test]
    fn starting_from_the_command_line_can_ask_to_play_the_scenario_through() {
        let mut s = state_with(true);
        let effects = update(&mut s, Message::StartScenario { run_all: true });
        assert!(
            matches!(effects.as_slice(), [Effect::StartScenario { scenario, run_all: true, .. }] if scenario.id == "unauth-relay")
        );
        assert!(s.run.as_ref().is_some_and(Run::is_waiting));
        // A password asked for first does not lose the request.
        let mut s = state_with(false);
        s.selected = 1;
        assert!(update(&mut s, Message::StartScenario { run_all: true }).is_empty());
        typed(&mut s, "s3cret");
        let effects = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(
            effects.as_slice(),
            [Effect::StartScenario { run_all: true, .. }]
        ));
    }

    #[test]
    fn step_results_and_the_verdict_land_in_the_panel_and_picker() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Enter));
        let result = crate::scenario::StepResult {
            name: None,
            command: "RCPT TO:<a@b>".into(),
            expected: "rejected".into(),
            reply: None,
            verdict: crate::scenario::Verdict::Pass,
            reason: "554".into(),
            elapsed_ms: 1,
            role: crate::scenario::model::Role::Probe,
            note: None,
            edited: false,
        };
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::Step { index: 1, result })),
        );
        assert!(s.run.as_ref().is_some_and(|r| r.steps[1].result.is_some()));
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::Done {
                verdict: crate::scenario::Verdict::Pass,
                reason: "554 5.7.1".into(),
                edited: Vec::new(),
            })),
        );
        assert_eq!(
            s.verdicts.get("p", "unauth-relay"),
            Some(crate::scenario::Verdict::Pass)
        );
        assert_eq!(s.focus, Focus::Picker);
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.starts_with("PASS"))
        );
    }

    #[test]
    fn toggles_change_and_say_they_apply_next_time() {
        let mut s = state_with(true);
        s.toggles_in_use = Some(s.toggles);
        update(&mut s, key(KeyCode::F(2)));
        assert_eq!(s.toggles.tls, TlsMode::Implicit);
        assert!(s.toggles_pending());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.contains("next connection"))
        );
        update(&mut s, key(KeyCode::F(4)));
        update(&mut s, key(KeyCode::F(4)));
        assert_eq!(s.toggles.verify, Verify::Insecure);
        update(&mut s, key(KeyCode::F(6)));
        assert_eq!(s.toggles.mechanism, Mechanism::Login);
        update(&mut s, key(KeyCode::F(7)));
        assert!(s.toggles.send_data);
        update(&mut s, key(KeyCode::F(3)));
        assert!(s.toggles.require_tls);
    }

    #[test]
    fn hand_typed_commands_decode_escapes_and_keep_history() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Tab));
        update(&mut s, key(KeyCode::Tab));
        assert_eq!(s.focus, Focus::Editor);
        typed(&mut s, "NOOP");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::Manual { bytes, .. }] if bytes == b"NOOP\r\n"));
        typed(&mut s, "MAIL FROM:<a>\\n\\x00");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Manual { bytes, .. }] if bytes == b"MAIL FROM:<a>\n\0"),
            "{e:?}"
        );
        // An escaped backslash before r is text, so the line still gets its CRLF ...
        typed(&mut s, "NOOP C:\\\\radio");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Manual { bytes, .. }] if bytes == b"NOOP C:\\radio\r\n"),
            "{e:?}"
        );
        // ... while a hex-escaped bare CR is the operator's own line ending.
        typed(&mut s, "NOOP\\x0d");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::Manual { bytes, .. }] if bytes == b"NOOP\r"));
        typed(&mut s, "bad \\q");
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(err, t)| *err && t.contains("unknown escape"))
        );
        update(&mut s, key(KeyCode::Up));
        assert_eq!(s.editor.text(), "bad \\q");
        update(&mut s, key(KeyCode::Up));
        assert_eq!(s.editor.text(), "NOOP\\x0d");
        update(&mut s, key(KeyCode::Down));
        update(&mut s, key(KeyCode::Down));
        assert_eq!(s.editor.text(), "");
    }

    #[test]
    fn auth_typed_by_hand_asks_for_the_password_and_keeps_it_in_memory() {
        let mut s = state_with(false);
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH LOGIN");
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(matches!(s.overlay, Some(Overlay::Password { .. })));
        typed(&mut s, "s3cret");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::ManualAuth { mechanism: Mechanism::Login, target }] if target.password.is_some())
        );
        assert!(s.password.is_some());
        assert!(s.overlay.is_none());
    }

    #[test]
    fn ctrl_u_ctrl_h_and_backspace_erase_in_the_password_prompt() {
        use secrecy::ExposeSecret;
        let mut s = state_with(false);
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH PLAIN");
        update(&mut s, key(KeyCode::Enter));
        // Ctrl-U wipes the whole line, as in a shell's password prompt.
        typed(&mut s, "wrong");
        update(&mut s, ctrl('u'));
        typed(&mut s, "abcd");
        update(&mut s, ctrl('h'));
        update(&mut s, key(KeyCode::Backspace));
        update(&mut s, key(KeyCode::Enter));
        assert_eq!(
            s.password.as_ref().map(|p| p.expose_secret().to_string()),
            Some("ab".to_string())
        );
    }

    /// SECURITY.md §3: the prompt's buffer is wiped on backspace, Ctrl-U, Enter and close,
    /// asserted on the bytes of its allocation (what a memory dump would read) while the
    /// prompt is open, and on what each buffer held when it was freed.
    #[test]
    fn the_password_buffer_is_wiped_on_backspace_ctrl_u_enter_and_close() {
        use super::super::masked::released;
        use secrecy::ExposeSecret;
        fn allocation(s: &State) -> Vec<u8> {
            match &s.overlay {
                Some(Overlay::Password { field, .. }) => field.allocation().to_vec(),
                other => panic!("no password prompt: {other:?}"),
            }
        }
        fn nothing_after(bytes: &[u8], n: usize) -> bool {
            bytes[n..].iter().all(|b| *b == 0)
        }
        let mut s = state_with(false);
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH PLAIN");
        update(&mut s, key(KeyCode::Enter));
        let _ = released::take();

        typed(&mut s, "s3cret");
        assert_eq!(
            &allocation(&s)[..6],
            b"s3cret",
            "the view sees the typed bytes"
        );
        update(&mut s, key(KeyCode::Backspace));
        let a = allocation(&s);
        assert_eq!(&a[..5], b"s3cre");
        assert!(
            nothing_after(&a, 5),
            "Backspace left the 't': {:?}",
            &a[..8]
        );
        update(&mut s, ctrl('h'));
        assert!(nothing_after(&allocation(&s), 4), "Ctrl-H left the 'e'");
        update(&mut s, ctrl('u'));
        assert!(
            nothing_after(&allocation(&s), 0),
            "Ctrl-U left bytes behind"
        );

        typed(&mut s, "hunter2");
        update(&mut s, key(KeyCode::Enter));
        assert_eq!(
            s.password.as_ref().map(|p| p.expose_secret().to_string()),
            Some("hunter2".to_string())
        );
        let freed = released::take();
        assert!(
            !freed.is_empty(),
            "Enter closed the prompt and freed its buffer"
        );
        assert!(
            freed.iter().all(|b| nothing_after(b, 0)),
            "Enter freed a buffer holding the password"
        );

        // Esc closes the prompt with the password half typed.
        s.password = None;
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH PLAIN");
        update(&mut s, key(KeyCode::Enter));
        let _ = released::take();
        typed(&mut s, "half");
        update(&mut s, key(KeyCode::Esc));
        assert!(s.overlay.is_none());
        let freed = released::take();
        assert_eq!(freed.len(), 1, "Esc freed the prompt's buffer");
        assert!(
            nothing_after(&freed[0], 0),
            "Esc freed a buffer holding what was typed"
        );
    }

    #[test]
    fn a_scenario_needing_auth_prompts_when_the_profile_names_no_source() {
        let mut s = state_with(false);
        s.selected = 1; // B authenticates
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(matches!(s.overlay, Some(Overlay::Password { .. })));
        update(&mut s, key(KeyCode::Esc));
        assert!(s.overlay.is_none());
        assert!(s.run.is_none());
    }

    #[test]
    fn transcript_scrolls_selects_searches_and_quits() {
        let mut s = state_with(true);
        for i in 0..50 {
            let reply = crate::smtp::reply::ReplyParser::default()
                .feed(format!("250 line {i}\r\n").as_bytes())
                .reply
                .expect("reply");
            s.push_entry(&crate::transcript::Entry {
                at: std::time::Duration::from_millis(i),
                tls: false,
                kind: crate::transcript::EntryKind::Received {
                    reply,
                    latency: None,
                },
            });
        }
        s.focus = Focus::Transcript;
        update(&mut s, key(KeyCode::PageUp));
        assert!(!s.transcript.follow);
        assert_eq!(s.transcript.scroll, 10);
        update(&mut s, key(KeyCode::End));
        assert!(s.transcript.follow);
        update(&mut s, key(KeyCode::Up));
        assert_eq!(s.transcript.selected_line, Some(48));
        update(&mut s, key(KeyCode::Char('/')));
        typed(&mut s, "line 7");
        update(&mut s, key(KeyCode::Enter));
        assert_eq!(s.transcript.selected_line, Some(7));
        // n goes on from the selection and wraps past the end.
        update(&mut s, key(KeyCode::Char('/')));
        typed(&mut s, "line 4");
        update(&mut s, key(KeyCode::Enter));
        assert_eq!(s.transcript.selected_line, Some(40));
        // "line 4" is in lines 4 and 40 to 49: eleven matches, the selection the second.
        assert_eq!(s.transcript.match_count(), Some((2, 11)));
        update(&mut s, key(KeyCode::Char('n')));
        assert_eq!(s.transcript.selected_line, Some(41));
        assert_eq!(s.transcript.match_count(), Some((3, 11)));
        for _ in 0..9 {
            update(&mut s, key(KeyCode::Char('n')));
        }
        assert_eq!(s.transcript.selected_line, Some(4), "wrapped to the top");
        update(&mut s, key(KeyCode::Char('/')));
        typed(&mut s, "nowhere");
        update(&mut s, key(KeyCode::Enter));
        assert_eq!(
            s.transcript.selected_line,
            Some(4),
            "no match keeps the line"
        );
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, n)| n.contains("no match for \"nowhere\"")),
            "{:?}",
            s.notice
        );
        update(&mut s, key(KeyCode::Char('w')));
        assert!(s.transcript.raw_view);
        let e = update(&mut s, ctrl('c'));
        assert!(s.mode.quitting());
        assert!(matches!(e.as_slice(), [Effect::Abort]));
    }

    #[test]
    fn the_new_profile_template_parses_and_its_domain_variant_too() {
        let path = std::path::Path::new("new-1.toml");
        let p = Profile::parse(PROFILE_TEMPLATE, path).expect("template parses");
        assert_eq!(p.server, "mx.example.com:25");
        assert!(p.domain.is_none());
        // What a user does to start from a domain: drop server, uncomment domain.
        let by_domain: String = PROFILE_TEMPLATE
            .lines()
            .filter(|l| !l.starts_with("server ="))
            .map(|l| {
                l.strip_prefix("# domain")
                    .map_or(l.to_string(), |r| format!("domain{r}"))
            })
            .collect::<Vec<_>>()
            .join("\n");
        let p = Profile::parse(&by_domain, path).expect("domain variant parses");
        assert!(p.server.is_empty());
        assert_eq!(p.domain.as_deref(), Some("example.com"));
    }

    fn net(state: &mut State, ev: NetEvent) {
        update(state, Message::Net(Box::new(ev)));
    }

    fn shift(c: char) -> Message {
        Message::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::SHIFT))
    }

    /// Two profiles on two servers; the second requires TLS.
    fn two_profiles() -> State {
        let mut s = state_with(true);
        let mut second = s.profiles.entries[0].clone();
        second.name = "q".into();
        second.profile.server = "127.0.0.1:2526".into();
        second.profile.require_tls = true;
        s.profiles.entries.push(second);
        s
    }

    fn current(s: &State) -> &str {
        s.profiles.current().map_or("", |p| p.name.as_str())
    }

    /// The screen as text, to check what the operator is shown.
    fn screen(s: &State) -> String {
        let mut t =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 35)).expect("terminal");
        t.draw(|f| super::super::view::view(s, f, super::super::view::Theme { color: false }))
            .expect("draw");
        let buf = t.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    /// Picks the profile after the current one in the list (p, then Up/Down, then Enter), as
    /// the old `p` did; returns what Enter did.
    fn next_profile(s: &mut State) -> Vec<Effect> {
        let n = s.profiles.len();
        let target = (s.profiles.current_index() + 1) % n.max(1);
        let e = update(s, key(KeyCode::Char('p')));
        assert!(matches!(e.as_slice(), [Effect::ListProfiles]), "{e:?}");
        loop {
            let Some(Overlay::Profiles(p)) = &s.overlay else {
                panic!("the profile list is open: {:?}", s.overlay);
            };
            match p.selected.cmp(&target) {
                std::cmp::Ordering::Less => update(s, key(KeyCode::Down)),
                std::cmp::Ordering::Greater => update(s, key(KeyCode::Char('k'))),
                std::cmp::Ordering::Equal => break,
            };
        }
        update(s, key(KeyCode::Enter))
    }

    /// D on the current profile in the list: asks to confirm.
    fn delete_current(s: &mut State) {
        update(s, key(KeyCode::Char('p')));
        update(s, shift('D'));
        assert!(matches!(s.overlay, Some(Overlay::ConfirmDelete { .. })));
    }

    /// The scenario list's row for `id`.
    fn picker_row(s: &State, id: &str) -> String {
        screen(s)
            .lines()
            .find(|l| l.contains(&format!(" {id} ")) || l.contains(&format!(" {id}│")))
            .unwrap_or_default()
            .to_string()
    }

    fn run_a(s: &mut State, verdict: crate::scenario::Verdict) {
        // The worker is idle (after any abort a switch of profile asked for).
        net(s, NetEvent::Idle);
        s.focus = Focus::Picker;
        s.selected = 0;
        assert!(!update(s, key(KeyCode::Enter)).is_empty());
        net(
            s,
            NetEvent::Done {
                verdict,
                reason: "x".into(),
                edited: Vec::new(),
            },
        );
    }

    #[test]
    fn verdicts_are_kept_per_profile() {
        use crate::scenario::Verdict;
        let mut s = two_profiles();
        run_a(&mut s, Verdict::Fail);
        assert!(picker_row(&s, "unauth-relay").contains("FAIL"));
        next_profile(&mut s);
        assert_eq!(current(&s), "q");
        let row = picker_row(&s, "unauth-relay");
        assert!(!row.contains("FAIL"), "q has run nothing yet: {row}");
        run_a(&mut s, Verdict::Pass);
        assert!(picker_row(&s, "unauth-relay").contains("PASS"));
        next_profile(&mut s);
        assert_eq!(current(&s), "p");
        let row = picker_row(&s, "unauth-relay");
        assert!(
            row.contains("FAIL") && !row.contains("PASS"),
            "p keeps its own verdict: {row}"
        );
    }

    #[test]
    fn the_labs_verdicts_are_shown_side_by_side() {
        use crate::scenario::Verdict;
        let mut s = two_profiles();
        s.compare = vec![("p".into(), "open".into()), ("q".into(), "secure".into())];
        run_a(&mut s, Verdict::Fail);
        let row = picker_row(&s, "unauth-relay");
        assert!(row.contains("open:FAIL"), "{row}");
        next_profile(&mut s);
        run_a(&mut s, Verdict::Pass);
        let row = picker_row(&s, "unauth-relay");
        assert!(row.contains("open:FAIL secure:PASS"), "{row}");
        assert!(picker_row(&s, "auth-relay-approved").contains("B  auth-relay-approved"));
        // A profile outside the comparison shows its own verdicts only.
        s.compare.pop();
        let row = picker_row(&s, "unauth-relay");
        assert!(
            row.contains("unauth-relay PASS") && !row.contains("open:"),
            "{row}"
        );
        // A deleted profile's verdicts go with it: one made later under its name has none.
        delete_current(&mut s);
        update(&mut s, key(KeyCode::Char('y')));
        assert_eq!(s.verdicts.get("q", "unauth-relay"), None);
        assert_eq!(s.verdicts.get("p", "unauth-relay"), Some(Verdict::Fail));
    }

    #[test]
    fn switching_profile_closes_the_old_connection() {
        let mut s = two_profiles();
        s.focus = Focus::Editor;
        typed(&mut s, "NOOP");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Manual { target, .. }] if target.profile_name == "p")
        );
        let open = super::super::state::ConnInfo {
            phase: crate::tui::state::ConnPhase::Open(crate::smtp::session::Phase::Ready),
            auth: Some("bob".into()),
            ..Default::default()
        };
        net(&mut s, NetEvent::Conn(open.clone()));
        net(&mut s, NetEvent::Idle);
        update(&mut s, key(KeyCode::Esc));
        assert_eq!(s.focus, Focus::Picker);
        let e = next_profile(&mut s);
        assert!(
            matches!(e.as_slice(), [Effect::Abort]),
            "the worker closes the old connection: {e:?}"
        );
        assert_eq!(current(&s), "q");
        assert!(
            (s.conn.phase == crate::tui::state::ConnPhase::None)
                && s.conn.auth.is_none()
                && s.conn.tls.is_none()
        );
        assert!(s.toggles.require_tls, "q's own toggles");
        assert!(!s.toggles_pending());
        let top = screen(&s).lines().next().unwrap_or_default().to_string();
        assert!(
            top.contains("q │ 127.0.0.1:2526 │ not connected │ no TLS │ not authenticated"),
            "{top}"
        );
        // News of the old connection still on its way does not come back.
        net(&mut s, NetEvent::Conn(open));
        assert!(s.conn.auth.is_none());
        net(&mut s, NetEvent::Idle);
        s.focus = Focus::Editor;
        typed(&mut s, "NOOP");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Manual { target, .. }] if target.profile_name == "q")
        );
    }

    #[test]
    fn switching_profile_during_a_run_asks_first() {
        let mut s = two_profiles();
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        update(&mut s, key(KeyCode::Tab));
        assert_eq!(s.focus, Focus::Picker);
        assert!(next_profile(&mut s).is_empty());
        assert_eq!(current(&s), "p");
        assert!(s.overlay.is_some());
        assert!(
            screen(&s).contains("a run is in progress on p: switch to q and abort it? y/n"),
            "{}",
            screen(&s)
        );
        // Anything but y keeps the run.
        assert!(update(&mut s, key(KeyCode::Char('n'))).is_empty());
        assert!(s.overlay.is_none());
        assert_eq!(current(&s), "p");
        assert_eq!(s.run.as_ref().and_then(|r| r.step()), Some(0));
        next_profile(&mut s);
        let e = update(&mut s, key(KeyCode::Char('y')));
        assert!(matches!(e.as_slice(), [Effect::Abort]), "{e:?}");
        assert_eq!(current(&s), "q");
        assert!(s.run.as_ref().is_none_or(|r| r.step().is_none()));
        assert_eq!(s.editor.text(), "", "the old run's step is gone");
    }

    #[test]
    fn starting_another_scenario_during_a_run_asks_first_and_follows_the_new_session() {
        let mut s = two_profiles();
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        update(&mut s, key(KeyCode::Tab));
        assert_eq!(s.focus, Focus::Picker);
        update(&mut s, key(KeyCode::Down));
        let other = s
            .selected_scenario()
            .map(|x| x.id.clone())
            .expect("a scenario");
        assert!(
            update(&mut s, key(KeyCode::Enter)).is_empty(),
            "asked first"
        );
        assert!(
            screen(&s).contains("unauth-relay is in progress: abort it"),
            "{}",
            screen(&s)
        );
        // Anything but y: the run goes on, at its step.
        assert!(update(&mut s, key(KeyCode::Char('n'))).is_empty());
        assert_eq!(
            s.run.as_ref().map(|r| r.scenario.id.as_str()),
            Some("unauth-relay")
        );
        assert_eq!(s.run.as_ref().and_then(|r| r.step()), Some(0));
        // y: the new scenario starts, and the transcript follows its session.
        s.transcript.follow = false;
        update(&mut s, key(KeyCode::Enter));
        let e = update(&mut s, key(KeyCode::Char('y')));
        assert!(
            matches!(e.as_slice(), [Effect::StartScenario { scenario, .. }] if scenario.id == other),
            "{e:?}"
        );
        assert_eq!(s.run.as_ref().map(|r| r.scenario.id.clone()), Some(other));
        assert!(s.transcript.follow, "the new session is in view");
    }

    #[test]
    fn a_local_step_is_shown_not_put_in_the_editor_and_enter_runs_it() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Local("check: STARTTLS advertised".into()),
            },
        );
        assert_eq!(
            s.editor.text(),
            "",
            "nothing that could be sent is in the editor"
        );
        let said = s
            .notice
            .as_ref()
            .map(|(_, n)| n.clone())
            .unwrap_or_default();
        assert!(said.contains("a local check, nothing is sent"), "{said}");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Advance { edited: None }]),
            "Enter on the empty editor runs the step as the scenario says: {e:?}"
        );
    }

    /// A server's text reaches every pane (the verdict panel, the status line, the strip);
    /// none of it may drive the terminal: ESC, BEL, bidi overrides and zero-width characters
    /// never reach the screen buffer (ratatui drops controls and zero-width graphemes; the
    /// transcript shows them as escapes).
    #[test]
    fn hostile_server_text_never_reaches_the_screen() {
        let hostile = "550 \x1b]52;c;aGk=\x07 \x1b[2J \u{202e}gpj.exe \u{200b}\u{2066}x";
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Entry(crate::transcript::Entry {
                at: std::time::Duration::ZERO,
                tls: false,
                kind: crate::transcript::EntryKind::Event(crate::transcript::Event::Info(format!(
                    "STARTTLS refused ({hostile})"
                ))),
            }),
        );
        let result = crate::scenario::StepResult {
            name: None,
            command: "RCPT TO:<a@b>".into(),
            expected: "rejected".into(),
            reply: Some(crate::scenario::runner::ReplySummary {
                code: Some(550),
                enhanced: None,
                text: hostile.into(),
            }),
            verdict: crate::scenario::Verdict::Pass,
            reason: hostile.into(),
            elapsed_ms: 1,
            role: crate::scenario::model::Role::Probe,
            note: None,
            edited: false,
        };
        net(&mut s, NetEvent::Step { index: 1, result });
        net(&mut s, NetEvent::Info(hostile.into()));
        let shown = screen(&s);
        for bad in ['\x1b', '\x07', '\u{202e}', '\u{200b}', '\u{2066}'] {
            assert!(!shown.contains(bad), "{bad:?} reached the screen:\n{shown}");
        }
        assert!(shown.contains("gpj.exe"), "{shown}");
    }

    #[test]
    fn esc_aborts_a_run_and_clears_its_step() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        assert_eq!(s.focus, Focus::Editor);
        net(
            &mut s,
            NetEvent::Conn(super::super::state::ConnInfo {
                phase: crate::tui::state::ConnPhase::Open(crate::smtp::session::Phase::Ready),
                ..Default::default()
            }),
        );
        let e = update(&mut s, key(KeyCode::Esc));
        assert!(matches!(e.as_slice(), [Effect::Abort]), "{e:?}");
        assert_eq!(s.editor.text(), "");
        assert_eq!(s.focus, Focus::Picker);
        assert_eq!(
            s.conn.phase,
            crate::tui::state::ConnPhase::Closed(crate::tui::state::CloseReason::Aborted)
        );
        assert!(
            s.run
                .as_ref()
                .is_some_and(|r| r.step().is_none() && !r.is_waiting())
        );
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.starts_with("aborted") && t.contains("QUIT")),
            "{:?}",
            s.notice
        );
        // A preview already on its way from the aborted run does not refill the editor.
        net(
            &mut s,
            NetEvent::Preview {
                index: 1,
                step: crate::scenario::runner::StepKind::Command("RCPT TO:<a@b>".into()),
            },
        );
        net(&mut s, NetEvent::Idle);
        assert_eq!(s.editor.text(), "");
        // What is typed next is a command of its own, not an edit of the step.
        typed(&mut s, "NOOP");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::Manual { bytes, .. }] if bytes == b"NOOP\r\n"),
            "{e:?}"
        );
        // Nothing is left to skip or run.
        assert!(update(&mut s, ctrl('r')).is_empty());
        // Esc while connecting aborts as well.
        s.focus = Focus::Picker;
        update(&mut s, key(KeyCode::Enter));
        let e = update(&mut s, key(KeyCode::Esc));
        assert!(matches!(e.as_slice(), [Effect::Abort]), "{e:?}");
        assert!(s.run.as_ref().is_some_and(|r| !r.is_waiting()));
        // Ctrl-L drops the worker's run to reconnect: its step does not stay either.
        net(&mut s, NetEvent::Idle);
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        let e = update(&mut s, ctrl('l'));
        assert!(matches!(e.as_slice(), [Effect::Reconnect { .. }]), "{e:?}");
        assert_eq!(s.editor.text(), "");
        assert!(s.run.as_ref().is_some_and(|r| r.step().is_none()));
    }

    fn secret_unset(var: &str) -> NetEvent {
        NetEvent::Error(std::sync::Arc::new(
            super::super::worker::WorkerError::Target {
                profile: "p".into(),
                source: crate::target::TargetError::Secret(crate::secret::SecretError::EnvUnset {
                    var: var.into(),
                }),
            },
        ))
    }

    #[test]
    fn an_unset_password_env_asks_for_the_password_and_retries() {
        let mut s = state_with(true);
        s.selected = 1; // B authenticates
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::StartScenario { .. }]));
        net(&mut s, secret_unset("ALICE_PW"));
        assert!(matches!(s.overlay, Some(Overlay::Password { .. })));
        let shown = screen(&s);
        assert!(
            shown.contains("environment variable ALICE_PW is not set: type the password"),
            "{shown}"
        );
        assert!(shown.contains("F5"), "{shown}");
        s.selected = 0; // the operator's selection does not change what is retried
        typed(&mut s, "s3cret");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::StartScenario { target, scenario, .. }] if target.password.is_some() && scenario.id == "auth-relay-approved"),
            "{e:?}"
        );
        // AUTH typed by hand, likewise.
        let mut s = state_with(true);
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH LOGIN");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::ManualAuth { .. }]));
        net(&mut s, secret_unset("ALICE_PW"));
        net(&mut s, NetEvent::Idle);
        assert!(matches!(s.overlay, Some(Overlay::Password { .. })));
        typed(&mut s, "s3cret");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::ManualAuth { mechanism: Mechanism::Login, target }] if target.password.is_some()),
            "{e:?}"
        );
        // A run that needs no AUTH never asks: its error is shown as it is.
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Enter));
        net(&mut s, secret_unset("ALICE_PW"));
        assert!(s.overlay.is_none());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(err, t)| *err && t.contains("ALICE_PW"))
        );
    }

    #[test]
    fn a_saved_or_deleted_profile_brings_its_toggles_and_no_typed_password() {
        let mut s = state_with(false);
        s.password = Some(secrecy::SecretString::from("typed"));
        let mut strict = s.profiles.entries[0].profile.clone();
        strict.require_tls = true;
        net(
            &mut s,
            NetEvent::ProfileSaved {
                name: "strict".into(),
                path: "strict.toml".into(),
                profile: Box::new(strict),
            },
        );
        assert_eq!(current(&s), "strict");
        assert!(
            s.toggles.require_tls,
            "F3 shows the saved profile's setting"
        );
        assert!(screen(&s).contains("F3 req:on"));
        assert!(s.password.is_none(), "p's password does not go to strict");
        s.password = Some(secrecy::SecretString::from("typed"));
        delete_current(&mut s);
        let e = update(&mut s, key(KeyCode::Char('y')));
        assert!(
            matches!(e.as_slice(), [Effect::Abort, Effect::DeleteProfile { name }] if name == "strict"),
            "{e:?}"
        );
        assert_eq!(current(&s), "p");
        assert!(!s.toggles.require_tls);
        assert!(s.password.is_none(), "strict's password does not go to p");
    }

    #[test]
    fn with_auth_off_a_scenario_that_needs_it_says_so() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::F(5)));
        assert!(!s.toggles.auth);
        s.selected = 1; // B authenticates
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(s.run.is_none());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.contains("AUTH is off (F5)")),
            "{:?}",
            s.notice
        );
        s.focus = Focus::Editor;
        typed(&mut s, "AUTH PLAIN");
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.contains("AUTH is off (F5)")),
            "{:?}",
            s.notice
        );
        assert_eq!(s.editor.text(), "AUTH PLAIN", "kept to send after F5");
        update(&mut s, key(KeyCode::F(5)));
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::ManualAuth { .. }]), "{e:?}");
        update(&mut s, key(KeyCode::F(5)));
        // A needs no AUTH.
        s.focus = Focus::Picker;
        s.selected = 0;
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::StartScenario { .. }]));
    }

    #[test]
    fn notices_end_with_what_they_describe() {
        let mut s = state_with(true);
        s.focus = Focus::Editor;
        typed(&mut s, "bad \\q");
        update(&mut s, key(KeyCode::Enter));
        assert!(s.notice.as_ref().is_some_and(|(err, _)| *err));
        s.editor.clear();
        typed(&mut s, "NOOP");
        update(&mut s, key(KeyCode::Enter));
        assert!(
            s.notice.is_none(),
            "a command sent replaces the old error: {:?}",
            s.notice
        );
        // AUTH refused (no TLS), then accepted once TLS is up: the refusal is over.
        net(
            &mut s,
            NetEvent::Error(std::sync::Arc::new(super::super::worker::WorkerError::Net(
                crate::net::NetError::Refusal(crate::smtp::session::Refusal::CleartextAuth),
            ))),
        );
        assert!(s.notice.as_ref().is_some_and(|(err, _)| *err));
        net(
            &mut s,
            NetEvent::Conn(super::super::state::ConnInfo {
                phase: crate::tui::state::ConnPhase::Open(crate::smtp::session::Phase::Ready),
                auth: Some("bob".into()),
                ..Default::default()
            }),
        );
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(err, t)| !*err && t.contains("authenticated as bob")),
            "{:?}",
            s.notice
        );
        // "reconnecting" lasts until the reconnection is done.
        update(&mut s, ctrl('l'));
        assert!(s.notice.as_ref().is_some_and(|(_, t)| t == "reconnecting"));
        net(&mut s, NetEvent::Idle);
        assert!(s.notice.is_none(), "{:?}", s.notice);
    }

    fn sent_lines(s: &mut State, n: usize) {
        for i in 0..n {
            let e = crate::transcript::Entry {
                at: std::time::Duration::from_millis(i as u64),
                tls: false,
                kind: crate::transcript::EntryKind::Sent {
                    bytes: format!("NOOP {i}\r\n").into_bytes(),
                    redacted: false,
                },
            };
            net(s, NetEvent::Entry(e));
        }
    }

    #[test]
    fn typing_a_command_while_scrolled_back_follows_again() {
        let mut s = state_with(true);
        sent_lines(&mut s, 60);
        s.focus = Focus::Transcript;
        update(&mut s, key(KeyCode::Up));
        update(&mut s, key(KeyCode::PageUp));
        assert!(!s.transcript.follow);
        assert_eq!(
            s.transcript.selected_line,
            Some(48),
            "the page moves the selection"
        );
        s.focus = Focus::Editor;
        typed(&mut s, "NOOP");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::Manual { .. }]), "{e:?}");
        assert!(s.transcript.follow, "the reply will be in view");
        assert_eq!(s.transcript.selected_line, None);
        // The worker answered it.
        net(&mut s, NetEvent::Idle);
        // A step sent while scrolled back, likewise.
        update(&mut s, key(KeyCode::Esc));
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        s.transcript.scroll_up(5);
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::Advance { .. }]), "{e:?}");
        assert!(s.transcript.follow);
    }

    #[test]
    fn z_cuts_long_lines_and_left_right_scroll_them() {
        let mut s = state_with(true);
        sent_lines(&mut s, 3);
        s.focus = Focus::Transcript;
        assert!(s.transcript.wrap, "wrapped by default");
        update(&mut s, key(KeyCode::Right));
        assert_eq!(s.transcript.hscroll, 0);
        assert!(
            s.notice.as_ref().is_some_and(|(_, t)| t.contains("z cuts")),
            "{:?}",
            s.notice
        );
        update(&mut s, key(KeyCode::Char('z')));
        assert!(!s.transcript.wrap);
        update(&mut s, key(KeyCode::Right));
        update(&mut s, key(KeyCode::Char('l')));
        assert_eq!(s.transcript.hscroll, 16);
        update(&mut s, key(KeyCode::Char('h')));
        assert_eq!(s.transcript.hscroll, 8);
        update(&mut s, key(KeyCode::Left));
        update(&mut s, key(KeyCode::Left));
        assert_eq!(s.transcript.hscroll, 0);
        update(&mut s, key(KeyCode::Right));
        update(&mut s, key(KeyCode::Char('z')));
        assert!(s.transcript.wrap);
        assert_eq!(s.transcript.hscroll, 0, "wrapping again starts at the left");
    }

    #[test]
    fn v_compares_with_the_partner_and_left_right_pick_another() {
        let mut s = two_profiles();
        let third = s.profiles.entries[0].clone();
        s.profiles.entries.push(ProfileEntry {
            name: "r".into(),
            ..third
        });
        s.compare = vec![("p".into(), "open".into()), ("q".into(), "secure".into())];
        update(&mut s, key(KeyCode::Char('v')));
        let other = |s: &State| match &s.overlay {
            Some(Overlay::Compare { other, .. }) => other.clone(),
            o => panic!("{o:?}"),
        };
        assert_eq!(other(&s), "q", "the first-run partner");
        update(&mut s, key(KeyCode::Right));
        assert_eq!(other(&s), "r");
        update(&mut s, key(KeyCode::Char('l')));
        assert_eq!(other(&s), "q", "wraps around, never the current profile");
        update(&mut s, key(KeyCode::Char('h')));
        assert_eq!(other(&s), "r");
        // `/` searches it as every pane: the query takes every key, `l` included.
        update(&mut s, key(KeyCode::Char('/')));
        for c in "hl".chars() {
            update(&mut s, key(KeyCode::Char(c)));
        }
        update(&mut s, key(KeyCode::Enter));
        match &s.overlay {
            Some(Overlay::Compare { other, scroll }) => {
                assert_eq!(other, "r", "typing did not switch the profile");
                assert_eq!(scroll.search.as_deref(), Some("hl"));
            }
            o => panic!("{o:?}"),
        }
        update(&mut s, key(KeyCode::Esc));
        assert!(s.overlay.is_none());
        // Alone, there is nothing to compare with: said, not an empty pane.
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::Char('v')));
        assert!(s.overlay.is_none());
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.contains("only one profile"))
        );
    }

    #[test]
    fn a_suggested_ehlo_fills_an_empty_editor_only() {
        let mut s = state_with(true);
        let suggest = || NetEvent::Suggest {
            command: "EHLO probe.test".into(),
            why: "TLS is up: RFC 3207 requires a new EHLO".into(),
        };
        net(&mut s, suggest());
        assert_eq!(s.editor.text(), "EHLO probe.test");
        assert_eq!(s.focus, Focus::Editor);
        assert!(
            s.notice
                .as_ref()
                .is_some_and(|(_, t)| t.contains("RFC 3207"))
        );
        // What the operator has typed is kept.
        s.editor.clear();
        typed(&mut s, "NOOP");
        net(&mut s, suggest());
        assert_eq!(s.editor.text(), "NOOP");
        // A scenario's step in the editor is kept too.
        s.editor.clear();
        s.focus = Focus::Picker;
        update(&mut s, key(KeyCode::Enter));
        net(
            &mut s,
            NetEvent::Preview {
                index: 0,
                step: crate::scenario::runner::StepKind::Command("MAIL FROM:<x@y>".into()),
            },
        );
        net(&mut s, suggest());
        assert_eq!(s.editor.text(), "MAIL FROM:<x@y>");
    }

    #[test]
    fn help_and_profile_editor_overlays() {
        let mut s = state_with(true);
        update(&mut s, key(KeyCode::F(1)));
        assert!(matches!(s.overlay, Some(Overlay::Help { .. })));
        // Keys that scroll never close it; only Esc or q do.
        for c in [
            KeyCode::Down,
            KeyCode::PageDown,
            KeyCode::Char('j'),
            KeyCode::End,
        ] {
            update(&mut s, key(c));
            assert!(s.overlay.is_some(), "{c:?} closed the help");
        }
        update(&mut s, key(KeyCode::Char('x')));
        assert!(s.overlay.is_some(), "an unbound key closes nothing");
        // The wheel scrolls the help, not the transcript behind it.
        let wheel = |kind| {
            Message::Mouse(ratatui::crossterm::event::MouseEvent {
                kind,
                column: 0,
                row: 0,
                modifiers: KeyModifiers::NONE,
            })
        };
        update(&mut s, wheel(MouseEventKind::ScrollUp));
        assert!(s.transcript.follow, "the transcript did not move");
        update(&mut s, key(KeyCode::Home));
        update(&mut s, wheel(MouseEventKind::ScrollDown));
        match &s.overlay {
            Some(Overlay::Help { scroll }) => assert_eq!(scroll.pos(), 3),
            o => panic!("{o:?}"),
        }
        update(&mut s, key(KeyCode::Char('q')));
        assert!(s.overlay.is_none());
        update(&mut s, key(KeyCode::Char('c')));
        update(&mut s, key(KeyCode::PageDown));
        assert!(matches!(s.overlay, Some(Overlay::Capabilities { .. })));
        update(&mut s, key(KeyCode::Esc));
        assert!(s.overlay.is_none());
        // A new profile: its name is asked first, and checked.
        update(&mut s, key(KeyCode::Char('p')));
        update(&mut s, key(KeyCode::Char('n')));
        let naming_error = |s: &State| match &s.overlay {
            Some(Overlay::Profiles(ProfilePicker {
                naming: Some(n), ..
            })) => n.error.clone(),
            other => panic!("{other:?}"),
        };
        typed(&mut s, "p");
        update(&mut s, key(KeyCode::Enter));
        assert!(
            naming_error(&s).is_some_and(|e| e.contains("already exists")),
            "{:?}",
            naming_error(&s)
        );
        update(&mut s, key(KeyCode::Backspace));
        typed(&mut s, "bad/name");
        update(&mut s, key(KeyCode::Enter));
        assert!(
            naming_error(&s).is_some_and(|e| e.contains("not a valid profile name")),
            "{:?}",
            naming_error(&s)
        );
        for _ in 0.."bad/name".len() {
            update(&mut s, key(KeyCode::Backspace));
        }
        typed(&mut s, "staging");
        update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(s.overlay, Some(Overlay::ProfileEditor { ref name, .. }) if name == "staging")
        );
        typed(&mut s, "oops = ");
        let e = update(&mut s, ctrl('s'));
        assert!(e.is_empty(), "a broken profile is not saved");
        match &s.overlay {
            Some(Overlay::ProfileEditor {
                error: Some(err), ..
            }) => assert!(err.contains("staging.toml:1:"), "{err}"),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod profile_list_tests {
    use super::*;
    use crate::profile::Profile;
    use crate::tui::state::ProfileEntry;
    use ratatui::crossterm::event::KeyEvent;

    fn key(code: KeyCode) -> Message {
        Message::Key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn entry(name: &str, saved: bool) -> ProfileEntry {
        ProfileEntry {
            name: name.into(),
            profile: Profile {
                server: format!("{name}.example:25"),
                ..Profile::default()
            },
            saved,
        }
    }

    fn state() -> State {
        State::new(
            vec![entry("lab-open", false), entry("mx", true)],
            Vec::new(),
        )
    }

    fn typed(s: &mut State, text: &str) {
        for c in text.chars() {
            update(s, key(KeyCode::Char(c)));
        }
    }

    #[test]
    fn opening_the_list_rereads_the_directory_and_shows_new_files() {
        let mut s = state();
        let e = update(&mut s, key(KeyCode::Char('p')));
        assert!(matches!(e.as_slice(), [Effect::ListProfiles]), "{e:?}");
        let by_hand = Profile {
            server: "written.by.hand:25".into(),
            ..Profile::default()
        };
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::ProfilesListed {
                profiles: vec![
                    ("by-hand".into(), by_hand),
                    ("mx".into(), entry("mx", true).profile),
                ],
                errors: Vec::new(),
            })),
        );
        let names: Vec<&str> = s.profiles.entries.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["lab-open", "mx", "by-hand"]);
        // It can be picked at once.
        update(&mut s, key(KeyCode::Down));
        update(&mut s, key(KeyCode::Down));
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(matches!(e.as_slice(), [Effect::Abort]), "{e:?}");
        assert_eq!(
            s.profiles.current().map(|p| p.name.as_str()),
            Some("by-hand")
        );
    }

    #[test]
    fn rename_asks_a_name_renames_the_file_and_keeps_the_verdicts() {
        let mut s = state();
        s.verdicts
            .record("mx", "unauth-relay", crate::scenario::Verdict::Pass);
        update(&mut s, key(KeyCode::Char('p')));
        update(&mut s, key(KeyCode::Down));
        update(&mut s, key(KeyCode::Char('r')));
        for _ in 0..2 {
            update(&mut s, key(KeyCode::Backspace));
        }
        // A clash is refused with a clear error, nothing renamed.
        typed(&mut s, "lab-open");
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        match &s.overlay {
            Some(Overlay::Profiles(ProfilePicker {
                naming: Some(n), ..
            })) => assert!(
                n.error
                    .as_deref()
                    .is_some_and(|e| e.contains("already exists")),
                "{:?}",
                n.error
            ),
            other => panic!("{other:?}"),
        }
        for _ in 0.."lab-open".len() {
            update(&mut s, key(KeyCode::Backspace));
        }
        typed(&mut s, "mx-prod");
        let e = update(&mut s, key(KeyCode::Enter));
        assert!(
            matches!(e.as_slice(), [Effect::RenameProfile { from, to }] if from == "mx" && to == "mx-prod"),
            "a saved profile's file is renamed by the worker: {e:?}"
        );
        update(
            &mut s,
            Message::Net(Box::new(NetEvent::ProfileRenamed {
                from: "mx".into(),
                to: "mx-prod".into(),
                path: "profiles/mx-prod.toml".into(),
            })),
        );
        assert!(s.profiles.position("mx").is_none());
        assert_eq!(
            s.verdicts.get("mx-prod", "unauth-relay"),
            Some(crate::scenario::Verdict::Pass)
        );
        // A profile kept in memory is renamed at once, and the comparison follows it.
        s.compare = vec![("lab-open".into(), "open".into())];
        update(&mut s, key(KeyCode::Up));
        update(&mut s, key(KeyCode::Char('r')));
        for _ in 0.."lab-open".len() {
            update(&mut s, key(KeyCode::Backspace));
        }
        typed(&mut s, "practice");
        assert!(update(&mut s, key(KeyCode::Enter)).is_empty());
        assert!(s.profiles.position("practice").is_some());
        assert_eq!(s.compare[0].0, "practice");
    }
}
