//! What a click ([`Click`], built by the bus) asks Janus to do.
//!
//! The action ids are the control template's contract (`janus.status`,
//! `janus.severity`, `janus.claim.<role>`, `janus.assign.<role>`,
//! `janus.join`, `janus.call`), the usage message's `janus.declare_form`
//! the Statuspage message's `janus.statuspage.open|update` and the provider
//! snapshot's `janus.providers.refresh`. Anything else is not ours and is
//! ignored.

use crate::domain::event::Click;
use crate::domain::ids::UserId;

/// What a click on the control message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlAction {
    /// Move the status.
    Status(String),
    /// Change the severity.
    Severity(String),
    /// Take a free role.
    Claim(String),
    /// Give a role to someone (replacing the holder).
    Assign(String, UserId),
    /// The usage message's button: open the declare form.
    OpenDeclareForm,
    /// The Statuspage message's button: open its create or update form.
    Statuspage,
    /// The provider snapshot's Refresh button.
    RefreshSnapshot,
    /// A link button (the digest's Join, the declared reply's call link):
    /// Slack opens the link, nothing to do.
    Link,
}

impl ControlAction {
    /// Reads a click; `None` for actions that are not Janus's, or that
    /// lack the value they need (e.g. a cleared users select).
    pub fn from_click(click: &Click) -> Option<Self> {
        let id = click.action_id.as_str();
        match id {
            "janus.status" => click.value.clone().map(Self::Status),
            "janus.severity" => click.value.clone().map(Self::Severity),
            "janus.join" | "janus.call" => Some(Self::Link),
            "janus.declare_form" => Some(Self::OpenDeclareForm),
            "janus.statuspage.open" | "janus.statuspage.update" => Some(Self::Statuspage),
            "janus.providers.refresh" => Some(Self::RefreshSnapshot),
            _ => {
                if let Some(role) = id.strip_prefix("janus.claim.") {
                    Some(Self::Claim(role.to_owned()))
                } else if let Some(role) = id.strip_prefix("janus.assign.") {
                    click
                        .selected_user
                        .clone()
                        .map(|u| Self::Assign(role.to_owned(), u))
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::ChannelId;

    fn click(action_id: &str, value: Option<&str>, user: Option<&str>) -> Click {
        Click {
            user: UserId::parse("U0ALICE01").unwrap(),
            channel: ChannelId::parse("C0INC0001").unwrap(),
            message_ts: None,
            response_url: None,
            action_id: action_id.into(),
            value: value.map(Into::into),
            selected_user: user.map(|u| UserId::parse(u).unwrap()),
            trigger_id: None,
            delivery: "envelope:e-1/0".into(),
        }
    }

    #[test]
    fn each_control_element_maps_to_its_action() {
        let bob = UserId::parse("U0BOB0001").unwrap();
        let cases = [
            (
                click("janus.status", Some("identified"), None),
                Some(ControlAction::Status("identified".into())),
            ),
            (
                click("janus.severity", Some("sev1"), None),
                Some(ControlAction::Severity("sev1".into())),
            ),
            (
                click("janus.claim.technical_lead", Some("technical_lead"), None),
                Some(ControlAction::Claim("technical_lead".into())),
            ),
            (
                click("janus.assign.technical_lead", None, Some("U0BOB0001")),
                Some(ControlAction::Assign("technical_lead".into(), bob)),
            ),
            (click("janus.join", None, None), Some(ControlAction::Link)),
            (click("janus.call", None, None), Some(ControlAction::Link)),
        ];
        for (click, want) in cases {
            assert_eq!(
                ControlAction::from_click(&click),
                want,
                "{}",
                click.action_id
            );
        }
    }

    #[test]
    fn foreign_or_incomplete_actions_are_not_ours() {
        for c in [
            click("approve_button", Some("x"), None),
            click("janus.status", None, None),
            click("janus.assign.technical_lead", None, None),
        ] {
            assert_eq!(ControlAction::from_click(&c), None, "{}", c.action_id);
        }
    }
}
