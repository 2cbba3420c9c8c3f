//! What a click ([`Click`], built by the bus) asks Janus to do.
//!
//! The action ids are the templates' contract, spelled once in
//! [`crate::domain::block_ids::action`]: the control message's selects and
//! role buttons, the digest's and declared reply's links, the usage
//! message's declare button, the Statuspage messages' buttons and the
//! provider snapshot's Refresh. Anything else is not ours and is ignored.

use crate::domain::block_ids::action;
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
    /// Leave a role without a holder.
    Release(String),
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
            action::STATUS => click.value.clone().map(Self::Status),
            action::SEVERITY => click.value.clone().map(Self::Severity),
            action::JOIN | action::CALL => Some(Self::Link),
            action::DECLARE_FORM => Some(Self::OpenDeclareForm),
            action::STATUSPAGE_OPEN | action::STATUSPAGE_UPDATE => Some(Self::Statuspage),
            action::PROVIDERS_REFRESH => Some(Self::RefreshSnapshot),
            _ => {
                if let Some(role) = action::claimed_role(id) {
                    Some(Self::Claim(role.to_owned()))
                } else if let Some(role) = action::released_role(id) {
                    Some(Self::Release(role.to_owned()))
                } else if let Some(role) = action::assigned_role(id) {
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
                click(action::STATUS, Some("identified"), None),
                Some(ControlAction::Status("identified".into())),
            ),
            (
                click(action::SEVERITY, Some("sev1"), None),
                Some(ControlAction::Severity("sev1".into())),
            ),
            (
                click(
                    &format!("{}technical_lead", action::CLAIM_PREFIX),
                    Some("technical_lead"),
                    None,
                ),
                Some(ControlAction::Claim("technical_lead".into())),
            ),
            (
                click(
                    &format!("{}technical_lead", action::ASSIGN_PREFIX),
                    None,
                    Some("U0BOB0001"),
                ),
                Some(ControlAction::Assign("technical_lead".into(), bob)),
            ),
            (
                click(
                    &format!("{}technical_lead", action::RELEASE_PREFIX),
                    Some("technical_lead"),
                    None,
                ),
                Some(ControlAction::Release("technical_lead".into())),
            ),
            (click(action::JOIN, None, None), Some(ControlAction::Link)),
            (click(action::CALL, None, None), Some(ControlAction::Link)),
            (
                click(action::DECLARE_FORM, None, None),
                Some(ControlAction::OpenDeclareForm),
            ),
            (
                click(action::STATUSPAGE_OPEN, None, None),
                Some(ControlAction::Statuspage),
            ),
            (
                click(action::STATUSPAGE_UPDATE, None, None),
                Some(ControlAction::Statuspage),
            ),
            (
                click(action::PROVIDERS_REFRESH, None, None),
                Some(ControlAction::RefreshSnapshot),
            ),
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
            click(action::STATUS, None, None),
            click(
                &format!("{}technical_lead", action::ASSIGN_PREFIX),
                None,
                None,
            ),
        ] {
            assert_eq!(ControlAction::from_click(&c), None, "{}", c.action_id);
        }
    }
}
