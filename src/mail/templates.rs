//! Email templates (API.md section 5). Every interpolated value is HTML-escaped; the plain
//! text part is written alongside rather than derived by stripping tags.

use super::Email;

/// Wraps a body in the shared layout with a call-to-action button.
fn render(to: &str, subject: &str, heading: &str, paragraphs: &[String], button: (&str, &str), text: String) -> Email {
    let body: String = paragraphs.iter().map(|p| format!("<p>{p}</p>")).collect();
    let html = format!(
        "<!doctype html><html><body style=\"font-family:Arial,sans-serif;color:#222\">\
         <h2>{heading}</h2>{body}\
         <p><a href=\"{href}\" style=\"background:#1e40af;color:#fff;padding:10px 18px;border-radius:6px;text-decoration:none\">{label}</a></p>\
         <p style=\"color:#666;font-size:12px\">ChainVerdict Platform</p></body></html>",
        heading = escape_html(heading),
        href = escape_html(button.1),
        label = escape_html(button.0),
    );
    Email { to: to.to_string(), subject: subject.to_string(), html, text }
}

fn login_url(frontend: &str) -> String {
    format!("{}/login", frontend.trim_end_matches('/'))
}

/// 5.1: a lawyer registered; verification is pending.
pub fn lawyer_welcome(to: &str, lawyer_name: &str, frontend: &str) -> Email {
    let name = escape_html(lawyer_name);
    let login = login_url(frontend);
    render(
        to,
        "Welcome to ChainVerdict - Verification Pending",
        "Welcome to ChainVerdict",
        &[
            format!("Dear {name},"),
            "Thank you for registering as a lawyer. Your account is under review by our admin team, which typically takes 1 to 3 business days.".into(),
            "Until your account is verified, access to lawyer features is limited. You can log in and complete your profile meanwhile.".into(),
        ],
        ("Go to login", &login),
        format!(
            "Dear {lawyer_name},\n\nThank you for registering as a lawyer. Your account is under review by our admin team (typically 1 to 3 business days).\nUntil it is verified, access to lawyer features is limited; you can log in and complete your profile meanwhile.\n\nLog in: {login}\n"
        ),
    )
}

/// 5.2: an admin verified the lawyer.
pub fn lawyer_verified(to: &str, lawyer_name: &str, notes: Option<&str>, frontend: &str) -> Email {
    let notes = notes.filter(|n| !n.trim().is_empty()).unwrap_or("Your account has been successfully verified.");
    let login = login_url(frontend);
    render(
        to,
        "Your Lawyer Account Has Been Verified - ChainVerdict",
        "Your account is verified",
        &[
            format!("Dear {},", escape_html(lawyer_name)),
            format!("<strong>Admin notes:</strong> {}", escape_html(notes)),
            "You can now browse available cases, offer help to citizens, accept connection requests, chat with clients and schedule consultations.".into(),
        ],
        ("Log in", &login),
        format!(
            "Dear {lawyer_name},\n\nYour lawyer account has been verified.\nAdmin notes: {notes}\n\nYou can now browse available cases, offer help, accept connection requests, chat with clients and schedule consultations.\n\nLog in: {login}\n"
        ),
    )
}

/// 5.3: an admin rejected the lawyer's verification.
pub fn lawyer_rejected(to: &str, lawyer_name: &str, reason: Option<&str>, frontend: &str) -> Email {
    let reason = reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or("Please review your application and contact support for more information.");
    let login = login_url(frontend);
    render(
        to,
        "Lawyer Account Verification Update - ChainVerdict",
        "Verification update",
        &[
            format!("Dear {},", escape_html(lawyer_name)),
            format!("We could not verify your lawyer account at this time. <strong>Reason:</strong> {}", escape_html(reason)),
            "Next steps: update your profile, upload your verification documents, and contact admin@chainverdict.in if you have questions.".into(),
        ],
        ("Go to login", &login),
        format!(
            "Dear {lawyer_name},\n\nWe could not verify your lawyer account at this time.\nReason: {reason}\n\nNext steps: update your profile, upload your verification documents, and contact admin@chainverdict.in with questions.\n\nLog in: {login}\n"
        ),
    )
}

/// Password reset: a single-use link valid for 10 minutes.
pub fn password_reset(to: &str, name: &str, token: &str, frontend: &str) -> Email {
    let link = format!("{}/reset-password?token={}", frontend.trim_end_matches('/'), token);
    render(
        to,
        "Reset your ChainVerdict password",
        "Password reset",
        &[
            format!("Dear {},", escape_html(name)),
            "We received a request to reset your password. The link below works once and expires in 10 minutes.".into(),
            "If you did not ask for this, ignore this email; your password stays unchanged.".into(),
        ],
        ("Reset password", &link),
        format!(
            "Dear {name},\n\nWe received a request to reset your password. This link works once and expires in 10 minutes:\n{link}\n\nIf you did not ask for this, ignore this email.\n"
        ),
    )
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_escape_interpolated_values() {
        let e = lawyer_verified("l@example.com", "<script>x</script>", Some("a & b"), "http://f");
        assert!(e.html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(!e.html.contains("<script>"));
        assert!(e.html.contains("a &amp; b"));
        assert!(e.text.contains("<script>x</script>"), "plain text keeps the raw name");
        let r = lawyer_rejected("l@example.com", "Ann", None, "http://f/");
        assert!(r.text.contains("contact support"));
        assert!(r.html.contains("http://f/login"));
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape_html("<b>\"Tom\" & 'Jerry'</b>"), "&lt;b&gt;&quot;Tom&quot; &amp; &#x27;Jerry&#x27;&lt;/b&gt;");
    }
}
