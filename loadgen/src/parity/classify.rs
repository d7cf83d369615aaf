//! Turning a proxy's answer into a decision: allowed, blocked (with the category or
//! reason the answer carries) or error.
//!
//! Each filter says "blocked" its own way. `filter-proxy` answers 403 with JSON
//! (`{"blocked":true,"category":..,"rule":..}`, because the replay asks for JSON) or its
//! HTML page; the e2guardian the tool configures serves a block page carrying the
//! `PARITY-BLOCK` marker with its reason and list category, and answers a blocked CONNECT
//! (no TLS interception) with a 302 of its own. An answer that reached the test origin
//! carries `x-echo-reached`, so "allowed" is certain rather than inferred.

use serde::Serialize;

use super::corpus::Method;

/// Marker the generated e2guardian block page starts with.
pub const E2G_BLOCK_MARKER: &str = "PARITY-BLOCK";
/// Marker of the generated e2guardian network-error page.
pub const E2G_NETERR_MARKER: &str = "PARITY-NETERR";
/// Header the test origin adds to every answer it gives.
pub const REACHED_HEADER: &str = "x-echo-reached";

/// What came back for one request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    /// Status, when an answer arrived.
    pub status: Option<u16>,
    /// The answer reached the test origin (it carries `x-echo-reached`).
    pub reached_origin: bool,
    /// The `Server` header.
    pub server: Option<String>,
    /// The `Location` header.
    pub location: Option<String>,
    /// The start of the body (block pages are small; origin bodies are not kept).
    pub body: String,
    /// Why no answer arrived (connect failure, timeout, protocol error, not sent).
    pub failure: Option<String>,
}

/// The three outcomes compared between the two filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The request went through the filter.
    Allowed,
    /// The filter refused it by policy.
    Blocked,
    /// No decision could be read: the filter failed or refused the request as malformed.
    Error,
}

impl Outcome {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Blocked => "blocked",
            Outcome::Error => "error",
        }
    }
}

/// One side's decision on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed, blocked or error.
    pub outcome: Outcome,
    /// The status seen, if any.
    pub status: Option<u16>,
    /// Category (blocks, when the answer names one), else empty.
    pub category: String,
    /// The rule or reason text the answer carries, or the error.
    pub reason: String,
}

/// Reads a decision from an answer to a `method` request.
pub fn classify(method: Method, seen: &Observed) -> Decision {
    let decision = |outcome, category: &str, reason: &str| Decision {
        outcome,
        status: seen.status,
        category: category.to_owned(),
        reason: reason.to_owned(),
    };
    let Some(status) = seen.status else {
        let why = seen.failure.as_deref().unwrap_or("no answer");
        return decision(Outcome::Error, "", why);
    };
    if let Some(at) = seen.body.find(E2G_BLOCK_MARKER) {
        let page = &seen.body[at..];
        let category = attribute(page, "categories").filter(|c| *c != "N/A");
        let reason = attribute(page, "reason").unwrap_or_default();
        return decision(Outcome::Blocked, category.unwrap_or(""), reason);
    }
    if let Some((category, rule)) = filter_proxy_block(seen) {
        return decision(Outcome::Blocked, &category, &rule);
    }
    let from_e2guardian = seen
        .server
        .as_deref()
        .is_some_and(|s| s.to_ascii_lowercase().contains("e2guardian"));
    if method == Method::Connect && status == 302 && from_e2guardian {
        let to = seen.location.as_deref().unwrap_or("");
        return decision(Outcome::Blocked, "", &format!("CONNECT redirected to {to}"));
    }
    if let Some(at) = seen.body.find(E2G_NETERR_MARKER) {
        let reason = attribute(&seen.body[at..], "reason").unwrap_or("network error");
        return decision(Outcome::Error, "", reason);
    }
    if seen.reached_origin || (method == Method::Connect && (200..300).contains(&status)) {
        return decision(Outcome::Allowed, "", "");
    }
    // An answer that did not come from the origin: the filter's own refusal or failure.
    let first_line = seen.body.lines().next().unwrap_or("").trim();
    let short: String = first_line.chars().take(120).collect();
    decision(Outcome::Error, "", &format!("status {status}: {short}"))
}

/// The category and rule of a `filter-proxy` block answer (403 JSON or HTML page).
fn filter_proxy_block(seen: &Observed) -> Option<(String, String)> {
    if seen.status != Some(403) {
        return None;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&seen.body) {
        if json["blocked"] == serde_json::Value::Bool(true) {
            let text = |key: &str| json[key].as_str().unwrap_or_default().to_owned();
            return Some((text("category"), text("rule")));
        }
    }
    if seen.body.contains("This site is blocked") {
        let category = between(&seen.body, "Category: <b>", "</b>").unwrap_or("");
        let rule = between(&seen.body, "Rule: <code>", "</code>").unwrap_or("");
        return Some((category.to_owned(), rule.to_owned()));
    }
    None
}

/// [`classify`] for e2guardian in the rig: a `filter-proxy` block can only come from its
/// allow-all parent, so it is a rig fault (an error), never e2guardian's decision.
pub fn classify_rig_reference(method: Method, seen: &Observed) -> Decision {
    if let Some((_, rule)) = filter_proxy_block(seen) {
        return Decision {
            outcome: Outcome::Error,
            status: seen.status,
            category: String::new(),
            reason: format!("blocked by the rig's parent, not by e2guardian ({rule})"),
        };
    }
    classify(method, seen)
}

/// `name="value"` inside a marker line.
fn attribute<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    between(text, &format!("{name}=\""), "\"")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: u16, body: &str) -> Observed {
        Observed {
            status: Some(status),
            body: body.into(),
            ..Observed::default()
        }
    }

    #[test]
    fn filter_proxy_blocks_in_json_and_html() {
        let d = classify(
            Method::Get,
            &seen(
                403,
                r#"{"blocked":true,"host":"a.test","category":"games","rule":"a.test/x"}"#,
            ),
        );
        assert_eq!(
            (d.outcome, d.category.as_str(), d.reason.as_str()),
            (Outcome::Blocked, "games", "a.test/x")
        );
        let page =
            "<h1>This site is blocked</h1><p>Category: <b>adult</b><br>Rule: <code>b.test</code>";
        let d = classify(Method::Connect, &seen(403, page));
        assert_eq!(
            (d.outcome, d.category.as_str(), d.reason.as_str()),
            (Outcome::Blocked, "adult", "b.test")
        );
    }

    #[test]
    fn a_block_from_the_rigs_parent_is_never_the_references_decision() {
        let parent = seen(
            403,
            r#"{"blocked":true,"category":"ip-literal","rule":"127.0.0.1"}"#,
        );
        let d = classify_rig_reference(Method::Get, &parent);
        assert_eq!(d.outcome, Outcome::Error);
        assert!(d.reason.contains("rig's parent"), "{}", d.reason);
        let page = r#"PARITY-BLOCK reason="Blocked site: a.test" categories="games""#;
        let e2g = classify_rig_reference(Method::Get, &seen(200, page));
        assert_eq!(e2g.outcome, Outcome::Blocked);
    }

    #[test]
    fn e2guardian_blocks_by_page_and_by_connect_redirect() {
        let body = r#"<html>PARITY-BLOCK reason="Blocked URL: a.test/x" categories="games" url="http://a.test/x"</html>"#;
        let d = classify(Method::Get, &seen(200, body));
        assert_eq!(
            (d.outcome, d.category.as_str()),
            (Outcome::Blocked, "games")
        );
        assert_eq!(d.reason, "Blocked URL: a.test/x");
        let na = body.replace("games", "N/A");
        assert_eq!(classify(Method::Get, &seen(200, &na)).category, "");
        let redirect = Observed {
            server: Some("e2guardian".into()),
            location: Some("http://internal.test.e2guardian.org".into()),
            ..seen(302, "")
        };
        assert_eq!(
            classify(Method::Connect, &redirect).outcome,
            Outcome::Blocked
        );
        // The same 302 to a GET is the origin's business, not a block.
        assert_eq!(classify(Method::Get, &redirect).outcome, Outcome::Error);
    }

    #[test]
    fn allowed_needs_the_origin_or_a_tunnel_and_everything_else_is_an_error() {
        let reached = Observed {
            reached_origin: true,
            ..seen(404, "")
        };
        assert_eq!(classify(Method::Get, &reached).outcome, Outcome::Allowed);
        assert_eq!(
            classify(Method::Connect, &seen(200, "")).outcome,
            Outcome::Allowed
        );
        assert_eq!(
            classify(Method::Get, &seen(200, "")).outcome,
            Outcome::Error
        );
        let d = classify(Method::Get, &seen(400, "bad request\nmore"));
        assert_eq!(
            (d.outcome, d.reason.as_str()),
            (Outcome::Error, "status 400: bad request")
        );
        let neterr = seen(200, r#"PARITY-NETERR reason="Unable to connect""#);
        assert_eq!(classify(Method::Get, &neterr).reason, "Unable to connect");
        let failed = Observed {
            failure: Some("timeout".into()),
            ..Observed::default()
        };
        let d = classify(Method::Get, &failed);
        assert_eq!((d.outcome, d.reason.as_str()), (Outcome::Error, "timeout"));
        // A 403 that is not a block page is not a block.
        assert_eq!(
            classify(Method::Get, &seen(403, "forbidden")).outcome,
            Outcome::Error
        );
    }
}
