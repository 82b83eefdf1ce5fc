//! The server-rendered dashboard and the login/logout pages. Hand-written HTML; everything that
//! comes from the bundle or the user goes through [`html_escape`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Form;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use model::{Inventory, Owner};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;

use crate::auth::{self, ClientOrigin, PageAdmin};
use crate::{AppError, AppState, LoadedBundle};

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328}\
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #d0d7de;vertical-align:top}\
th{background:#f6f8fa}code{font-size:.9em}.muted{color:#656d76}.error{color:#cf222e}\
header{display:flex;justify-content:space-between;align-items:baseline}form.inline{display:inline}";

fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n",
        html_escape(title)
    ))
}

/// Pages show live governance data: never cache them.
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(crate) async fn dashboard(admin: PageAdmin, State(state): State<Arc<AppState>>) -> Response {
    no_store(layout(
        "aigov",
        &render_dashboard(&state.bundle(), &admin.name),
    ))
}

fn render_dashboard(loaded: &LoadedBundle, user: &str) -> String {
    let b = &loaded.bundle;
    let inv = &b.inventory;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<header><h1>aigov</h1><div class=\"muted\">signed in as {} \
<form class=\"inline\" method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form></div></header>",
        html_escape(user)
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">Bundle <code>{}</code> loaded {} from <code>{}</code> &middot; {} policies &middot; {} warnings</p>",
        html_escape(&b.digest),
        html_escape(
            &loaded
                .loaded_at
                .replace_nanosecond(0)
                .unwrap_or(loaded.loaded_at)
                .format(&Rfc3339)
                .unwrap_or_default()
        ),
        html_escape(&b.root.display().to_string()),
        b.engine.policies().len(),
        b.warnings.len(),
    );

    let _ = writeln!(out, "<h2>Teams ({})</h2>", inv.teams.len());
    out.push_str("<table><thead><tr><th>Team</th><th>Stage</th><th>Owner</th><th>Members</th></tr></thead><tbody>\n");
    for team in inv.teams.values() {
        let owner = team
            .owner
            .as_deref()
            .map(|id| person_label(inv, id))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr><td>{} <span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&team.name),
            html_escape(&team.id),
            html_escape(team.stage.as_str()),
            html_escape(&owner),
            member_count(inv, &team.id),
        );
    }
    out.push_str("</tbody></table>\n");

    let _ = writeln!(out, "<h2>Applications ({})</h2>", inv.applications.len());
    out.push_str(
        "<table><thead><tr><th>Application</th><th>Owner</th><th>Classification</th>\
<th>Repositories</th><th>Compliance</th></tr></thead><tbody>\n",
    );
    for app in inv.applications.values() {
        let owner = match &app.owner {
            Some(Owner::Team(id)) => {
                format!(
                    "team {}",
                    inv.teams.get(id).map_or(id.as_str(), |t| t.name.as_str())
                )
            }
            Some(Owner::Person(id)) => format!("person {}", person_label(inv, id)),
            None => String::new(),
        };
        let repositories: Vec<String> = app
            .repositories
            .iter()
            .map(|r| format!("<code>{}</code>", html_escape(r)))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td>{} <span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&app.name),
            html_escape(&app.id),
            html_escape(&owner),
            html_escape(app.classification.as_str()),
            repositories.join("<br>"),
            html_escape(&app.compliance.join(", ")),
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn person_label(inv: &Inventory, id: &str) -> String {
    match inv.people.get(id) {
        Some(p) if p.name != p.id => format!("{} ({})", p.name, p.id),
        _ => id.to_owned(),
    }
}

/// People listed in the team record plus people whose primary team it is.
fn member_count(inv: &Inventory, team: &str) -> usize {
    let team_record = inv.teams.get(team);
    let mut members: BTreeSet<&str> = team_record
        .into_iter()
        .flat_map(|t| t.members.iter().map(String::as_str))
        .collect();
    members.extend(
        inv.people
            .values()
            .filter(|p| p.team.as_deref() == Some(team))
            .map(|p| p.id.as_str()),
    );
    members.len()
}

fn login_page(error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>\n", html_escape(e)))
        .unwrap_or_default();
    layout(
        "aigov: sign in",
        &format!(
            "<h1>aigov</h1>\n<p>Paste an admin token to open the dashboard.</p>\n{error}\
<form method=\"post\" action=\"/login\">\
<label for=\"token\">Admin token</label><br>\
<input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" size=\"60\" required autofocus> \
<button type=\"submit\">Sign in</button></form>\n"
        ),
    )
}

pub(crate) async fn login_form() -> Response {
    no_store(login_page(None))
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    /// Missing counts as empty: the login page is shown again rather than a bare 422.
    #[serde(default)]
    token: String,
}

/// Signs in with an admin token; every attempt is an `authentication` entry in the ledger
/// (a failed one names no actor: the attempted token is never recorded).
pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    ClientOrigin(origin): ClientOrigin,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let token = form.token.trim();
    let name = if token.is_empty() {
        None
    } else {
        state.authenticate(token).await?
    };
    let (actor, outcome) = match &name {
        Some(name) => (name.as_str(), ledger::Outcome::Success),
        None => ("unknown", ledger::Outcome::Failure),
    };
    state
        .record(
            audit::Record::new(
                ledger::EntryKind::Authentication,
                "dashboard.login",
                actor,
                "dashboard",
                outcome,
            )
            .origin(origin),
        )
        .await?;
    if name.is_none() {
        return Ok(no_store((
            StatusCode::UNAUTHORIZED,
            login_page(Some("That token is not valid.")),
        )));
    }
    Ok(no_store((
        [(SET_COOKIE, auth::session_cookie(token))],
        Redirect::to("/"),
    )))
}

pub(crate) async fn logout() -> Response {
    no_store(([(SET_COOKIE, auth::clear_cookie())], Redirect::to("/login")))
}

#[cfg(test)]
mod tests {
    use super::html_escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            html_escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(html_escape("plain é"), "plain é");
    }
}
