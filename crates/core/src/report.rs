//! The IAM credential report: one CSV row for the root user and one per IAM user.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{Account, KeyStatus, LastUsed, User};
use crate::state::State;

/// The header line, exactly as AWS writes it.
pub const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

fn time(at: DateTime<Utc>) -> String {
    // The report writes offsets as +00:00, not Z.
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

struct KeyColumns {
    active: bool,
    rotated: String,
    last_used: Option<LastUsed>,
}

fn key_fields(columns: Option<KeyColumns>) -> [String; 5] {
    match columns {
        None => [
            "false".into(),
            "N/A".into(),
            "N/A".into(),
            "N/A".into(),
            "N/A".into(),
        ],
        Some(key) => {
            let (date, region, service) = match key.last_used {
                Some(used) => (time(used.at), used.region, used.service),
                None => ("N/A".into(), "N/A".into(), "N/A".into()),
            };
            [key.active.to_string(), key.rotated, date, region, service]
        }
    }
}

fn root_row(state: &State, account: &Account) -> String {
    let mut keys = state
        .access_keys
        .values()
        .filter(|k| k.account_id == account.id && k.owner == crate::model::KeyOwner::Root)
        .map(|k| KeyColumns {
            active: k.status == KeyStatus::Active,
            rotated: time(k.created),
            last_used: k.runtime.last_used(),
        })
        .collect::<Vec<_>>()
        .into_iter();
    let mut fields = vec![
        "<root_account>".to_string(),
        account.root_arn(),
        time(account.created),
        "not_supported".into(),
        "no_information".into(),
        "not_supported".into(),
        "not_supported".into(),
        "false".into(),
    ];
    fields.extend(key_fields(keys.next()));
    fields.extend(key_fields(keys.next()));
    fields.extend(["false", "N/A", "false", "N/A"].map(String::from));
    fields.join(",")
}

fn user_row(state: &State, user: &User) -> String {
    let mut keys = user
        .access_key_ids
        .iter()
        .filter_map(|id| state.access_keys.get(id))
        .map(|k| KeyColumns {
            active: k.status == KeyStatus::Active,
            rotated: time(k.created),
            last_used: k.runtime.last_used(),
        });
    let (enabled, last_used, changed, next_rotation) = match &user.login_profile {
        Some(profile) => (
            "true",
            "no_information".to_string(),
            time(profile.password_changed),
            state
                .password_expires(user)
                .map_or_else(|| "N/A".to_string(), time),
        ),
        None => (
            "false",
            "N/A".to_string(),
            "N/A".to_string(),
            "N/A".to_string(),
        ),
    };
    let mut fields = vec![
        user.name.clone(),
        user.arn(),
        time(user.created),
        enabled.to_string(),
        last_used,
        changed,
        next_rotation,
        (!user.mfa_serials.is_empty()).to_string(),
    ];
    fields.extend(key_fields(keys.next()));
    fields.extend(key_fields(keys.next()));
    fields.extend(["false", "N/A", "false", "N/A"].map(String::from));
    fields.join(",")
}

/// The report's CSV text for one account, users in name order.
pub fn render(state: &State, account: &Account) -> String {
    let mut out = String::from(HEADER);
    out.push('\n');
    out.push_str(&root_row(state, account));
    for user in state.users_of_account(&account.id, None) {
        out.push('\n');
        out.push_str(&user_row(state, user));
    }
    out
}
