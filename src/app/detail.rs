//! Opening the detail view of the selected backend.

use super::{App, Mode, Pane};

impl App {
    /// Opens the selected backend's detail at its top, or says in the status line why
    /// there is none to open.
    pub(super) fn open_detail(&mut self) {
        if self.ui.focus != Pane::Backends {
            self.say("select a backend first (Tab to the backend table) to see its detail".into());
            return;
        }
        let Some(i) = self.selected_backend() else {
            let why = if self.ui.filter.is_empty() {
                "no backend is selected".to_string()
            } else {
                format!("no backend matches the filter /{}", self.ui.filter)
            };
            self.say(format!("{why}: no detail to show"));
            return;
        };
        self.ui.detail = Some(self.cluster.backends[i].name.clone());
        self.ui.overlay_scroll = 0;
        self.ui.mode = Mode::Detail;
    }

    /// The backend the open detail view shows, if it is still known.
    pub fn detail_backend(&self) -> Option<&crate::model::Backend> {
        let name = self.ui.detail.as_ref()?;
        self.cluster.backends.iter().find(|b| b.name == *name)
    }
}
