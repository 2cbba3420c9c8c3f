//! Every Block Kit id Janus writes and reads back: the `action_id` of each
//! button and select, the `callback_id` of each modal, the `block_id` of
//! each modal input.
//!
//! Templates (`templates/*.json.hbs`) write these ids and the bus and actors
//! match on them, so each is spelled once, here. Templates cannot import a
//! constant; `render`'s tests check that each template still writes the ids
//! listed here, and no namespaced id that is not.
//!
//! What must stay true: an id, once shipped, never changes. Messages already
//! posted in Slack keep the ids they were posted with, and a click on one of
//! them must still be understood (the test below pins every value).

/// `action_id`s of elements on messages: what a click is on.
pub mod action {
    /// The control message's status select.
    pub const STATUS: &str = "janus.status";
    /// The control message's severity select.
    pub const SEVERITY: &str = "janus.severity";
    /// The control message's Claim button of a role: this, then the role key.
    pub const CLAIM_PREFIX: &str = "janus.claim.";
    /// The control message's users select of a role: this, then the role key.
    pub const ASSIGN_PREFIX: &str = "janus.assign.";
    /// The control message's Release button of a held role: this, then the
    /// role key.
    pub const RELEASE_PREFIX: &str = "janus.release.";
    /// The digest's Join button (a link).
    pub const JOIN: &str = "janus.join";
    /// The declared reply's video call button (a link).
    pub const CALL: &str = "janus.call";
    /// The usage message's button that opens the declare form.
    pub const DECLARE_FORM: &str = "janus.declare_form";
    /// The Statuspage prompt's button that opens the create form.
    pub const STATUSPAGE_OPEN: &str = "janus.statuspage.open";
    /// The Statuspage message's button that opens the update form.
    pub const STATUSPAGE_UPDATE: &str = "janus.statuspage.update";
    /// The provider snapshot's Refresh button.
    pub const PROVIDERS_REFRESH: &str = "janus.providers.refresh";
    /// The one element of each modal input block: its value is read at
    /// `state.values.<block_id>.value`.
    pub const INPUT: &str = "value";

    /// The role a Claim button's id names, if `id` is one.
    pub fn claimed_role(id: &str) -> Option<&str> {
        id.strip_prefix(CLAIM_PREFIX)
    }

    /// The role an assign select's id names, if `id` is one.
    pub fn assigned_role(id: &str) -> Option<&str> {
        id.strip_prefix(ASSIGN_PREFIX)
    }

    /// The role a Release button's id names, if `id` is one.
    pub fn released_role(id: &str) -> Option<&str> {
        id.strip_prefix(RELEASE_PREFIX)
    }
}

/// `callback_id`s of modals: which form was submitted.
pub mod callback {
    /// The declare form.
    pub const DECLARE: &str = "janus.declare";
    /// The Statuspage create form.
    pub const STATUSPAGE_CREATE: &str = "janus.statuspage.create";
    /// The Statuspage update form.
    pub const STATUSPAGE_UPDATE: &str = "janus.statuspage.update";
    /// What both Statuspage forms' ids start with.
    pub const STATUSPAGE_PREFIX: &str = "janus.statuspage.";
}

/// `block_id`s of modal inputs (where a submitted field is, and what an
/// ack's `errors` name), and of the digest message's header.
pub mod block {
    /// The declare form's description.
    pub const DESCRIPTION: &str = "janus.description";
    /// The declare form's severity select.
    pub const SEVERITY: &str = "janus.severity";
    /// The declare form's "private incident" box.
    pub const PRIVATE: &str = "janus.private";
    /// A Statuspage form's title (create).
    pub const SP_NAME: &str = "sp.name";
    /// A Statuspage form's message (create and update).
    pub const SP_BODY: &str = "sp.body";
    /// A Statuspage form's impact (create).
    pub const SP_IMPACT: &str = "sp.impact";
    /// A Statuspage form's affected components (create).
    pub const SP_COMPONENTS: &str = "sp.components";
    /// A Statuspage form's status for those components (create).
    pub const SP_COMPONENT_STATUS: &str = "sp.component_status";
    /// A Statuspage form's "notify subscribers" choice (create and update).
    pub const SP_NOTIFY: &str = "sp.notify";
    /// A Statuspage form's incident status (update).
    pub const SP_STATUS: &str = "sp.status";
    /// The digest message's header: this, then the incident's id. How the
    /// publisher recognises its message for an incident whose ts it could
    /// not record, private incidents (which link nothing) included.
    pub const DIGEST_PREFIX: &str = "janus.digest.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ids_are_the_ones_already_posted_in_slack() {
        let pinned = [
            (action::STATUS, "janus.status"),
            (action::SEVERITY, "janus.severity"),
            (action::CLAIM_PREFIX, "janus.claim."),
            (action::ASSIGN_PREFIX, "janus.assign."),
            (action::RELEASE_PREFIX, "janus.release."),
            (action::JOIN, "janus.join"),
            (action::CALL, "janus.call"),
            (action::DECLARE_FORM, "janus.declare_form"),
            (action::STATUSPAGE_OPEN, "janus.statuspage.open"),
            (action::STATUSPAGE_UPDATE, "janus.statuspage.update"),
            (action::PROVIDERS_REFRESH, "janus.providers.refresh"),
            (action::INPUT, "value"),
            (callback::DECLARE, "janus.declare"),
            (callback::STATUSPAGE_CREATE, "janus.statuspage.create"),
            (callback::STATUSPAGE_UPDATE, "janus.statuspage.update"),
            (callback::STATUSPAGE_PREFIX, "janus.statuspage."),
            (block::DESCRIPTION, "janus.description"),
            (block::SEVERITY, "janus.severity"),
            (block::PRIVATE, "janus.private"),
            (block::SP_NAME, "sp.name"),
            (block::SP_BODY, "sp.body"),
            (block::SP_IMPACT, "sp.impact"),
            (block::SP_COMPONENTS, "sp.components"),
            (block::SP_COMPONENT_STATUS, "sp.component_status"),
            (block::SP_NOTIFY, "sp.notify"),
            (block::SP_STATUS, "sp.status"),
            (block::DIGEST_PREFIX, "janus.digest."),
        ];
        for (constant, shipped) in pinned {
            assert_eq!(constant, shipped);
        }
    }

    #[test]
    fn both_statuspage_forms_share_the_prefix_the_bus_routes_on() {
        for id in [callback::STATUSPAGE_CREATE, callback::STATUSPAGE_UPDATE] {
            assert!(id.starts_with(callback::STATUSPAGE_PREFIX), "{id}");
        }
    }

    #[test]
    fn a_role_is_read_back_from_its_claim_or_assign_id() {
        let claim = format!("{}technical_lead", action::CLAIM_PREFIX);
        let assign = format!("{}technical_lead", action::ASSIGN_PREFIX);
        assert_eq!(action::claimed_role(&claim), Some("technical_lead"));
        assert_eq!(action::assigned_role(&assign), Some("technical_lead"));
        assert_eq!(action::claimed_role(&assign), None);
        let release = format!("{}technical_lead", action::RELEASE_PREFIX);
        assert_eq!(action::released_role(&release), Some("technical_lead"));
        assert_eq!(action::released_role(&claim), None);
        assert_eq!(action::assigned_role(action::STATUS), None);
    }
}
