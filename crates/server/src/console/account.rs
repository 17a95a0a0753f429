//! Account settings: the account id and the password policy console passwords follow.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Chrome, SignedIn, render};

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage<'a> {
    chrome: &'a Chrome,
}

/// `GET /console/account`. It shows nothing a signed-in person does not already know (the
/// account id is in every page's header, and every password they set follows the policy),
/// and latchkey has no GetAccountPasswordPolicy to authorize it with, so it asks for no
/// permission.
pub async fn show(signed_in: SignedIn) -> Response {
    render(
        StatusCode::OK,
        &AccountPage {
            chrome: &signed_in.chrome,
        },
    )
}
