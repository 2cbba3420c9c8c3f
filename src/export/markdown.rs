//! The draft as Markdown, with a Mermaid `gantt` block of its timeline.

use std::fmt::Write;

use super::{Draft, Moment, Span};

/// The postmortem draft as Markdown: facts filled in, the judgement
/// (impact, causes, what went well, action items) left to the team.
pub fn markdown(d: &Draft) -> String {
    let mut out = String::with_capacity(4096);
    let title = d
        .name
        .clone()
        .unwrap_or_else(|| format!("incident {}", d.id));
    let _ = writeln!(out, "# Postmortem draft: {}\n", inline(&title));
    let _ = writeln!(out, "> {}\n", inline(&d.description));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Severity | {} |", cell(&d.severity.label));
    let _ = writeln!(out, "| Status | {} |", cell(&d.status.label));
    let _ = writeln!(
        out,
        "| Declared | {} by {} |",
        d.declared.local,
        cell(&d.declared_by)
    );
    if let Some(resolved) = &d.resolved {
        let _ = writeln!(out, "| Resolved | {} |", resolved.local);
    }
    if let Some(seconds) = d.time_to_resolve_seconds {
        let _ = writeln!(out, "| Time to resolve | {} |", duration(seconds));
    }
    if let Some(channel) = &d.channel_id {
        let _ = writeln!(out, "| Channel | {} (`{channel}`) |", cell(&title));
    }
    if d.private {
        let _ = writeln!(out, "| Visibility | private |");
    }
    let _ = writeln!(out, "\nTimes are in {}.\n", d.timezone);

    let _ = writeln!(out, "## Roles\n");
    if d.roles.is_empty() {
        let _ = writeln!(out, "Nobody took a role.\n");
    } else {
        let _ = writeln!(out, "| Role | Held by | From | Until |\n|---|---|---|---|");
        for t in &d.roles {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(&t.label),
                cell(&t.holder),
                t.from.local,
                t.to.as_ref().map_or("—", |m| m.local.as_str())
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Status history\n");
    let _ = writeln!(out, "| Status | From | Until | For |\n|---|---|---|---|");
    for s in &d.statuses {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&s.value.label),
            s.from.local,
            s.to.as_ref().map_or("—", |m| m.local.as_str()),
            s.seconds.map_or_else(|| "—".to_owned(), duration)
        );
    }
    if !d.time_to_status.is_empty() {
        let reached: Vec<String> = d
            .time_to_status
            .iter()
            .map(|r| format!("{} after {}", r.status.label, duration(r.after_seconds)))
            .collect();
        let _ = writeln!(out, "\nTime to each status: {}.", reached.join("; "));
    }
    if d.severities.len() > 1 {
        let changes: Vec<String> = d
            .severities
            .iter()
            .map(|s| format!("{} from {}", s.value.label, s.from.local))
            .collect();
        let _ = writeln!(out, "\nSeverity: {}.", changes.join("; "));
    }
    out.push('\n');

    let _ = writeln!(out, "## Updates\n");
    if d.updates.is_empty() {
        let _ = writeln!(out, "No update was posted.\n");
    } else {
        for u in &d.updates {
            let status = u
                .status
                .as_ref()
                .map(|s| format!(" (status: {})", s.label))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- {} — {}{status}: {}",
                u.at.local,
                inline(&u.by),
                inline(&u.text)
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Marked messages\n");
    if d.marked.is_empty() {
        let _ = writeln!(out, "No message was marked.\n");
    } else {
        for m in &d.marked {
            let author = m.author.as_deref().unwrap_or("(an app)");
            let link = m
                .link
                .as_ref()
                .map(|l| format!(" ([link]({l}))"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- {} — {}: {}{link}",
                m.at.local,
                inline(author),
                inline(&m.text)
            );
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Timeline\n");
    out.push_str(&gantt(d, &title));
    out.push('\n');
    for e in &d.timeline {
        let _ = writeln!(
            out,
            "- {} — {} {}",
            e.at.local,
            inline(&e.actor),
            inline(&e.what)
        );
    }
    out.push('\n');

    for section in [
        "Impact",
        "Root causes",
        "What went well",
        "What went wrong",
        "Action items",
    ] {
        let _ = writeln!(out, "## {section}\n\n_To be written._\n");
    }
    out
}

/// The timeline as a Mermaid `gantt`: statuses and role holders as bars,
/// updates and marked messages as milestones. Open bars end at the last
/// thing the draft knows of, so the same database gives the same draft.
fn gantt(d: &Draft, title: &str) -> String {
    let end = latest(d);
    let mut out = String::new();
    let _ = writeln!(out, "```mermaid\ngantt");
    let _ = writeln!(out, "    title {} (times in {})", task(title), d.timezone);
    let _ = writeln!(out, "    dateFormat YYYY-MM-DD HH:mm:ss");
    let _ = writeln!(out, "    axisFormat %H:%M");
    let _ = writeln!(out, "    section Status");
    for s in &d.statuses {
        bar(&mut out, &s.value.label, s, end);
    }
    if !d.roles.is_empty() {
        let _ = writeln!(out, "    section Roles");
        for t in &d.roles {
            let span = Span {
                value: super::Choice {
                    value: t.role.clone(),
                    label: t.label.clone(),
                },
                from: t.from.clone(),
                to: t.to.clone(),
                seconds: None,
            };
            bar(&mut out, &format!("{} {}", t.label, t.holder), &span, end);
        }
    }
    let milestones: Vec<(&Moment, String)> = d
        .updates
        .iter()
        .map(|u| (&u.at, format!("Update: {}", u.text)))
        .chain(d.marked.iter().map(|m| (&m.at, m.text.clone())))
        .collect();
    if !milestones.is_empty() {
        let _ = writeln!(out, "    section Updates and marks");
        for (at, name) in milestones {
            let _ = writeln!(out, "    {} :milestone, {}, 0s", task(&name), at.local);
        }
    }
    out.push_str("```\n");
    out
}

fn bar(out: &mut String, name: &str, span: &Span, end: &Moment) {
    let to = span.to.as_ref().unwrap_or(end);
    if to.utc <= span.from.utc {
        let _ = writeln!(
            out,
            "    {} :milestone, {}, 0s",
            task(name),
            span.from.local
        );
    } else {
        let _ = writeln!(
            out,
            "    {} : {}, {}",
            task(name),
            span.from.local,
            to.local
        );
    }
}

/// The last moment the draft knows of.
fn latest(d: &Draft) -> &Moment {
    d.timeline
        .iter()
        .map(|e| &e.at)
        .chain(d.marked.iter().map(|m| &m.at))
        .chain(d.resolved.iter())
        .max_by_key(|m| m.utc)
        .unwrap_or(&d.declared)
}

/// A Mermaid task name: one line, none of the characters that end it.
fn task(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| match c {
            ':' | '#' | ';' | '\n' | '\r' | '`' => ' ',
            c => c,
        })
        .collect();
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if clean.chars().count() > 50 {
        format!("{}…", clean.chars().take(49).collect::<String>())
    } else if clean.is_empty() {
        "(no text)".to_owned()
    } else {
        clean
    }
}

/// Text on one line.
fn inline(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text in a table cell.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// `1 h 12 min`, `12 min 5 s`, `45 s`.
pub fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m, s) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(45), "45 s");
        assert_eq!(duration(720), "12 min");
        assert_eq!(duration(725), "12 min 5 s");
        assert_eq!(duration(3600), "1 h");
        assert_eq!(duration(4320), "1 h 12 min");
        assert_eq!(duration(-3), "0 s");
    }

    #[test]
    fn a_task_name_cannot_break_the_mermaid_block() {
        assert_eq!(task("db: down; see #ops\n`now`"), "db down see ops now");
        assert_eq!(task(""), "(no text)");
        assert_eq!(task(&"x".repeat(80)).chars().count(), 50);
        assert_eq!(cell("a | b\nc"), "a \\| b c");
    }
}
