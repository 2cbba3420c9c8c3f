//! What Statuspage's Manage API sends and receives, typed.
//!
//! Answers are read through lenient wire structs (every field optional, nulls
//! and unknown fields tolerated) and then checked once into these types, so a
//! caller never meets a half-filled incident. Lists are read item by item: one
//! row Janus cannot read (a scheduled maintenance with impact `maintenance`, a
//! status Statuspage adds some day) is logged and skipped, never the whole list.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => ($wire:literal, $label:literal), )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $wire)] $variant, )+
        }

        impl $name {
            /// Every value, in the order a menu lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Statuspage's spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// A label for people (menus, messages).
            pub fn label(self) -> &'static str {
                match self { $($name::$variant => $label),+ }
            }

            /// The value Statuspage spells `wire`, if there is one.
            pub fn from_wire(wire: &str) -> Option<$name> {
                match wire { $($wire => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// How a component is doing, as the page shows it.
    pub enum ComponentStatus {
        /// Working normally.
        Operational => ("operational", "Operational"),
        /// Slow or flaky.
        DegradedPerformance => ("degraded_performance", "Degraded performance"),
        /// Down for some users.
        PartialOutage => ("partial_outage", "Partial outage"),
        /// Down.
        MajorOutage => ("major_outage", "Major outage"),
        /// Planned work.
        UnderMaintenance => ("under_maintenance", "Under maintenance"),
    }
}

wire_enum! {
    /// Where a (realtime) incident stands.
    pub enum IncidentStatus {
        /// Looking for the cause.
        Investigating => ("investigating", "Investigating"),
        /// Cause known.
        Identified => ("identified", "Identified"),
        /// Fixed, watching.
        Monitoring => ("monitoring", "Monitoring"),
        /// Over.
        Resolved => ("resolved", "Resolved"),
    }
}

wire_enum! {
    /// How bad an incident is (`impact_override` when Janus sets it).
    pub enum Impact {
        /// No visible impact.
        None => ("none", "None"),
        /// Minor.
        Minor => ("minor", "Minor"),
        /// Major.
        Major => ("major", "Major"),
        /// Critical.
        Critical => ("critical", "Critical"),
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id as Statuspage spells it.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as Statuspage spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }
    };
}

id_type! {
    /// A component's Statuspage id (`b13yz5g2cw10`).
    ComponentId
}

id_type! {
    /// An incident's **Statuspage** id (`p31zjtct2jer`), never Janus's own
    /// database id: the two are kept apart by type.
    IncidentId
}

/// A component of the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    pub id: ComponentId,
    /// Its name on the page.
    pub name: String,
    /// How it is doing.
    pub status: ComponentStatus,
    /// Whether it is a group of components (a heading, not a choice).
    pub group: bool,
}

/// An incident on the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub id: IncidentId,
    pub name: String,
    /// Where it stands.
    pub status: IncidentStatus,
    /// How bad it is.
    pub impact: Impact,
    /// The public short link (`https://stspg.io/…`), when Statuspage gave one.
    pub shortlink: Option<Url>,
    /// The components it affects, with their current status.
    pub components: Vec<Component>,
    /// Its updates, newest first as Statuspage orders them.
    pub incident_updates: Vec<IncidentUpdate>,
    /// The Janus incident that created it (`metadata.janus.incident_id`), if any.
    pub janus_incident_id: Option<i64>,
    /// The key of the create that made it (`metadata.janus.key`), if any.
    pub janus_create_key: Option<String>,
}

impl Incident {
    /// The latest update, if there is one.
    pub fn latest_update(&self) -> Option<&IncidentUpdate> {
        self.incident_updates.first()
    }
}

/// One update of an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentUpdate {
    pub body: String,
    /// The status it set.
    pub status: IncidentStatus,
    /// When it was posted (absent only if Statuspage sent none).
    pub created_at: Option<DateTime<Utc>>,
}

/// What Janus asks for when it creates an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewIncident {
    /// Title, at most 255 characters.
    pub name: String,
    /// Initial status.
    pub status: IncidentStatus,
    /// First update's message.
    pub body: String,
    /// Impact shown on the page (`impact_override`).
    pub impact: Impact,
    /// Components to mark, and how.
    pub components: Vec<(ComponentId, ComponentStatus)>,
    /// Whether subscribers are notified (Statuspage's default is yes; Janus
    /// always says which, the person chooses).
    pub deliver_notifications: bool,
    /// Janus's own incident id, stored in the incident's metadata so that
    /// after a crash the incident can be found again.
    pub janus_incident_id: i64,
    /// Stored before the POST and sent in its metadata: the attempt after
    /// a lost answer or a failed write finds this incident by it (`None`
    /// sends the incident id alone).
    pub create_key: Option<String>,
}

// ---- wire shapes -----------------------------------------------------------

/// A component as sent; everything optional.
#[derive(Deserialize)]
pub(crate) struct WireComponent {
    id: Option<String>,
    name: Option<String>,
    status: Option<String>,
    group: Option<bool>,
}

impl WireComponent {
    pub(crate) fn check(self) -> Result<Component, String> {
        let id = nonempty(self.id).ok_or("component without an id")?;
        let status = self.status.unwrap_or_default();
        let status = ComponentStatus::from_wire(&status)
            .ok_or_else(|| format!("component {id}: unknown status {status:?}"))?;
        Ok(Component {
            name: self.name.unwrap_or_default(),
            id: ComponentId(id),
            status,
            group: self.group.unwrap_or(false),
        })
    }
}

/// An incident as sent; everything optional.
#[derive(Deserialize)]
pub(crate) struct WireIncident {
    id: Option<String>,
    name: Option<String>,
    status: Option<String>,
    impact: Option<String>,
    shortlink: Option<String>,
    components: Option<Vec<Value>>,
    incident_updates: Option<Vec<Value>>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct WireUpdate {
    body: Option<String>,
    status: Option<String>,
    created_at: Option<DateTime<Utc>>,
}

impl WireIncident {
    pub(crate) fn check(self) -> Result<Incident, String> {
        let id = nonempty(self.id).ok_or("incident without an id")?;
        let status = self.status.unwrap_or_default();
        let status = IncidentStatus::from_wire(&status)
            .ok_or_else(|| format!("incident {id}: unknown status {status:?}"))?;
        let impact = self.impact.unwrap_or_default();
        let impact = Impact::from_wire(&impact)
            .ok_or_else(|| format!("incident {id}: unknown impact {impact:?}"))?;
        let components = read_list(self.components.unwrap_or_default(), |value| {
            serde_json::from_value::<WireComponent>(value)
                .map_err(|e| e.to_string())?
                .check()
        });
        let incident_updates = read_list(self.incident_updates.unwrap_or_default(), |value| {
            let update: WireUpdate = serde_json::from_value(value).map_err(|e| e.to_string())?;
            let status = update.status.unwrap_or_default();
            Ok(IncidentUpdate {
                status: IncidentStatus::from_wire(&status)
                    .ok_or_else(|| format!("update: unknown status {status:?}"))?,
                body: update.body.unwrap_or_default(),
                created_at: update.created_at,
            })
        });
        Ok(Incident {
            shortlink: self.shortlink.and_then(|link| Url::parse(&link).ok()),
            janus_incident_id: self.metadata.as_ref().and_then(janus_id_in),
            janus_create_key: self.metadata.as_ref().and_then(janus_key_in),
            name: self.name.unwrap_or_default(),
            id: IncidentId(id),
            status,
            impact,
            components,
            incident_updates,
        })
    }
}

/// Reads each row with `read`, logging and dropping the ones it refuses.
pub(crate) fn read_list<T>(rows: Vec<Value>, read: impl Fn(Value) -> Result<T, String>) -> Vec<T> {
    rows.into_iter()
        .filter_map(|row| match read(row) {
            Ok(item) => Some(item),
            Err(reason) => {
                tracing::warn!("statuspage: skipped a row Janus cannot read: {reason}");
                None
            }
        })
        .collect()
}

/// `metadata.janus.incident_id`, as a number or a numeric string (metadata
/// values may come back as strings).
fn janus_id_in(metadata: &Value) -> Option<i64> {
    match metadata.get("janus")?.get("incident_id")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `metadata.janus.key`, the create's key.
fn janus_key_in(metadata: &Value) -> Option<String> {
    metadata
        .get("janus")?
        .get("key")?
        .as_str()
        .map(str::to_owned)
        .filter(|k| !k.is_empty())
}

fn nonempty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(json: &str) -> Incident {
        serde_json::from_str::<WireIncident>(json)
            .unwrap()
            .check()
            .unwrap()
    }

    #[test]
    fn the_sample_resolve_answer_reads_with_updates_newest_first() {
        let incident = incident(include_str!(
            "../../tests/fixtures/statuspage/incident_resolve.200.json"
        ));
        assert_eq!(incident.id.as_str(), "p31zjtct2jer");
        assert_eq!(incident.status, IncidentStatus::Resolved);
        assert_eq!(incident.impact, Impact::Major);
        assert_eq!(
            incident.shortlink.unwrap().as_str(),
            "https://stspg.io/2m7xz0kq1v9c"
        );
        assert_eq!(incident.components[0].status, ComponentStatus::Operational);
        let statuses: Vec<_> = incident.incident_updates.iter().map(|u| u.status).collect();
        assert_eq!(
            statuses,
            [
                IncidentStatus::Resolved,
                IncidentStatus::Monitoring,
                IncidentStatus::Investigating
            ]
        );
        assert!(incident.incident_updates[0].created_at.is_some());
        // Another bot's metadata is not ours.
        assert_eq!(incident.janus_incident_id, None);
    }

    #[test]
    fn nulls_unknown_fields_and_odd_rows_are_tolerated() {
        let incident = incident(
            r#"{"id": "abc", "name": null, "status": "monitoring", "impact": "minor",
                "shortlink": null, "components": [{"id": "c1", "status": "teleported"},
                {"id": "c2", "name": "DB", "status": "major_outage", "group": null}],
                "incident_updates": null, "metadata": {"janus": {"incident_id": "42"}},
                "brand_new_field": {"x": 1}}"#,
        );
        assert_eq!(incident.name, "");
        assert_eq!(incident.shortlink, None);
        assert_eq!(incident.components.len(), 1);
        assert!(!incident.components[0].group);
        assert!(incident.incident_updates.is_empty());
        assert_eq!(incident.janus_incident_id, Some(42));
    }

    #[test]
    fn an_incident_without_a_known_status_is_refused() {
        let wire: WireIncident = serde_json::from_str(
            r#"{"id": "abc", "status": "scheduled", "impact": "maintenance"}"#,
        )
        .unwrap();
        assert!(wire.check().unwrap_err().contains("scheduled"));
    }

    #[test]
    fn wire_spellings_round_trip_through_serde() {
        for status in ComponentStatus::ALL {
            let json = serde_json::to_string(status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(
                serde_json::from_str::<ComponentStatus>(&json).unwrap(),
                *status
            );
        }
        assert_eq!(
            ComponentStatus::DegradedPerformance.label(),
            "Degraded performance"
        );
        assert_eq!(
            IncidentStatus::from_wire("identified"),
            Some(IncidentStatus::Identified)
        );
        assert_eq!(Impact::Critical.as_str(), "critical");
    }
}
