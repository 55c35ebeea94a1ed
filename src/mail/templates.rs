//! Email templates (docs/api.md section 5, plus the platform's own emails): minijinja templates under
//! `tpl/`, compiled into the binary and loaded once. Each email has an `.html` template that
//! extends `layout.html` and a `.txt` one that extends `layout.txt`; the plain-text part is
//! written alongside rather than derived by stripping tags. Auto-escaping is chosen by file
//! name: every value interpolated into an `.html` template is HTML-escaped, `.txt` output is
//! verbatim.
//!
//! Every email's context has `name` (the recipient's name) and `link` (the call to action);
//! the layouts use both.

use std::sync::LazyLock;

use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, HtmlEscape, UndefinedBehavior, Value, context};

use super::Email;

/// Every template, under the name the others extend it by.
const SOURCES: &[(&str, &str)] = &[
    ("layout.html", include_str!("tpl/layout.html")),
    ("layout.txt", include_str!("tpl/layout.txt")),
    ("lawyer_welcome.html", include_str!("tpl/lawyer_welcome.html")),
    ("lawyer_welcome.txt", include_str!("tpl/lawyer_welcome.txt")),
    ("lawyer_verified.html", include_str!("tpl/lawyer_verified.html")),
    ("lawyer_verified.txt", include_str!("tpl/lawyer_verified.txt")),
    ("lawyer_rejected.html", include_str!("tpl/lawyer_rejected.html")),
    ("lawyer_rejected.txt", include_str!("tpl/lawyer_rejected.txt")),
    ("password_reset.html", include_str!("tpl/password_reset.html")),
    ("password_reset.txt", include_str!("tpl/password_reset.txt")),
    ("email_confirmation.html", include_str!("tpl/email_confirmation.html")),
    ("email_confirmation.txt", include_str!("tpl/email_confirmation.txt")),
    ("connection_request.html", include_str!("tpl/connection_request.html")),
    ("connection_request.txt", include_str!("tpl/connection_request.txt")),
    ("connection_accepted.html", include_str!("tpl/connection_accepted.html")),
    ("connection_accepted.txt", include_str!("tpl/connection_accepted.txt")),
    ("case_assigned.html", include_str!("tpl/case_assigned.html")),
    ("case_assigned.txt", include_str!("tpl/case_assigned.txt")),
];

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    // A misspelt variable fails the render (and so the tests) instead of printing nothing.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Tag-only lines leave no blank lines behind (it matters in the plain-text part).
    match SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(true).build() {
        Ok(syntax) => env.set_syntax(syntax),
        Err(err) => tracing::error!(error = %err, "email template syntax settings rejected"),
    }
    for (name, source) in SOURCES {
        // A template that does not compile is a programmer error the tests catch; at run time
        // the emails using it fall back to a plain message.
        if let Err(err) = env.add_template(name, source) {
            tracing::error!(template = name, error = %format!("{err:#}"), "email template does not compile");
        }
    }
    env
});

/// Renders `<template>.html` and `<template>.txt` with `vars` plus `link`. A render failure (a
/// programmer error) is logged and the email still goes out, reduced to its subject and link.
fn compose(to: &str, subject: &str, template: &str, link: &str, vars: Value) -> Email {
    let vars = context! { link => link, ..vars };
    let render = |ext: &str| TEMPLATES.get_template(&format!("{template}.{ext}"))?.render(vars.clone());
    match (render("html"), render("txt")) {
        (Ok(html), Ok(text)) => Email { to: to.to_string(), subject: subject.to_string(), html, text },
        (html, text) => {
            let err = html.err().or(text.err()).map(|e| format!("{e:#}")).unwrap_or_default();
            tracing::error!(template, error = %err, "email template failed to render; sending a plain fallback");
            fallback(to, subject, link)
        }
    }
}

fn fallback(to: &str, subject: &str, link: &str) -> Email {
    let html = format!(
        "<!doctype html><html><body><p>{}</p><p><a href=\"{link}\">{link}</a></p><p>ChainVerdict Platform</p></body></html>",
        HtmlEscape(subject),
        link = HtmlEscape(link),
    );
    let text = format!("{subject}\n\n{link}\n\nChainVerdict Platform\n");
    Email { to: to.to_string(), subject: subject.to_string(), html, text }
}

/// An absolute link to a frontend page (`path` starts with `/`).
fn page(frontend: &str, path: &str) -> String {
    format!("{}{path}", frontend.trim_end_matches('/'))
}

/// A note given by someone, or `default` when it is missing or blank.
fn or_default<'a>(given: Option<&'a str>, default: &'a str) -> &'a str {
    given.filter(|n| !n.trim().is_empty()).unwrap_or(default)
}

/// 5.1: a lawyer registered; verification is pending.
pub fn lawyer_welcome(to: &str, lawyer_name: &str, frontend: &str) -> Email {
    let link = page(frontend, "/login");
    compose(
        to,
        "Welcome to ChainVerdict - Verification Pending",
        "lawyer_welcome",
        &link,
        context! { name => lawyer_name },
    )
}

/// 5.2: an admin verified the lawyer.
pub fn lawyer_verified(to: &str, lawyer_name: &str, notes: Option<&str>, frontend: &str) -> Email {
    let notes = or_default(notes, "Your account has been successfully verified.");
    let link = page(frontend, "/login");
    compose(
        to,
        "Your Lawyer Account Has Been Verified - ChainVerdict",
        "lawyer_verified",
        &link,
        context! { name => lawyer_name, notes => notes },
    )
}

/// 5.3: an admin rejected the lawyer's verification.
pub fn lawyer_rejected(to: &str, lawyer_name: &str, reason: Option<&str>, frontend: &str) -> Email {
    let reason = or_default(reason, "Please review your application and contact support for more information.");
    let link = page(frontend, "/login");
    compose(
        to,
        "Lawyer Account Verification Update - ChainVerdict",
        "lawyer_rejected",
        &link,
        context! { name => lawyer_name, reason => reason },
    )
}

/// Password reset: a single-use link valid for 10 minutes.
pub fn password_reset(to: &str, name: &str, token: &str, frontend: &str) -> Email {
    let link = page(frontend, &format!("/reset-password?token={token}"));
    compose(
        to,
        "Reset your ChainVerdict password",
        "password_reset",
        &link,
        context! { name => name, lifetime => "10 minutes" },
    )
}

/// Sent on every registration: a single-use link to `/confirm-email/<token>`, valid for 24 hours
/// (`service::accounts` sets the stored expiry).
pub fn email_confirmation(to: &str, name: &str, token: &str, frontend: &str) -> Email {
    let link = page(frontend, &format!("/confirm-email/{token}"));
    compose(
        to,
        "Confirm your email address - ChainVerdict",
        "email_confirmation",
        &link,
        context! { name => name, lifetime => "24 hours" },
    )
}

/// To a lawyer: a citizen asked to connect, with the citizen's message.
pub fn connection_request(to: &str, lawyer_name: &str, citizen_name: &str, message: &str, frontend: &str) -> Email {
    let link = page(frontend, "/lawyer/pending-connection-requests");
    compose(
        to,
        "New connection request - ChainVerdict",
        "connection_request",
        &link,
        context! { name => lawyer_name, citizen => citizen_name, message => message },
    )
}

/// To a citizen: the lawyer accepted the connection request; the link opens their direct chat.
pub fn connection_accepted(
    to: &str,
    citizen_name: &str,
    lawyer_name: &str,
    response: Option<&str>,
    chat_id: &str,
    frontend: &str,
) -> Email {
    let response = response.filter(|r| !r.trim().is_empty());
    let link = page(frontend, &format!("/chat/{chat_id}"));
    compose(
        to,
        "Your connection request was accepted - ChainVerdict",
        "connection_accepted",
        &link,
        context! { name => citizen_name, lawyer => lawyer_name, response => response },
    )
}

/// A query or dispute that just got its lawyer, for [`case_assigned_to_lawyer`] and
/// [`case_assigned_to_citizen`].
pub struct CaseAssignment<'a> {
    /// `query` or `dispute`.
    pub kind: &'a str,
    pub title: &'a str,
    pub citizen_name: &'a str,
    pub lawyer_name: &'a str,
    /// The case chat the assignment opened.
    pub chat_id: &'a str,
}

fn case_assigned(to: &str, subject: &str, case: &CaseAssignment, for_lawyer: bool, frontend: &str) -> Email {
    let link = page(frontend, &format!("/chat/{}", case.chat_id));
    let name = if for_lawyer { case.lawyer_name } else { case.citizen_name };
    let vars = context! {
        name => name,
        for_lawyer => for_lawyer,
        kind => case.kind,
        title => case.title,
        citizen => case.citizen_name,
        lawyer => case.lawyer_name,
    };
    compose(to, subject, "case_assigned", &link, vars)
}

/// To the lawyer who became the assigned lawyer of a case.
pub fn case_assigned_to_lawyer(to: &str, case: &CaseAssignment, frontend: &str) -> Email {
    case_assigned(to, &format!("A new {} is assigned to you - ChainVerdict", case.kind), case, true, frontend)
}

/// To the citizen whose case got its lawyer.
pub fn case_assigned_to_citizen(to: &str, case: &CaseAssignment, frontend: &str) -> Email {
    case_assigned(to, &format!("A lawyer is assigned to your {} - ChainVerdict", case.kind), case, false, frontend)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#"<script>alert(1)</script> & "x""#;
    const ESCAPED: &str = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; &quot;x&quot;";
    const FRONTEND: &str = "http://front.test/";

    fn case() -> CaseAssignment<'static> {
        CaseAssignment {
            kind: "query",
            title: HOSTILE,
            citizen_name: HOSTILE,
            lawyer_name: HOSTILE,
            chat_id: "query_abc",
        }
    }

    /// Every email, each with the hostile text in every user-supplied value.
    fn every_email() -> Vec<(&'static str, Email)> {
        vec![
            ("lawyer_welcome", lawyer_welcome("a@x.in", HOSTILE, FRONTEND)),
            ("lawyer_verified", lawyer_verified("a@x.in", HOSTILE, Some(HOSTILE), FRONTEND)),
            ("lawyer_rejected", lawyer_rejected("a@x.in", HOSTILE, Some(HOSTILE), FRONTEND)),
            ("password_reset", password_reset("a@x.in", HOSTILE, "tok123", FRONTEND)),
            ("email_confirmation", email_confirmation("a@x.in", HOSTILE, "tok123", FRONTEND)),
            ("connection_request", connection_request("a@x.in", HOSTILE, HOSTILE, HOSTILE, FRONTEND)),
            (
                "connection_accepted",
                connection_accepted("a@x.in", HOSTILE, HOSTILE, Some(HOSTILE), "direct_1", FRONTEND),
            ),
            ("case_assigned_to_lawyer", case_assigned_to_lawyer("a@x.in", &case(), FRONTEND)),
            ("case_assigned_to_citizen", case_assigned_to_citizen("a@x.in", &case(), FRONTEND)),
        ]
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in SOURCES {
            assert!(TEMPLATES.get_template(name).is_ok(), "{name} did not load");
        }
    }

    #[test]
    fn every_email_renders_through_its_templates() {
        for (which, e) in every_email() {
            assert_eq!(e.to, "a@x.in");
            assert!(e.subject.contains("ChainVerdict"), "{which}: {}", e.subject);
            // The layouts' markers: the fallback has neither.
            assert!(e.html.contains("If the button does not work"), "{which} used the fallback:\n{}", e.html);
            assert!(e.text.starts_with("Dear ") && e.text.ends_with("ChainVerdict Platform\n"), "{which}:\n{}", e.text);
            assert!(!e.text.contains("\n\n\n"), "{which} leaves blank runs:\n{}", e.text);
            assert!(e.text.contains("http://front.test/"), "{which} has no link:\n{}", e.text);
            assert!(!e.text.contains("test//"), "{which} doubles the slash:\n{}", e.text);
        }
    }

    #[test]
    fn html_escapes_every_value_and_text_keeps_it_verbatim() {
        for (which, e) in every_email() {
            assert!(!e.html.contains("<script>"), "{which} lets markup through:\n{}", e.html);
            assert!(e.html.contains(ESCAPED), "{which}:\n{}", e.html);
            assert!(e.text.contains(HOSTILE), "{which} plain text must keep the raw value:\n{}", e.text);
            assert!(!e.text.contains("&lt;") && !e.text.contains("&amp;"), "{which} escapes plain text:\n{}", e.text);
        }
    }

    #[test]
    fn links_point_to_the_frontend() {
        let e = email_confirmation("a@x.in", "Ann", "abc123", "http://f");
        assert!(e.text.contains("http://f/confirm-email/abc123\n"), "{}", e.text);
        assert!(e.html.contains("href=\"http:&#x2f;&#x2f;f&#x2f;confirm-email&#x2f;abc123\""), "{}", e.html);
        let r = password_reset("a@x.in", "Ann", "abc123", "http://f/");
        assert!(r.text.contains("http://f/reset-password?token=abc123"), "{}", r.text);
        let a = connection_accepted("a@x.in", "Ann", "Lee", None, "direct_1_2", "http://f");
        assert!(a.text.contains("http://f/chat/direct_1_2"), "{}", a.text);
        assert!(!a.text.contains("Their reply"), "no reply, no reply section:\n{}", a.text);
        let c = connection_request("a@x.in", "Lee", "Ann", "Please help", "http://f");
        assert!(c.text.contains("http://f/lawyer/pending-connection-requests"), "{}", c.text);
    }

    #[test]
    fn blank_admin_notes_fall_back_to_the_defaults() {
        let v = lawyer_verified("l@example.com", "Ann", Some("  "), "http://f");
        assert!(v.text.contains("Admin notes: Your account has been successfully verified."), "{}", v.text);
        let r = lawyer_rejected("l@example.com", "Ann", None, "http://f/");
        assert!(r.text.contains("contact support"), "{}", r.text);
    }

    #[test]
    fn case_emails_address_each_party() {
        let case = CaseAssignment {
            kind: "dispute",
            title: "Rent",
            citizen_name: "Ann",
            lawyer_name: "Lee",
            chat_id: "dispute_9",
        };
        let l = case_assigned_to_lawyer("l@x.in", &case, "http://f");
        assert!(
            l.text.starts_with("Dear Lee,")
                && l.text.contains("You are now the assigned lawyer of the dispute \"Rent\" from Ann."),
            "{}",
            l.text
        );
        assert!(l.subject.contains("dispute"));
        let c = case_assigned_to_citizen("c@x.in", &case, "http://f");
        assert!(
            c.text.starts_with("Dear Ann,")
                && c.text.contains("Lee is now the assigned lawyer of your dispute \"Rent\"."),
            "{}",
            c.text
        );
        assert!(c.text.contains("http://f/chat/dispute_9"));
    }

    #[test]
    fn a_render_failure_sends_a_plain_fallback_instead_of_panicking() {
        let e = compose("a@x.in", "Subject & more", "no_such_template", "http://f/x?a=1&b=2", context! {});
        assert_eq!(e.subject, "Subject & more");
        assert!(e.text.contains("http://f/x?a=1&b=2"));
        assert!(e.html.contains("Subject &amp; more") && e.html.contains("a=1&amp;b=2"), "{}", e.html);
        // A template whose variable is missing fails too (strict undefined), not renders blank.
        let e = compose("a@x.in", "S", "lawyer_welcome", "http://f", context! {});
        assert!(!e.html.contains("If the button does not work"), "{}", e.html);
    }
}
